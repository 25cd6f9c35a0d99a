"""The generator's known lies: DIF items and leaked items, opt-in, recorded in the truth.

With ``dif_items`` and ``leaked_items`` the truth lists the chosen items
(``truth/item_dif.csv``, ``truth/item_leaks.csv``), and the landed responses show them: at
equal true ability (the residual of a first attempt against the 2PL of ``truth/items.csv`` and
the learner's ``theta_start``), the DIF items are answered worse in the focal countries and the
leaked items better after the leak, while the clean items show neither. Without them, the run
writes what it wrote before they existed.
"""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sample_data import generate

SIZE = {"companies": 60, "learners": 8000, "days": 30, "seed": 5, "start_date": "2026-02-02"}
LIES = {"dif_items": 4, "dif_countries": 2, "leaked_items": 3}
SMALL = {"companies": 8, "learners": 300, "days": 6, "seed": 3}


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _attempt_files(landing: Path, corrupt: list[str]) -> str:
    """One SQL union of every readable attempts file: ids, epoch seconds, score, number."""
    selects = []
    for path in sorted((landing / "attempts").iterdir()):
        if f"attempts/{path.name}" in corrupt:
            continue
        if path.suffix == ".csv":
            source = f"read_csv('{path}', all_varchar = true, header = true)"
        else:
            source = f"read_parquet('{path}')"
        columns = {c.lower() for c in duckdb.sql(f"select * from {source} limit 0").columns}
        number = "attempt_number::varchar" if "attempt_number" in columns else "null"
        selects.append(
            f"select item_id::varchar as item_id, learner_id::varchar as learner_id, "
            f"epoch(try_cast(submitted_at::varchar as timestamptz)) as submitted, "
            f"try_cast(score::varchar as double) as score, "
            f"try_cast({number} as integer) as attempt_number from {source}"
        )
    return " union all ".join(selects)


def _first_attempts(landing: Path, truth: Path):
    """Clean first attempts at quiz items with item, country, submitted (epoch) and residual.

    residual = score - P(correct) under the 2PL of items.csv at the learner's theta_start.
    """
    corrupt = json.loads((truth / "faults.json").read_text(encoding="utf-8"))["corrupt_files"]
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    rows = con.sql(f"""
        with attempts as ({_attempt_files(landing, corrupt)}),
        items as (select * from read_csv('{truth / "items.csv"}', all_varchar = true)),
        skills as (select * from read_csv('{truth / "learner_skills.csv"}', all_varchar = true)),
        companies as (select * from read_csv('{truth / "companies.csv"}', all_varchar = true))
        select a.item_id, c.country, a.submitted,
               a.score - 1 / (1 + exp(-i.slope::double
                   * (s.theta_start::double - i.difficulty::double))) as residual
        from attempts a
        join items i on i.item_id = a.item_id and i.item_type = 'quiz'
        join skills s on s.learner_id = a.learner_id and s.skill_id = i.skill_id
        join companies c on c.company_id = s.company_id
        where a.attempt_number = 1 and a.score in (0, 1) and a.submitted is not null
    """).fetchall()
    con.close()
    item, country, submitted, residual = (np.array(column) for column in zip(*rows, strict=True))
    return item, country, submitted.astype(float), residual.astype(float)


def _gap(residual: np.ndarray, group: np.ndarray) -> tuple[float, float]:
    """Mean residual in ``group`` minus outside it, and that difference's standard error."""
    inside, outside = residual[group], residual[~group]
    error = np.sqrt(inside.var() / len(inside) + outside.var() / len(outside))
    return float(inside.mean() - outside.mean()), float(error)


@pytest.fixture(scope="module")
def lying(tmp_path_factory):
    root = tmp_path_factory.mktemp("liars")
    generate(root / "landing", root / "truth", **SIZE, **LIES)
    return root


@pytest.fixture(scope="module")
def responses(lying):
    return _first_attempts(lying / "landing", lying / "truth")


def test_the_truth_lists_the_chosen_items(lying):
    dif = _csv(lying / "truth" / "item_dif.csv")
    leaks = _csv(lying / "truth" / "item_leaks.csv")
    items = {row["item_id"]: row for row in _csv(lying / "truth" / "items.csv")}
    dif_items = {row["item_id"] for row in dif}
    assert len(dif_items) == LIES["dif_items"] and len(dif) == 4 * LIES["dif_countries"]
    assert len({row["country"] for row in dif}) == LIES["dif_countries"]
    assert len(leaks) == LIES["leaked_items"] and not dif_items & {r["item_id"] for r in leaks}
    for row in dif:
        item = items[row["item_id"]]
        assert item["item_type"] == "quiz" and row["skill_id"] == item["skill_id"]
        assert row["slope"] == item["slope"]
        shift, slope = float(row["difficulty_shift_logits"]), float(row["slope"])
        assert float(row["log_odds_ratio"]) == pytest.approx(slope * shift, abs=1e-4)
        assert float(row["expected_ets_delta"]) == pytest.approx(-2.35 * slope * shift, abs=1e-3)
        size = abs(float(row["expected_ets_delta"]))
        assert row["ets_class"] == ("C" if size >= 1.5 else "B") and size >= 1.0
    assert {row["ets_class"] for row in dif} == {"B", "C"}
    for row in leaks:
        assert items[row["item_id"]]["item_type"] == "quiz"
        assert 1.0 <= float(row["difficulty_drop_logits"]) <= 1.5
        assert row["leaked_from"] == f"{row['leak_day']}T00:00:00Z"
        assert SIZE["start_date"] < row["leak_day"]


