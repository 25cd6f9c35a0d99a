"""Item health in the warehouse: an item unfair to one country, and an item whose answers leak,
are found and written to irt.item_dif / irt.item_drift; the unfair item is flagged and leaves
scoring and anchoring; the leaked item's responses from its drift on become a new version,
calibrated on them alone, and the item scores its earlier responses again."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime, timedelta
from types import SimpleNamespace

import duckdb
import numpy as np
import pytest

from orchestration.irt.calibration import calibrate_versions, run_calibration
from orchestration.irt.item_health import run_item_health, without_unhealthy_anchors
from orchestration.irt.responses import skill_responses
from orchestration.irt.scoring import run_scoring
from orchestration.irt.settings import IrtSettings
from orchestration.irt.tables import stored_calibration

START = datetime(2026, 6, 1)
COUNTRIES = ("DE", "FR", "IT")
UNFAIR, LEAKED = "item_00", "item_01"
VERSION = "item_01~v2"
LEAK_DAY, DAYS = 21, 42


def simulated_rows(seed: int = 5) -> list[tuple]:
    """3,000 learners in 6 companies of 3 countries, 15 of 30 2PL items each over 6 weeks.
    item_00 is 1.2 logits harder in DE; item_01 1.5 logits easier from day 21 on."""
    rng = np.random.default_rng(seed)
    n_learners, n_items = 3000, 30
    theta = rng.normal(0, 1, n_learners)
    slope = rng.lognormal(np.log(1.2), 0.15, n_items)
    difficulty = rng.normal(0, 0.8, n_items)
    rows = []
    for learner in range(n_learners):
        company = learner % 6
        country = COUNTRIES[company % 3]
        for item in rng.choice(n_items, size=15, replace=False):
            day = float(rng.uniform(0, DAYS))
            b = difficulty[item]
            b += 1.2 if item == 0 and country == "DE" else 0.0
            b -= 1.5 if item == 1 and day >= LEAK_DAY else 0.0
            p = 1 / (1 + np.exp(-slope[item] * (theta[learner] - b)))
            rows.append(
                ("alpha", f"L{learner:04d}", f"item_{item:02d}", f"C{company}", "quiz",
                 int(rng.random() < p), 2, START + timedelta(days=day), False, "beginner")
            )  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def calibrated_warehouse(tmp_path_factory, write_intermediate_module):
    """The simulated skill calibrated once (no item is flagged yet, so the calibration is the
    same whether flagged items are kept or not): a closed warehouse file each test copies, and
    the calibration's summary."""
    path = tmp_path_factory.mktemp("calibrated") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    items = [(f"item_{i:02d}", "alpha", 0, True) for i in range(30)]
    write_intermediate_module(con, simulated_rows(), items)
    con.execute("create schema if not exists staging")
    con.execute(
        "create table staging.stg_companies as select 'C' || i as company_id, "
        "['DE', 'FR', 'IT'][i % 3 + 1] as country, 'software' as industry, "
        "'51-200' as size_band from range(6) as t(i)"
    )
    now = START + timedelta(days=DAYS)
    calibrated = run_calibration(con, "run1", now, IrtSettings(multiple_groups=False))
    con.close()
    return path, calibrated


def copy_of(path, folder) -> duckdb.DuckDBPyConnection:
    copied = folder / "warehouse.duckdb"
    shutil.copyfile(path, copied)
    return duckdb.connect(str(copied))


@pytest.fixture(scope="module")
def health(tmp_path_factory, calibrated_warehouse):
    path, calibrated = calibrated_warehouse
    con = copy_of(path, tmp_path_factory.mktemp("health"))
    settings = IrtSettings(multiple_groups=False)
    now = START + timedelta(days=DAYS)
    summary = run_item_health(con, "run1", now, settings)
    # As the irt_calibration asset does: the new versions are calibrated in the same run.
    calibrate_versions(con, calibrated, summary.items_to_refit(), settings, now)
    yield con, summary, settings
    con.close()


def flags(con) -> dict[str, str]:
    return dict(
        con.execute(
            "select item_id, flag from irt.item_parameters where flag is not null"
        ).fetchall()
    )


