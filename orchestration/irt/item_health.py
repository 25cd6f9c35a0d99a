"""Item health: is an item fair to every group of learners, and does it still behave as
calibrated? Differential item functioning (DIF) and drift, written to irt.item_dif and
irt.item_drift and, for the items that fail, as a flag in irt.item_parameters.

Runs at the end of each calibration, before scoring, on EAP thetas from each learner's
scoring responses under the stored parameters (the item under test included, common prior):

- DIF: for each grouping of learners by their company (country, industry, company_size) and
  each group with at least ``dif_min_responses`` responses on an item, the group (focal)
  against every other learner (reference), Mantel-Haenszel on the quiz items matched on ten
  quantile bands of theta (``irt_models.dif``), with a purified reference: a group with B- or
  C-class DIF on the item in a first pass is tested again without the groups that had C-class
  DIF in the same direction (two countries with the same problem would otherwise hide part of
  each other's DIF). Class
  C with a Benjamini-Hochberg adjusted p below 0.05 flags the item ``dif``.
- Drift: every scoring item's responses per ``drift_window_days`` window, observed against
  what its stored parameters predict at the learners' thetas, scaled to the other items of
  the window so that the learners' own growth cancels, and tested against the item's own
  earlier windows so that a misfit it has had all along cancels too
  (``irt_models.drift(relative=True, baseline=True)``): what is flagged is a change. An
  item whose z passes ``drift_threshold`` in ``drift_direction`` (default easier: leaked
  answers) in a window is flagged ``drift`` from then on.

A ``dif`` or ``drift`` flag takes the item out of scoring (``UNSCORED_FLAGS``) and out of the
anchors of later calibrations (its responses no longer enter them; its stored parameters are
kept), unless the run config sets ``keep_flagged_items``. Flagged items are checked again on
every run (on thetas from the items that score) and the flag follows the latest evidence: an
item that passes again scores again, and the response signatures re-score its learners. An
item that a fit flag (too few responses, negative slope) already keeps out is not flagged.
A drifting item then gets a new version for its responses from the drift on
(``item_versions``): the flag passes to the version, calibrated on them alone
(``calibration.calibrate_versions``), and the item scores its earlier responses again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np

import irt_models
from irt_models.data import label_codes
from orchestration.irt.health_due import dif_due, record_dif_passes
from orchestration.irt.item_versions import ItemVersion, open_versions
from orchestration.irt.responses import (
    ASSIGNED_RESPONSES,
    HEALTH_FLAGS,
    UNSCORED_FLAGS,
    SkillResponses,
    with_rows,
)
from orchestration.irt.settings import IrtSettings
from orchestration.irt.tables import insert_columns, stored_calibration
from orchestration.irt.threads import map_skills
from orchestration.progress import ProgressCallback, no_progress

# Items whose fit rules them out of scoring whatever their health; every other item with
# stored parameters is checked, those already flagged dif or drift included, so a flag
# follows the latest evidence.
UNFIT_FLAGS = tuple(flag for flag in UNSCORED_FLAGS if flag not in HEALTH_FLAGS)
CHECKED_ITEMS_WHERE = (
    "skill_id = $skill and slope > 0 and (flag is null or not list_contains($unfit, flag))"
)
GROUPINGS = {"country": "country", "industry": "industry", "company_size": "size_band"}
REFERENCE = irt_models.ALL_OTHERS
FLAG_BELOW_P = 0.05


@dataclass
class HealthSummary:
    """What one item-health run found."""

    dif_rows: int = 0
    drift_rows: int = 0
    # (skill_id, item_id, "grouping=group, ...") of items whose DIF flags them.
    unfair: list[tuple[str, str, str]] = field(default_factory=list)
    # (skill_id, item_id, flagged_since) of drifting items.
    drifting: list[tuple[str, str, datetime]] = field(default_factory=list)
    newly_flagged: int = 0
    # Skills whose items were tested for DIF in this run (dif_due).
    dif_skills: int = 0
    # New versions of the drifting items (their responses from the drift on).
    versions: list[ItemVersion] = field(default_factory=list)
    seconds: float = 0.0

    def items_to_refit(self) -> dict[str, list[str]]:
        """Per skill, the items the new versions ask to calibrate: each drifting item (its
        parameters were deleted) and its version (``calibration.calibrate_versions``)."""
        refit: dict[str, list[str]] = {}
        for version in self.versions:
            refit.setdefault(version.skill_id, []).extend([version.replaces, version.version_id])
        return refit


def skill_health_data(con: duckdb.DuckDBPyConnection, skill_id: str) -> dict:
    """The skill's responses on its scoring items, with each learner's company attributes
    (fetchnumpy columns), typed once for the scoring, DIF and drift tests that read them.
    Learners are integer codes in learner_id order (``learner``): the tests only match a
    learner's responses with their theta, and every sort and lookup on integers costs a
    fraction of one on the id strings (at M, string handling was most of a skill's scoring and
    drift test). Item ids are strings (``item_id``)."""
    groupings = ", ".join(f"companies.{column} as {name}" for name, column in GROUPINGS.items())
    data = con.execute(
        f"""
        select dense_rank() over (order by responses.learner_id) - 1 as learner,
               responses.item_id, responses.response,
               responses.submitted_at, {groupings}
        from ({ASSIGNED_RESPONSES}) as responses
        join (select item_id from irt.item_parameters where {CHECKED_ITEMS_WHERE}) as items
            on items.item_id = responses.item_id
        join staging.stg_companies as companies on companies.company_id = responses.company_id
        where responses.skill_id = $skill
        """,
        {"skill": skill_id, "unfit": list(UNFIT_FLAGS)},
    ).fetchnumpy()
    data["learner"] = np.asarray(data["learner"], dtype=np.int64)
    data["item_id"] = np.asarray(data["item_id"]).astype(str)
    return data


def skill_scores(data: dict, cal: irt_models.Calibration) -> irt_models.Scores:
    """EAP thetas from every scoring response, the item under test included, with the common
    prior: the matching criterion dif() asks for (a learner's stored theta may be missing or
    from older parameters)."""
    learners, items = data["learner"], data["item_id"]
    known = cal.index(items) >= 0
    scores = irt_models.score(cal, learners[known], items[known], data["response"][known])
    # Learners with responses only on items that do not score: the prior mean, as score() does.
    missing = np.setdiff1d(np.unique(learners), scores.persons)
    if not len(missing):
        return scores
    persons = np.concatenate([scores.persons, missing])
    order = np.argsort(persons)
    prior = np.full(len(missing), float(cal.latent_mean))
    return irt_models.Scores(
        persons[order],
        np.concatenate([scores.theta, prior])[order],
        np.concatenate([scores.se, np.full(len(missing), np.sqrt(cal.latent_var))])[order],
        np.concatenate([scores.n_items, np.zeros(len(missing), dtype=scores.n_items.dtype)])[order],
    )


def skill_dif(
    data: dict, skill_id: str, binary: np.ndarray, scores: irt_models.Scores, settings: IrtSettings
) -> list[dict]:
    """DIF columns of one skill: per grouping, every group with enough responses against all
    other learners, in one dif() call (Benjamini-Hochberg over the grouping's items and
    groups)."""
    learners = data["learner"]
    # Integer codes: dif() sorts persons and items; sorting strings would dominate the run.
    all_items, all_codes = label_codes(data["item_id"])
    tested = np.flatnonzero(np.isin(all_items, binary))
    keep = np.isin(all_codes, tested)
    if not keep.any():
        return []
    responses = np.asarray(data["response"])[keep]
    person_labels, persons = np.unique(learners[keep], return_inverse=True)
    # the kept responses' items, numbered among the tested ones (sorted, as all_items is)
    item_labels, item_codes = all_items[tested], np.searchsorted(tested, all_codes[keep])
    theta = scores.theta[np.searchsorted(scores.persons, person_labels)]
    parts = []
    for grouping in GROUPINGS:
        labels = np.asarray(data[grouping])[keep].astype(str)
        values, groups = label_codes(labels)
        counts = np.bincount(groups, minlength=len(values))
        enough = (counts >= settings.dif_min_responses) & (
            len(labels) - counts >= settings.dif_min_responses
        )
        if not enough.any():
            continue
        result = irt_models.dif(
            persons, item_codes, responses, groups,
            reference=None, focal=np.nonzero(enough)[0], method="mh", match="theta", theta=theta,
            purify=True,
            min_responses=settings.dif_min_responses,
        )  # fmt: skip
        parts.append(dif_columns(result, skill_id, grouping, item_labels, values))
    return parts


def dif_columns(
    result: irt_models.DIF,
    skill_id: str,
    grouping: str,
    item_labels: np.ndarray,
    group_labels: np.ndarray,
) -> dict[str, np.ndarray]:
    """The tested rows of one dif() result (items and groups as integer codes into the
    labels) as columns of irt.item_dif; items below the minimum have no statistic, no row."""
    tested = np.isfinite(result.statistic)
    n = int(tested.sum())
    ets = result.ets_class[tested]
    return {
        "skill_id": np.full(n, skill_id, dtype=object),
        "item_id": item_labels[result.item[tested].astype(np.int64)].astype(object),
        "grouping": np.full(n, grouping, dtype=object),
        "focal_group": group_labels[result.focal[tested].astype(np.int64)].astype(object),
        "reference_group": np.full(n, REFERENCE, dtype=object),
        "method": np.full(n, result.method, dtype=object),
        "n_reference": result.n_reference[tested],
        "n_focal": result.n_focal[tested],
        "statistic": result.statistic[tested],
        "p_value": result.p[tested],
        "p_adjusted": result.p_adjusted[tested],
        "odds_ratio": result.odds_ratio[tested],
        "delta": result.delta[tested],
        "delta_se": result.delta_se[tested],
        "ets_class": ets,
        "favoured": result.favoured[tested],
        "is_flagged": (ets == "C") & (result.p_adjusted[tested] < FLAG_BELOW_P),
    }


def skill_drift(
    data: dict,
    skill_id: str,
    cal: irt_models.Calibration,
    scores: irt_models.Scores,
    settings: IrtSettings,
) -> dict[str, np.ndarray]:
    """Drift columns of one skill: every scoring item, every window with responses."""
    times = np.asarray(data["submitted_at"]).astype("datetime64[us]")
    result = irt_models.drift(
        cal, data["learner"], data["item_id"], np.asarray(data["response"]),
        times, theta=scores,
        window=np.timedelta64(settings.drift_window_days, "D"),
        threshold=settings.drift_threshold, direction=settings.drift_direction,
        relative=True, baseline=True,
    )  # fmt: skip
    item, window = np.nonzero(result.n > 0)
    since = np.array(
        [
            np.datetime64("NaT") if t is None else np.datetime64(t, "us")
            for t in result.flagged_since
        ]
    ).astype("datetime64[us]")
    return {
        "skill_id": np.full(len(item), skill_id, dtype=object),
        "item_id": np.asarray(result.items)[item].astype(str).astype(object),
        "window_start": np.asarray(result.window_start).astype("datetime64[us]")[window],
        "n_responses": result.n[item, window],
        "observed": result.observed[item, window],
        "expected": result.expected[item, window],
        "z": result.z[item, window],
        "is_flagged": np.asarray(result.flagged, dtype=bool)[item],
        "flagged_since": since[item],
    }


def unhealthy_anchors(stored: irt_models.Calibration, settings: IrtSettings) -> np.ndarray:
    """The stored items flagged by item health (dif, drift), unless they are kept."""
    if settings.keep_flagged_items:
        return stored.items[:0]
    flags = np.array([flag or "" for flag in stored.flag], dtype=object)
    return stored.items[np.isin(flags, HEALTH_FLAGS)]


def without_unhealthy_anchors(
    data: SkillResponses, stored: irt_models.Calibration, settings: IrtSettings
) -> SkillResponses:
    """The responses without those of anchors flagged by item health (dif, drift): they no
    longer pull the latent distribution of an anchored calibration. The items stay among the
    fixed items, so their stored parameters and flags are carried into the result unchanged."""
    unhealthy = unhealthy_anchors(stored, settings)
    if not len(unhealthy):
        return data
    return with_rows(data, ~np.isin(data.items, unhealthy))


def run_item_health(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    now: datetime,
    settings: IrtSettings,
    progress: ProgressCallback = no_progress,
    calibrated: list | None = None,
) -> HealthSummary:
    """Test every skill's items for drift and the due skills' items for DIF (:func:`dif_due`),
    rewrite their rows of irt.item_drift and irt.item_dif; flag the items that fail."""
    started = time.perf_counter()
    skills = [
        row[0]
        for row in con.execute(
            "select distinct skill_id from irt.item_parameters order by skill_id"
        ).fetchall()
    ]
    due, counts = dif_due(con, skills, settings, calibrated)
    dif, drift = [], []
    progress(0, len(skills))

    def check(skill_id: str) -> tuple[list[dict], list[dict]]:
        cursor = con.cursor()
        data = skill_health_data(cursor, skill_id)
        cal = stored_calibration(cursor, skill_id)
        scoring = stored_calibration(cursor, skill_id, scoring_only=True)
        if not (len(data["response"]) and cal is not None and scoring is not None):
            return [], []
        scores = skill_scores(data, scoring)
        found = []
        if skill_id in due:
            found = skill_dif(data, skill_id, cal.items[cal.n_categories == 2], scores, settings)
        return found, [skill_drift(data, skill_id, cal, scores, settings)]

    # Skills two at a time, as the calibration fits them; rows in the skills' order.
    for done, (found, drifted) in enumerate(map_skills(check, skills, settings), 1):
        dif += found
        drift += drifted
        progress(done, len(skills))
    stamp = {"run_id": run_id, "computed_at": now}
    # Rows of skills no longer calibrated go; a skill not due keeps its DIF rows.
    for table in ("item_dif", "item_drift", "item_health_passes"):
        con.execute(f"delete from irt.{table} where not list_contains(?, skill_id)", [skills])
    replace_rows(con, "item_dif", dif, stamp, sorted(due))
    replace_rows(con, "item_drift", drift, stamp, skills)
    record_dif_passes(con, sorted(due), counts, stamp)
    summary = summarise_health(con)
    summary.dif_skills = len(due)
    if not settings.keep_flagged_items:
        summary.newly_flagged = flag_items(con)
        summary.versions = open_versions(con, run_id, now)
    summary.seconds = time.perf_counter() - started
    return summary


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    parts: list[dict[str, np.ndarray]],
    stamp: dict,
    skills: list[str],
) -> None:
    """Replace the rows of ``skills`` in ``irt.<table>`` with the column arrays of ``parts``,
    each row stamped with the constant columns of ``stamp``."""
    con.execute(f"delete from irt.{table} where list_contains(?, skill_id)", [skills])
    columns = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]} if parts else {}
    n = len(next(iter(columns.values()))) if columns else 0
    if n:
        stamped = {k: np.full(n, v, dtype=object) for k, v in stamp.items()}
        insert_columns(con, table, {**columns, **stamped})


def summarise_health(con: duckdb.DuckDBPyConnection) -> HealthSummary:
    summary = HealthSummary()
    summary.dif_rows = con.execute("select count(*) from irt.item_dif").fetchone()[0]
    summary.drift_rows = con.execute("select count(*) from irt.item_drift").fetchone()[0]
    summary.unfair = con.execute(
        "select skill_id, item_id, string_agg(grouping || '=' || focal_group, ', ' "
        "order by grouping, focal_group) from irt.item_dif where is_flagged "
        "group by all order by all"
    ).fetchall()
    summary.drifting = con.execute(
        "select distinct skill_id, item_id, flagged_since from irt.item_drift "
        "where is_flagged order by all"
    ).fetchall()
    return summary


def flag_items(con: duckdb.DuckDBPyConnection) -> int:
    """Set each checked item's health flag from this run's evidence: 'dif' or 'drift' when it
    fails (unless a fit flag already rules it out of scoring), no health flag when it passes.
    Returns how many items became flagged."""
    before = set(
        con.execute(
            "select skill_id, item_id from irt.item_parameters where flag in ('dif', 'drift')"
        ).fetchall()
    )
    con.execute(
        "update irt.item_parameters set flag = null where list_contains($health, flag)",
        {"health": list(HEALTH_FLAGS)},
    )
    for flag, table in (("drift", "item_drift"), ("dif", "item_dif")):
        con.execute(
            f"""
            update irt.item_parameters as parameters set flag = '{flag}'
            from (select distinct skill_id, item_id from irt.{table} where is_flagged) as failing
            where failing.skill_id = parameters.skill_id and failing.item_id = parameters.item_id
              and (parameters.flag is null or not list_contains($unfit, parameters.flag))
            """,
            {"unfit": list(UNFIT_FLAGS)},
        )
    after = set(
        con.execute(
            "select skill_id, item_id from irt.item_parameters where flag in ('dif', 'drift')"
        ).fetchall()
    )
    return len(after - before)