def test_dif_items_are_harder_in_the_focal_countries(lying, responses):
    item, country, _, residual = responses
    dif = _csv(lying / "truth" / "item_dif.csv")
    focal = np.isin(country, sorted({row["country"] for row in dif}))
    dif_items = sorted({row["item_id"] for row in dif})
    for item_id in dif_items:  # ~60 focal and ~100 other first attempts each: a sign and a size
        answered = item == item_id
        assert focal[answered].sum() >= 50 and (~focal[answered]).sum() >= 50
        gap, _ = _gap(residual[answered], focal[answered])
        assert gap < -0.05, (item_id, gap)
    lying = np.isin(item, dif_items)
    gap, error = _gap(residual[lying], focal[lying])
    assert gap < -0.1 and gap < -5 * error, (gap, error)
    gap, error = _gap(residual[~lying], focal[~lying])
    assert abs(gap) < 0.02 and abs(gap) < 3 * error, (gap, error)


def test_leaked_items_are_easier_after_the_leak(lying, responses):
    item, _, submitted, residual = responses
    leaks = _csv(lying / "truth" / "item_leaks.csv")
    clean = ~np.isin(item, [row["item_id"] for row in leaks])
    for row in leaks:
        moment = datetime.fromisoformat(row["leaked_from"].replace("Z", "+00:00"))
        leaked_from = moment.astimezone(UTC).timestamp()
        answered = item == row["item_id"]
        after = submitted[answered] >= leaked_from
        assert after.sum() >= 50 and (~after).sum() >= 50
        gap, error = _gap(residual[answered], after)
        # the clean items drift a little up over time (learners grow past theta_start)
        drift, _ = _gap(residual[clean], submitted[clean] >= leaked_from)
        assert abs(drift) < 0.03, drift
        assert gap - drift > 0.1 and gap - drift > 3 * error, (row["item_id"], gap, drift, error)


def test_the_world_is_the_same_with_lies(lying, tmp_path):
    """Items, companies and starting abilities; later draws (company sizes) may differ."""
    generate(tmp_path / "landing", tmp_path / "truth", **SIZE)
    plain, lied = tmp_path / "truth", lying / "truth"
    assert (plain / "items.csv").read_bytes() == (lied / "items.csv").read_bytes()
    for name, columns in (
        ("companies.csv", ("company_id", "industry", "country", "ability_offset")),
        ("learner_skills.csv", ("learner_id", "company_id", "skill_id", "theta_start")),
    ):
        rows = [
            [[row[column] for column in columns] for row in _csv(truth / name)]
            for truth in (plain, lied)
        ]
        assert rows[0] == rows[1], name
    assert not (tmp_path / "truth" / "item_dif.csv").exists()
    assert not (tmp_path / "truth" / "item_leaks.csv").exists()


def test_without_lies_nothing_changes(tmp_path):
    generate(tmp_path / "plain" / "landing", tmp_path / "plain" / "truth", **SMALL)
    none = {"dif_items": 0, "dif_countries": 3, "leaked_items": 0}
    generate(tmp_path / "zero" / "landing", tmp_path / "zero" / "truth", **SMALL, **none)
    assert _digest(tmp_path / "plain") == _digest(tmp_path / "zero")


def test_a_run_without_lies_removes_an_earlier_runs_lie_files(tmp_path):
    landing, truth = tmp_path / "landing", tmp_path / "truth"
    generate(landing, truth, **SMALL, dif_items=1, leaked_items=1)
    assert (truth / "item_dif.csv").is_file() and (truth / "item_leaks.csv").is_file()
    generate(landing, truth, **SMALL, leaked_items=1)
    assert not (truth / "item_dif.csv").exists() and (truth / "item_leaks.csv").is_file()
    generate(landing, truth, **SMALL)
    assert not (truth / "item_leaks.csv").exists()


def test_lies_are_deterministic_and_leaks_alone_work(tmp_path):
    for run in ("one", "two"):
        generate(tmp_path / run / "landing", tmp_path / run / "truth", **SMALL, leaked_items=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    assert (tmp_path / "one" / "truth" / "item_leaks.csv").is_file()
    assert not (tmp_path / "one" / "truth" / "item_dif.csv").exists()


@pytest.mark.parametrize(
    "lies",
    [
        {"dif_items": -1},
        {"dif_items": 1, "dif_countries": 0},
        {"dif_items": 1, "dif_countries": 99},
        {"dif_items": 10_000},
    ],
)
def test_impossible_lies_are_refused(tmp_path, lies):
    with pytest.raises(ValueError):
        generate(tmp_path / "landing", tmp_path / "truth", **SMALL, **lies)


def test_leaks_need_a_day_before(tmp_path):
    with pytest.raises(ValueError, match="2 days"):
        generate(tmp_path / "landing", tmp_path / "truth", **{**SMALL, "days": 1}, leaked_items=1)