def test_the_unfair_item_is_found_in_its_country_and_flagged(health):
    con, summary, _ = health
    assert [(s, i) for s, i, _ in summary.unfair] == [("alpha", UNFAIR)]
    assert "country=DE" in summary.unfair[0][2]
    row = con.execute(
        "select ets_class, delta, favoured from irt.item_dif "
        "where item_id = ? and grouping = 'country' and focal_group = 'DE'",
        [UNFAIR],
    ).fetchone()
    assert row[0] == "C" and row[1] < -1.5 and row[2] == "reference"
    assert flags(con)[UNFAIR] == "dif"


def test_the_leaked_item_drifts_from_its_leak_week_and_clean_items_do_not(health):
    con, summary, _ = health
    drifting = {item: since for _, item, since in summary.drifting}
    assert LEAKED in drifting
    assert (
        START + timedelta(days=LEAK_DAY - 7)
        <= drifting[LEAKED]
        <= START + timedelta(days=LEAK_DAY + 7)
    )
    assert len(drifting) <= 2  # the leak, and at most one false alarm among 29 clean items
    assert [
        (v.item_id, v.version_id, v.valid_from) for v in summary.versions if v.item_id == LEAKED
    ] == [(LEAKED, VERSION, drifting[LEAKED])]


def test_the_leaked_items_later_responses_are_a_new_version_calibrated_on_them(health):
    con, summary, _ = health
    since = con.execute(
        "select valid_from from irt.item_versions where version_id = ?", [VERSION]
    ).fetchone()[0]
    before, after = con.execute(
        "select count(*) filter (where submitted_at < $since), "
        "count(*) filter (where submitted_at >= $since) "
        "from intermediate.int_irt_responses where item_id = $item",
        {"since": since, "item": LEAKED},
    ).fetchone()
    data = skill_responses(con, "alpha")
    assert (data.items == LEAKED).sum() == before and (data.items == VERSION).sum() == after
    rows = {
        item: rest
        for item, *rest in con.execute(
            "select item_id, difficulty, n_responses, flag is null from irt.item_parameters "
            "where item_id in (?, ?)",
            [LEAKED, VERSION],
        ).fetchall()
    }
    assert rows[VERSION][1] == after and rows[VERSION][2] and rows[LEAKED][2]
    # The version is about 1.5 logits easier (the leak); the item, calibrated again on its
    # responses before the drift, has them all.
    assert -2.1 < rows[VERSION][0] - rows[LEAKED][0] < -0.9
    assert rows[LEAKED][1] == before
    scoring = stored_calibration(con, "alpha", scoring_only=True)
    assert {LEAKED, VERSION} <= set(scoring.items)


def test_flagged_items_leave_scoring_and_the_anchored_calibration(health):
    con, _, settings = health
    scoring = stored_calibration(con, "alpha", scoring_only=True)
    assert UNFAIR not in scoring.items
    data = skill_responses(con, "alpha")
    kept = without_unhealthy_anchors(data, stored_calibration(con, "alpha"), settings)
    assert set(np.unique(data.items)) - set(np.unique(kept.items)) == {UNFAIR}
    assert len(kept.groups) == kept.n  # design groups follow the responses
    run_scoring(con, "run1", START + timedelta(days=DAYS), settings)
    items_per_learner = con.execute(
        "select max(n_items) from irt.learner_abilities where skill_id = 'alpha'"
    ).fetchone()[0]
    assert items_per_learner <= 15  # 15 items each; the leaked item counts once (one version)


def test_keep_flagged_items_records_the_checks_without_flagging(tmp_path, calibrated_warehouse):
    con = copy_of(calibrated_warehouse[0], tmp_path)
    settings = IrtSettings(multiple_groups=False, keep_flagged_items=True)
    now = START + timedelta(days=DAYS)
    summary = run_item_health(con, "run1", now, settings)
    assert summary.unfair and summary.newly_flagged == 0
    assert not set(flags(con).values()) & {"dif", "drift"}


