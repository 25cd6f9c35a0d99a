"""Sample landing data for skillgap, drawn from a known truth, with faults at known rates.

``python -m sample_data --companies 200 --learners 20000 --days 90 --seed 7`` writes one file
per entity per day into the landing folder (docs/landing-contract.md) and the truth it was
drawn from into a sibling ``truth/`` folder, which the landing scan never sees.

The world: companies in industries and countries whose mean ability differs; learners whose
true abilities per skill share a general and a domain factor; courses at three levels whose
items follow a 2PL (quizzes) or a graded response model (assignments, scored 0-10). Learners
pick courses near their own level, so raw percent-correct is biased and IRT is needed, and
they grow by completing courses. The files exercise what the contract allows (CSV and Parquet,
upper- and mixed-case headers, extra columns, UTC offsets, absent optional columns) and carry
faults with the reason codes of docs/interfaces.md, one fault per row, counted exactly in
``truth/faults.json`` so that for every entity
``landed_rows = clean_rows + superseded + sum(rejected) + exact_duplicates``.

Opt-in, it lies in known ways (``lies``): ``--dif-items`` quiz items are harder for learners
of the ``--dif-countries`` countries with the most learners (differential item functioning),
``--leaked-items`` get easier for everybody from a day on; ``truth/item_dif.csv`` and
``truth/item_leaks.csv`` record them. Without them nothing changes.

Output is byte-identical for a seed. Each day is simulated and written before the next one,
so memory grows with learners, not with attempts.

Modules, by job: ``world`` (companies, learners, skills and roles, and their changes),
``catalog`` (courses and items with their true parameters), ``behaviour`` (who enrolls,
attempts and answers what), ``lies`` (the opt-in DIF and leaked items), ``faults`` (injected
faults), ``formats`` (how values are spelled in files), ``writers`` and ``attempts`` (the
landing files), ``ledger`` (what landed where), ``truth`` (the truth files), ``generator`` (the
day-by-day run), ``__main__`` (the command).
"""

from sample_data.generator import DEFAULT_LEARNERS, DEFAULT_START, generate
from sample_data.ledger import ENTITIES
from sample_data.world import SEEDS_DIR

__all__ = ["DEFAULT_LEARNERS", "DEFAULT_START", "ENTITIES", "SEEDS_DIR", "generate"]
