"""New versions of drifting items: from the window where an item started to drift (leaked
answers), its responses belong to a new item, ``<item_id>~v<version>``, calibrated on them
alone onto the skill's scale, while the item keeps its parameters for the responses before.

irt.item_versions holds the versions; ``responses.ASSIGNED_RESPONSES`` maps every response to
the version valid when it was submitted, so calibration, scoring, signatures and item health
all see the same items. The item is calibrated again on its responses before the drift (its
stored parameters had absorbed part of it) and scores them again; the version is calibrated on
those after, and checked for drift on its own from its first window. A version that drifts
again opens the next version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb


@dataclass(frozen=True)
class ItemVersion:
    skill_id: str
    item_id: str  # the landed item
    version_id: str
    version: int
    valid_from: datetime
    replaces: str  # the drifting item: the landed item or its previous version


def version_id(item_id: str, version: int) -> str:
    return f"{item_id}~v{version}"


def _latest_versions(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[str, int]]:
    """(skill, id in irt tables) -> (landed item, version) for every open version."""
    rows = con.execute(
        "select skill_id, version_id, item_id, version from irt.item_versions "
        "where valid_to is null"
    ).fetchall()
    return {(skill, vid): (item, version) for skill, vid, item, version in rows}


def open_versions(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> list[ItemVersion]:
    """Open a version for every item flagged 'drift' (irt.item_parameters) that is the latest
    of its line, valid from the start of its first drifting window (irt.item_drift); close
    the previous version; delete the item's parameters, so that the next calibration of the
    skill (``calibration.calibrate_versions`` in the same run) fits it again on its responses
    before the drift and the version on those after. Returns the versions opened."""
    drifting = con.execute(
        """
        select distinct drift.skill_id, drift.item_id, drift.flagged_since
        from irt.item_drift as drift
        join irt.item_parameters as parameters
            on parameters.skill_id = drift.skill_id and parameters.item_id = drift.item_id
        where drift.is_flagged and parameters.flag = 'drift' and drift.flagged_since is not null
        order by all
        """
    ).fetchall()
    latest = _latest_versions(con)
    versioned = {
        (skill, item)
        for skill, item in con.execute("select skill_id, item_id from irt.item_versions").fetchall()
    }
    opened = []
    for skill_id, drifting_id, since in drifting:
        if (skill_id, drifting_id) in latest:
            landed, previous = latest[(skill_id, drifting_id)]
        elif (skill_id, drifting_id) in versioned:
            continue  # an item whose later responses already belong to a version
        else:
            landed, previous = drifting_id, 1
        version = ItemVersion(
            skill_id, landed, version_id(landed, previous + 1), previous + 1, since, drifting_id
        )
        _record(con, version, run_id, now)
        opened.append(version)
    return opened


def _record(con: duckdb.DuckDBPyConnection, version: ItemVersion, run_id: str, now: datetime):
    con.execute(
        "update irt.item_versions set valid_to = $since "
        "where skill_id = $skill and item_id = $item and valid_to is null",
        {"since": version.valid_from, "skill": version.skill_id, "item": version.item_id},
    )
    con.execute(
        """
        insert into irt.item_versions
            (skill_id, item_id, version_id, version, valid_from, valid_to, reason, run_id,
             created_at)
        values ($skill, $item, $version_id, $version, $since, null, 'drift', $run_id, $now)
        """,
        {
            "skill": version.skill_id,
            "item": version.item_id,
            "version_id": version.version_id,
            "version": version.version,
            "since": version.valid_from,
            "run_id": run_id,
            "now": now,
        },
    )
    # The drifting item's parameters came from responses on both sides of the drift: they go,
    # and the item is calibrated again on its responses before it, with the version.
    con.execute(
        "delete from irt.item_parameters where skill_id = $skill and item_id = $item",
        {"skill": version.skill_id, "item": version.replaces},
    )
