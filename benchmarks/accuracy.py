"""How close skillgap's estimates come to the generator's truth, at a named size.

Generates data (or reuses a warehouse already refreshed on it), runs the whole refresh through
the daily job, and prints, per skill and overall:

- the correlation of IRT theta with the true ability, against that of raw percent-correct
  (the selection effect in the data is what makes raw scores biased);
- item recovery: rank correlation of calibrated with true difficulty;
- skill assignment: share of items without skill_id assigned to their true skill, among those
  with 50 or more responses;
- company rankings: rank correlation of company_score with the companies' true mean ability;
- learner percentiles: rank correlation with true-ability percentiles (peer group all).

Prints figures, asserts nothing. Usage:

    .venv/bin/python benchmarks/accuracy.py --size S [--workdir /tmp/skillgap-accuracy]
    .venv/bin/python benchmarks/accuracy.py --reuse DIR   # DIR/warehouse.duckdb + DIR/truth
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    "XS": (40, 4_000, 45),
    "S": (200, 20_000, 90),
    "M": (1_000, 200_000, 90),
}


def refresh(workdir: Path, size: str, seed: int) -> None:
    companies, learners, days = SIZES[size]
    if workdir.exists():
        shutil.rmtree(workdir)
    env = {
        **os.environ,
        "SKILLGAP_LANDING_DIR": str(workdir / "landing"),
        "SKILLGAP_WAREHOUSE": str(workdir / "warehouse.duckdb"),
        "SKILLGAP_SERVING": str(workdir / "serving.duckdb"),
        "DAGSTER_HOME": str(workdir / "dagster_home"),
    }
    python = sys.executable
    subprocess.run(
        [
            python,
            "-m",
            "sample_data",
            "--companies",
            str(companies),
            "--learners",
            str(learners),
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--out",
            str(workdir / "landing"),
            "--truth",
            str(workdir / "truth"),
        ],
        check=True,
        cwd=ROOT,
        env=env,
    )
    started = time.perf_counter()
    subprocess.run(
        [python, "-m", "orchestration.refresh", "--skip-sample"],
        check=True,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    # kept for the reports that set other stages' time against the full refresh
    (workdir / "refresh_seconds.txt").write_text(f"{seconds:.1f}\n", encoding="utf-8")
    print(f"refresh at size {size}: {seconds:.0f} s")


def report(workdir: Path) -> None:
    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    truth = workdir / "truth"
    con.execute(
        "create temp view true_abilities as select learner_id, company_id, skill_id, "
        "theta_end::double as theta from "
        f"read_csv('{truth}/learner_skills.csv', all_varchar = true)"
    )
    con.execute(
        "create temp view true_items as select item_id, skill_id, "
        "difficulty::double as difficulty, skill_id_landed from "
        f"read_csv('{truth}/items.csv', all_varchar = true)"
    )
    per_skill = con.execute(
        """
        with raw_scores as (
            select learner_id, skill_id, avg(response / (n_categories - 1)) as percent_correct
            from intermediate.int_irt_responses where not is_candidate group by all
        ),
        learners as (
            select abilities.skill_id, corr(abilities.theta, truth.theta) as irt,
                   corr(raw_scores.percent_correct, truth.theta) as raw, count(*) as n
            from irt.learner_abilities as abilities
            join true_abilities as truth using (learner_id, skill_id)
            join raw_scores using (learner_id, skill_id)
            group by all
        ),
        reliability as (
            select skill_id, marginal_reliability from irt.calibration_runs
            qualify row_number() over (partition by skill_id order by started_at desc) = 1
        )
        select learners.skill_id, learners.n, learners.irt, learners.raw,
               reliability.marginal_reliability
        from learners
        left join reliability using (skill_id)
        order by learners.skill_id
        """
    ).fetchall()
    print(f"\n{'skill':<22}{'learners':>9}{'r(theta)':>10}{'r(raw %)':>10}{'reliab.':>9}")
    for skill, n, irt, raw, rel in per_skill:
        print(f"{skill:<22}{n:>9,}{irt:>10.3f}{raw:>10.3f}{(rel or float('nan')):>9.3f}")
    mean_irt = sum(r[2] for r in per_skill) / len(per_skill)
    mean_raw = sum(r[3] for r in per_skill) / len(per_skill)
    print(f"{'mean':<22}{'':>9}{mean_irt:>10.3f}{mean_raw:>10.3f}")

    item_r = con.execute(
        """
        with ranked as (
            select parameters.skill_id,
                   rank() over (partition by parameters.skill_id
                                order by parameters.difficulty) as estimate,
                   rank() over (partition by parameters.skill_id
                                order by truth.difficulty) as true_rank
            from irt.item_parameters as parameters
            join true_items as truth using (item_id)
            where parameters.flag is null
        )
        select median(r) from (select corr(estimate, true_rank) as r from ranked group by skill_id)
        """
    ).fetchone()[0]
    assignment = con.execute(
        """
        select count(*), avg((assignments.skill_id = truth.skill_id)::int)
        from irt.item_skill_assignments as assignments
        join true_items as truth using (item_id)
        where assignments.method = 'data' and assignments.n_responses >= 50
        """
    ).fetchone()
    unassigned = con.execute(
        "select count(*) from irt.item_skill_assignments where method = 'unassigned'"
    ).fetchone()[0]
    companies = con.execute(
        """
        with pairs as (
            select benchmarks.skill_id, benchmarks.company_score, avg(truth.theta) as truth
            from marts.company_skill_benchmarks as benchmarks
            join true_abilities as truth
              on truth.company_id = benchmarks.company_id
             and truth.skill_id = benchmarks.skill_id
            where benchmarks.peer_group_type = 'all' and not benchmarks.is_suppressed
            group by benchmarks.skill_id, benchmarks.company_id, benchmarks.company_score
        ),
        ranked as (
            select skill_id, rank() over (partition by skill_id order by company_score) as a,
                   rank() over (partition by skill_id order by truth) as b
            from pairs
        )
        select median(r), count(*) from (select corr(a, b) as r from ranked group by skill_id)
        """
    ).fetchone()
    percentiles = con.execute(
        """
        with ranked as (
            select percentiles.skill_id, percentiles.percentile,
                   rank() over (partition by percentiles.skill_id order by truth.theta) as b,
                   rank() over (partition by percentiles.skill_id
                                order by percentiles.percentile) as a
            from marts.learner_skill_percentiles as percentiles
            join true_abilities as truth using (learner_id, skill_id)
            where percentiles.peer_group_type = 'all' and percentiles.percentile is not null
        )
        select median(r) from (select corr(a, b) as r from ranked group by skill_id)
        """
    ).fetchone()[0]
    print()
    print(f"item difficulty, rank correlation with truth (median over skills): {item_r:.3f}")
    print(
        f"skill assignment by data, items with >= 50 responses: {assignment[0]} items, "
        f"{assignment[1]:.1%} correct; {unassigned} unassigned"
    )
    print(
        f"company ranking vs true mean ability (median Spearman over {companies[1]} skills): "
        f"{companies[0]:.3f}"
    )
    print(f"learner percentile vs true ability (median Spearman over skills): {percentiles:.3f}")
    con.close()


def run_report(description: str, workdir: Path, report) -> None:
    """The command line of an accuracy benchmark: refresh a sample at ``--size`` in
    ``--workdir`` (or ``--reuse`` one refreshed before), then ``report(directory)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=workdir)
    parser.add_argument("--reuse", type=Path, help="report on an already refreshed directory")
    args = parser.parse_args()
    if not args.reuse:
        refresh(args.workdir, args.size, args.seed)
    report(args.reuse or args.workdir)


if __name__ == "__main__":
    run_report(__doc__.splitlines()[0], Path("/tmp/skillgap-accuracy"), report)
