"""IRT in the warehouse: calibrate every skill, assign items to skills, score every learner.

Reads ``intermediate.int_irt_responses`` and writes the ``irt.*`` tables (declared in the dbt
source ``irt``, ``dbt_project/models/marts/_sources.yml``). The mathematics is in
``irt_models``; this package decides what to fit with what and keeps scales and scores stable
between runs. One module per job:

- ``tables``: the irt tables' schema (from the dbt source), reading and writing them;
- ``responses``: what a skill's responses are, and which learners changed;
- ``assignment``: which skill an item without its own skill_id assesses;
- ``calibration``: item parameters per skill on a stable scale;
- ``scoring``: learners' current abilities, period-start estimates and history;
- ``verification``: the stored estimates against a re-scoring from scratch;
- ``settings``: the run options.

Pure library over a DuckDB connection: no Dagster import; the assets in
``orchestration/assets/irt.py`` call it and attach the figures it returns as metadata.
"""
