"""When a skill's items are tested for DIF again, and the record of each skill's last test.

Drift (leaked answers) is tested on every run. DIF compares groups of learners over all of an
item's responses, and a day adds a few percent at most, so a daily run tests a skill's items
for DIF only when that can have changed: see :func:`dif_due`. The weekly_full_checks schedule
tests every skill (``full_item_health``).
"""

from __future__ import annotations

import duckdb
import numpy as np

from orchestration.irt.responses import ASSIGNED_RESPONSES
from orchestration.irt.settings import IrtSettings
from orchestration.irt.tables import insert_columns


def dif_due(
    con: duckdb.DuckDBPyConnection,
    skills: list[str],
    settings: IrtSettings,
    calibrated: list | None,
) -> tuple[set[str], dict[str, int]]:
    """The skills whose items are tested for DIF in this run, and every skill's responses.

    DIF compares groups over all of an item's responses, so a day's few more move it little:
    a skill is tested when it never was, when it was calibrated in this run (``calibrated``:
    the run's SkillRuns; None: every skill is due), when its settled responses grew by
    ``settings.dif_growth`` since its last test, or on ``settings.full_item_health``.
    """
    if calibrated is None:
        counts = dict(
            con.execute(
                f"select skill_id, count(*) from ({ASSIGNED_RESPONSES}) group by skill_id"
            ).fetchall()
        )
        return set(skills), counts
    counts = {run.skill_id: run.n_responses for run in calibrated}
    fitted = {run.skill_id for run in calibrated if run.iterations > 0}
    last = dict(con.execute("select skill_id, n_responses from irt.item_health_passes").fetchall())
    due = {
        skill
        for skill in skills
        if settings.full_item_health
        or skill in fitted
        or skill not in last
        or counts.get(skill, 0) >= last[skill] * (1.0 + settings.dif_growth)
    }
    return due, counts


def record_dif_passes(con, skills: list[str], counts: dict[str, int], stamp: dict) -> None:
    """irt.item_health_passes: the skills tested for DIF now, with their responses."""
    con.execute("delete from irt.item_health_passes where list_contains(?, skill_id)", [skills])
    if skills:
        insert_columns(
            con,
            "item_health_passes",
            {
                "skill_id": np.array(skills, dtype=object),
                "n_responses": np.array([counts.get(s, 0) for s in skills], dtype=np.int64),
                **{k: np.full(len(skills), v, dtype=object) for k, v in stamp.items()},
            },
        )