def test_a_second_run_checks_the_flagged_items_again_and_keeps_their_flags(health):
    """Flagged items no longer score, but they are still checked: the evidence and the flags
    stay while the items still fail (a flag follows the latest evidence). The leaked item,
    now only its responses before the leak, and its new version drift no more."""
    con, first, settings = health
    now = START + timedelta(days=DAYS)
    second = run_item_health(con, "run2", now, settings)
    assert [(s, i) for s, i, _ in second.unfair] == [(s, i) for s, i, _ in first.unfair]
    assert not {i for _, i, _ in second.drifting} & {LEAKED, VERSION}
    assert second.newly_flagged == 0 and second.versions == []
    assert flags(con)[UNFAIR] == "dif" and LEAKED not in flags(con)


def test_dif_is_tested_again_once_due_and_drift_on_every_run(health):
    """A daily run tests drift on every skill but DIF only where it is due: the skill's
    responses grew by dif_growth since its last test, it was calibrated in the run, or the
    weekly full checks ask; a skill not due keeps its DIF rows and its items' flags."""
    con, _, settings = health
    now = START + timedelta(days=DAYS)
    base = con.execute("select n_responses from irt.item_health_passes").fetchone()[0]
    # The run that last tested DIF (run1, or a run of an earlier test of this module).
    last_tested = con.execute("select distinct run_id from irt.item_dif").fetchall()

    def rerun(run_id, grown, iterations=0, full=False):
        ran = [SimpleNamespace(skill_id="alpha", n_responses=grown, iterations=iterations)]
        chosen = dataclasses.replace(settings, full_item_health=full)
        summary = run_item_health(con, run_id, now, chosen, calibrated=ran)
        tested = con.execute("select distinct run_id from irt.item_dif").fetchall()
        drift = con.execute("select distinct run_id from irt.item_drift").fetchall()
        assert drift == [(run_id,)]
        assert flags(con)[UNFAIR] == "dif"
        return summary.dif_skills, tested

    assert rerun("run3", int(base * 1.04)) == (0, last_tested)
    assert rerun("run4", int(base * 1.05) + 1) == (1, [("run4",)])
    passes = con.execute("select n_responses, run_id from irt.item_health_passes").fetchall()
    assert passes == [(int(base * 1.05) + 1, "run4")]
    assert rerun("run5", int(base * 1.05) + 1, iterations=12) == (1, [("run5",)])
    assert rerun("run6", int(base * 1.05) + 1, full=True) == (1, [("run6",)])


def test_item_health_is_the_same_with_skills_checked_in_parallel(
    tmp_path, write_intermediate_module
):
    """run_item_health's workers check skills on their own cursors (two at a time, as the
    calibration fits them): the DIF and drift rows equal one worker's, value for value."""
    rows = [r for r in simulated_rows(seed=9) if int(r[1][1:]) < 2000]
    rows += [("beta", learner, "b" + item, *rest) for _, learner, item, *rest in rows]
    items = [(f"{p}item_{i:02d}", skill, 0, True) for p, skill in (("", "alpha"), ("b", "beta"))
             for i in range(30)]  # fmt: skip
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    write_intermediate_module(con, rows, items)
    con.execute(
        "create schema staging; create table staging.stg_companies as select 'C' || i as "
        "company_id, ['DE', 'FR', 'IT'][i % 3 + 1] as country, 'software' as industry, "
        "'51-200' as size_band from range(6) as t(i)"
    )
    now = START + timedelta(days=DAYS)
    run_calibration(con, "run1", now, IrtSettings(multiple_groups=False))
    outcomes = []
    for workers in (1, 2):
        settings = IrtSettings(multiple_groups=False, keep_flagged_items=True, workers=workers)
        run_item_health(con, f"w{workers}", now, settings)
        outcomes.append(
            tuple(
                con.execute(
                    f"select * exclude (run_id, computed_at) from irt.{table} order by all"
                ).fetchall()
                for table in ("item_dif", "item_drift")
            )
        )
    dif, drift = outcomes[0]
    assert {row[0] for row in dif} == {row[0] for row in drift} == {"alpha", "beta"}
    assert outcomes[0] == outcomes[1]
