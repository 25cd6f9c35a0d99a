"""How well item health finds the generator's known lies, and what flagging them is worth.

Usage (a warehouse refreshed from a sample generated with lies, for example):

    python -m sample_data --companies 200 --learners 20000 --days 90 --seed 7 \\
        --dif-items 8 --leaked-items 4 --out /tmp/fair/landing
    SKILLGAP_LANDING_DIR=/tmp/fair/landing SKILLGAP_WAREHOUSE=/tmp/fair/warehouse.duckdb \\
        ... python -m orchestration.refresh --skip-sample
    python benchmarks/item_fairness.py /tmp/fair/warehouse.duckdb /tmp/fair/truth

Prints: for each injected DIF item and country, whether it was tested (responses per group)
and its ETS class; the share of clean items flagged (DIF and drift); for each leaked item
the days from the leak to the end of the window that flagged it; and, in the DIF countries,
the mean error of the learners' percentiles against their true percentiles with the flagged
items left out of scoring (as the warehouse does) and kept (re-scored on a copy).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.irt.scoring import run_scoring  # noqa: E402
from orchestration.irt.settings import IrtSettings  # noqa: E402


def dif_detection(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        select truth.item_id, truth.country, truth.ets_class as injected,
               round(truth.expected_ets_delta, 2), dif.n_focal, dif.n_reference,
               round(dif.delta, 2), dif.ets_class, dif.is_flagged
        from truth_dif as truth
        left join irt.item_dif as dif
            on dif.item_id = truth.item_id and dif.grouping = 'country'
            and dif.focal_group = truth.country
        order by all
        """
    ).fetchall()
    print("injected DIF (item, country, class, true delta): tested n_focal/n_reference, "
          "estimated delta, class, flagged")  # fmt: skip
    for item, country, injected, delta, n_f, n_r, est, cls, flagged in rows:
        tested = f"{n_f}/{n_r}, {est}, {cls}, {flagged}" if n_f else "not tested"
        print(f"  {item} {country} {injected} {delta}: {tested}")
    c_rows = [r for r in rows if r[2] == "C" and r[4] is not None]
    big = [r for r in c_rows if r[4] >= 500 and r[5] >= 500]
    print(f"  C-level detected: {sum(r[7] == 'C' for r in c_rows)} of {len(c_rows)} tested "
          f"pairs; with >= 500 responses per group: {sum(r[7] == 'C' for r in big)} of "
          f"{len(big)}")  # fmt: skip
    clean = con.execute(
        """
        select count(distinct item_id) filter (where is_flagged), count(distinct item_id)
        from irt.item_dif where item_id not in (select item_id from truth_dif)
        """
    ).fetchone()
    print(f"  clean items flagged for DIF: {clean[0]} of {clean[1]} tested")


def drift_detection(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        select leaks.item_id, leaks.leak_day, min(drift.flagged_since)
        from truth_leaks as leaks
        left join irt.item_drift as drift on drift.item_id = leaks.item_id and drift.is_flagged
        group by all order by all
        """
    ).fetchall()
    print("leaked items: days from the leak to the end of the flagging window")
    for item, leak_day, since in rows:
        if since is None:
            print(f"  {item} leaked {leak_day}: not flagged")
            continue
        known = since + timedelta(days=7)
        days = (known - datetime.combine(leak_day, datetime.min.time())).days
        print(
            f"  {item} leaked {leak_day}: flagged since {since:%Y-%m-%d}, known {days} days after"
        )
    clean = con.execute(
        """
        select count(distinct (skill_id, item_id)) filter (where is_flagged),
               count(distinct (skill_id, item_id))
        from irt.item_drift where item_id not in (select item_id from truth_leaks)
        """
    ).fetchone()
    print(f"  clean items flagged for drift: {clean[0]} of {clean[1]}")


def percentile_error(path: Path, truth: Path) -> float:
    """Mean (estimated - true) percentile of the learners of the DIF countries, in the skills
    of the DIF items, among all learners of those skills."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            f"""
            with dif_skills as (
                select distinct skill_id, country
                from read_csv('{truth}/item_dif.csv')
            ),
            truth as (
                select learner_id, company_id, skill_id, theta_end
                from read_csv('{truth}/learner_skills.csv')
            ),
            ranked as (
                select abilities.learner_id, abilities.skill_id, companies.country,
                    percent_rank() over (partition by abilities.skill_id
                                         order by abilities.theta) as estimated,
                    percent_rank() over (partition by abilities.skill_id
                                         order by truth.theta_end) as actual
                from irt.learner_abilities as abilities
                join truth using (learner_id, skill_id)
                join read_csv('{truth}/companies.csv') as companies
                    on companies.company_id = truth.company_id
                where abilities.skill_id in (select skill_id from dif_skills)
            )
            select 100 * avg(estimated - actual)
            from ranked join dif_skills using (skill_id, country)
            """
        ).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("truth", type=Path)
    args = parser.parse_args()
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        for table, name in (("truth_dif", "item_dif"), ("truth_leaks", "item_leaks")):
            con.execute(f"create temp table {table} as from read_csv('{args.truth}/{name}.csv')")
        dif_detection(con)
        drift_detection(con)
    flagged = percentile_error(args.warehouse, args.truth)
    with tempfile.TemporaryDirectory() as tmp:
        kept = Path(tmp) / "kept.duckdb"
        shutil.copyfile(args.warehouse, kept)
        with duckdb.connect(str(kept)) as con, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            con.execute("update irt.item_parameters set flag = null where flag in ('dif', 'drift')")
            now = datetime.now()
            run_scoring(con, "kept", now, IrtSettings())
        unflagged = percentile_error(kept, args.truth)
    print("mean percentile error (estimated - true) of the DIF countries' learners in the DIF "
          f"skills: {flagged:+.2f} points with the flagged items left out, {unflagged:+.2f} with "
          "them kept")  # fmt: skip


if __name__ == "__main__":
    main()
