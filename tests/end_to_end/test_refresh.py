"""The whole refresh on generated data agrees with the generator's truth.

Runs the daily_refresh Dagster job three times on a small generated dataset whose last day is
held back: a first full refresh, a second with no new file, a third after the last day lands.
Checks what users rely on end to end: every landed row accounted for and rejected for the
injected reason; nothing changes without new files and new files add exactly their rows; IRT
abilities track the true abilities better than raw percent-correct; company rankings, learner
percentiles and recommendations agree with the truth; the serving file carries every mart.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from orchestration.settings import load_settings
from sample_data import generate
from tests.environment import refresh_environment

# Whole refreshes end to end: `make test` runs it, `pytest -m "not slow"` does not.
pytestmark = pytest.mark.slow

COMPANIES, LEARNERS, DAYS = 30, 4000, 45
MARTS = (
    "learner_skill_scores",
    "learner_skill_percentiles",
    "company_skill_benchmarks",
    "skill_gaps",
    "course_recommendations",
    "top_learners",
    "skill_gains",
    "learning_activity",
    "item_health",
)


def rank(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(float)


def spearman(a, b) -> float:
    return float(np.corrcoef(rank(np.asarray(a)), rank(np.asarray(b)))[0, 1])


def snapshot(warehouse: Path) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "accounting": con.execute(
                "select * from staging.stg_row_accounting order by entity"
            ).fetchall(),
            "abilities": dict(
                ((lrn, s), t)
                for lrn, s, t in con.execute(
                    "select learner_id, skill_id, theta from irt.learner_abilities"
                ).fetchall()
            ),
            "parameters": con.execute(
                "select skill_id, item_id, slope, difficulty from irt.item_parameters order by all"
            ).fetchall(),
            "ledger_files": con.execute("select count(*) from raw.load_ledger").fetchone()[0],
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def refreshes(tmp_path_factory, run_refresh):
    root = tmp_path_factory.mktemp("e2e")
    with refresh_environment(root):
        settings = load_settings()
        generate(
            out_dir=settings.landing_dir,
            truth_dir=root / "truth",
            companies=COMPANIES,
            learners=LEARNERS,
            days=DAYS,
            seed=3,
        )
        last_day = max(
            re.search(r"\d{4}-\d{2}-\d{2}", p.name).group()
            for p in settings.landing_dir.glob("attempts/*")
        )
        held_back = root / "held_back"
        held = []
        for path in sorted(settings.landing_dir.rglob(f"*_{last_day}*")):
            target = held_back / path.relative_to(settings.landing_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            held.append((path, target))

        run_refresh()
        first = snapshot(settings.warehouse)
        serving_bytes = settings.serving.stat().st_size
        run_refresh()
        second = snapshot(settings.warehouse)
        for path, target in held:
            shutil.move(target, path)
        run_refresh()
        third = snapshot(settings.warehouse)
        yield {
            "settings": settings,
            "truth": root / "truth",
            "first": first,
            "second": second,
            "third": third,
            "held": [p for p, _ in held],
            "serving_bytes": serving_bytes,
        }


@pytest.fixture(scope="module")
def con(refreshes):
    connection = duckdb.connect(str(refreshes["settings"].warehouse), read_only=True)
    truth = refreshes["truth"]
    connection.execute(
        f"create temp view true_abilities as select learner_id, company_id, skill_id, "
        f"theta_start::double as theta_start, theta_end::double as theta_end "
        f"from read_csv('{truth}/learner_skills.csv', all_varchar = true)"
    )
    connection.execute(
        f"create temp view true_items as select * "
        f"from read_csv('{truth}/items.csv', all_varchar = true)"
    )
    yield connection
    connection.close()


def test_rejected_rows_match_the_injected_faults_reason_by_reason(refreshes, con):
    faults = json.loads((refreshes["truth"] / "faults.json").read_text())
    for entity, reasons in faults["rejected"].items():
        got = dict(
            con.execute(
                f"select reject_reason, count(*) from staging.stg_{entity}_rejected group by all"
            ).fetchall()
        )
        assert got == reasons, entity
    accounting = {row[0]: row[1:] for row in refreshes["third"]["accounting"]}
    for entity, landed in faults["landed_rows"].items():
        n_landed, n_cleaned, n_superseded, n_rejected, n_duplicates = accounting[entity]
        assert n_landed == landed, entity
        assert n_landed == n_cleaned + n_superseded + n_rejected + n_duplicates, entity
        assert n_cleaned == faults["clean_rows"][entity], entity
        assert n_duplicates == faults["exact_duplicates"][entity], entity


def test_the_corrupt_file_is_in_the_ledger_with_its_error(refreshes, con):
    faults = json.loads((refreshes["truth"] / "faults.json").read_text())
    failed = con.execute(
        "select file_path, error from raw.load_ledger where status = 'failed'"
    ).fetchall()
    assert [path for path, _ in failed] == faults["corrupt_files"]
    assert faults["corrupt_files"][0] in failed[0][1]


def test_a_refresh_without_new_files_changes_nothing(refreshes):
    first, second = refreshes["first"], refreshes["second"]
    assert second["accounting"] == first["accounting"]
    assert second["abilities"] == first["abilities"]
    assert second["parameters"] == first["parameters"]
    assert second["ledger_files"] == first["ledger_files"]


def test_new_files_add_exactly_their_rows(refreshes):
    held_rows = {}
    for path in refreshes["held"]:
        entity = path.parent.name
        reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
        n = duckdb.sql(f"select count(*) from {reader}('{path}')").fetchall()[0][0]
        held_rows[entity] = held_rows.get(entity, 0) + n
    before = {row[0]: row[1] for row in refreshes["second"]["accounting"]}
    after = {row[0]: row[1] for row in refreshes["third"]["accounting"]}
    assert held_rows.get("attempts", 0) > 0
    for entity in after:
        assert after[entity] - before[entity] == held_rows.get(entity, 0), entity


def test_learners_without_new_attempts_keep_theta_across_refreshes(refreshes, con):
    second, third = refreshes["second"]["abilities"], refreshes["third"]["abilities"]
    last_day = con.execute("select max(submitted_at)::date from staging.stg_attempts").fetchone()
    movers = {
        r[0]
        for r in con.execute(
            "select distinct learner_id from staging.stg_attempts where submitted_at::date = ?",
            [last_day[0]],
        ).fetchall()
    }
    # Learners who answered an item calibrated (or re-flagged) in the third run are re-scored
    # too: their responses on it count now.
    before = {(s, i): p for s, i, *p in refreshes["second"]["parameters"]}
    changed_items = [i for s, i, *p in refreshes["third"]["parameters"] if before.get((s, i)) != p]
    movers |= {
        r[0]
        for r in con.execute(
            "select distinct learner_id from intermediate.int_irt_responses "
            "where list_contains(?, item_id)",
            [changed_items],
        ).fetchall()
    }
    stayers = [k for k in second if k[0] not in movers]
    assert stayers and all(third[k] == second[k] for k in stayers)
    assert any(third[k] != second[k] for k in second if k[0] in movers)


def test_anchored_item_parameters_are_identical_after_one_more_day(refreshes):
    before = {(s, i): (a, b) for s, i, a, b in refreshes["second"]["parameters"]}
    after = {(s, i): (a, b) for s, i, a, b in refreshes["third"]["parameters"]}
    anchored = [k for k, (a, _) in before.items() if a is not None and a > 0]
    assert len(anchored) > 100
    assert all(after[k] == before[k] for k in anchored)


def test_theta_tracks_true_ability_better_than_raw_percent_correct(con):
    rows = con.execute(
        """
        with raw_scores as (
            select learner_id, skill_id, avg(response / (n_categories - 1)) as percent_correct
            from intermediate.int_irt_responses where not is_candidate group by all
        )
        select abilities.skill_id, corr(abilities.theta, truth.theta_end),
               corr(raw_scores.percent_correct, truth.theta_end)
        from irt.learner_abilities as abilities
        join true_abilities as truth using (learner_id, skill_id)
        join raw_scores using (learner_id, skill_id)
        group by abilities.skill_id
        """
    ).fetchall()
    irt = np.array([r[1] for r in rows])
    raw = np.array([r[2] for r in rows])
    assert np.mean(irt) > np.mean(raw) + 0.1
    assert np.mean(irt > raw) >= 0.8


def test_company_rankings_follow_true_mean_ability(con):
    rows = con.execute(
        """
        select benchmarks.skill_id, benchmarks.company_score, avg(truth.theta_end)
        from marts.company_skill_benchmarks as benchmarks
        join true_abilities as truth
          on truth.company_id = benchmarks.company_id and truth.skill_id = benchmarks.skill_id
        where benchmarks.peer_group_type = 'all' and not benchmarks.is_suppressed
        group by benchmarks.skill_id, benchmarks.company_id, benchmarks.company_score
        """
    ).fetchall()
    by_skill: dict[str, list] = {}
    for skill, score, truth in rows:
        by_skill.setdefault(skill, []).append((score, truth))
    correlations = [
        spearman(*zip(*pairs, strict=True)) for pairs in by_skill.values() if len(pairs) >= 8
    ]
    assert correlations, "no skill with 8 unsuppressed companies"
    # About 15 companies per skill at this size: a rank correlation's standard error under
    # no association is about 0.27, so a median over the skills above 0.25 is well clear of it.
    assert np.median(correlations) > 0.25


def test_learner_percentiles_follow_true_ability_percentiles(con):
    rows = con.execute(
        """
        select percentiles.skill_id, percentiles.percentile, truth.theta_end
        from marts.learner_skill_percentiles as percentiles
        join true_abilities as truth using (learner_id, skill_id)
        where percentiles.peer_group_type = 'all' and percentiles.percentile is not null
        """
    ).fetchall()
    by_skill: dict[str, list] = {}
    for skill, percentile, truth in rows:
        by_skill.setdefault(skill, []).append((percentile, truth))
    correlations = [
        spearman(*zip(*pairs, strict=True)) for pairs in by_skill.values() if len(pairs) >= 30
    ]
    assert np.median(correlations) > 0.5


def test_company_recommendations_go_to_gaps_that_track_the_true_gaps(con):
    rows = con.execute(
        """
        with true_company as (
            select company_id, skill_id, avg(250 + 50 * theta_end) as true_score
            from true_abilities group by all
        ),
        recommended as (
            select distinct company_id, skill_id
            from marts.course_recommendations where recommendation_for = 'company'
        )
        select gaps.gap, gaps.target_score - true_company.true_score as true_gap,
               recommended.company_id is not null as is_recommended
        from marts.skill_gaps as gaps
        join true_company using (company_id, skill_id)
        left join recommended using (company_id, skill_id)
        where gaps.job_role is null and gaps.target_score is not null
          and gaps.gap is not null and not gaps.is_suppressed
        """
    ).fetchall()
    recommended = [r for r in rows if r[2]]
    assert recommended, "no company recommendation"
    assert all(gap > 0 for gap, _, _ in recommended)
    assert spearman([r[0] for r in rows], [r[1] for r in rows]) > 0.5


def test_no_peer_group_below_the_privacy_minimum_is_shown(con):
    shown_small = con.execute(
        """
        select count(*) from marts.company_skill_benchmarks
        where not is_suppressed and (peer_companies < 5 or n_learners < 5)
        """
    ).fetchone()[0]
    assert shown_small == 0


def test_the_serving_file_carries_every_mart(refreshes):
    serving = duckdb.connect(str(refreshes["settings"].serving), read_only=True)
    try:
        tables = {
            r[0]
            for r in serving.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            ).fetchall()
        }
        assert set(MARTS) <= tables
        assert serving.execute("select count(*) from marts.learner_skill_scores").fetchone()[0]
    finally:
        serving.close()
