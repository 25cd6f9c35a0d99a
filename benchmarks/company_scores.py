"""Company scores against the generator's truth: the old weighted mean and the group estimate.

For every company x skill with at least min_company_learners learners (the rows a dashboard
may show), prints the Spearman rank correlation per skill (median over skills) with the true
mean ability of the company's scored learners of:

- ``old``: the trimmed inverse-variance weighted mean of the reportable learners' EAPs (the
  company score before issue 25, recomputed here from irt.learner_abilities);
- ``new``: the group estimate of irt.group_abilities (irt_models.score_groups);
- ``mean EAP``: the plain mean of all scored learners' EAPs;
- ``ceiling``: the true mean of the reportable learners (what a perfect score of them reaches);

then the share of 95% intervals (estimate +- 1.96 SE) that cover the truth, put on each
skill's calibrated scale by mean/sigma linking of the true to the calibrated difficulties of
its 2PL items (the generator's scale is not the calibration's), and the seconds
the group estimate takes (run_group_scoring again on a copy of the warehouse). Prints
figures, asserts nothing. Usage:

    .venv/bin/python benchmarks/company_scores.py --size S [--workdir /tmp/skillgap-companies]
    .venv/bin/python benchmarks/company_scores.py --reuse DIR   # DIR/warehouse.duckdb, DIR/truth
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.accuracy import run_report  # noqa: E402
from orchestration.irt.group_scoring import run_group_scoring  # noqa: E402
from orchestration.irt.responses import data_reference_time, skills_with_responses  # noqa: E402
from orchestration.irt.settings import IrtSettings  # noqa: E402
from orchestration.settings import project_vars  # noqa: E402

# The marts' company score before issue 25 (macro marts_trimmed_weighted_mean).
OLD_SCORES = """
    with reportable as (
        select company_id, skill_id, theta, greatest(theta_se, 0.01) as se
        from irt.learner_abilities where n_items >= {min_items} and theta_se <= {max_se}
    ),
    weighted as (
        select *, least(1 / (se * se), {cap} * median(1 / (se * se))
            over (partition by company_id, skill_id)) as w
        from reportable
    ),
    centred as (
        select *, sum(w * theta) over g / sum(w) over g as mean_theta
        from weighted window g as (partition by company_id, skill_id)
    )
    select company_id, skill_id, count(*) as n, any_value(mean_theta) as theta,
        sqrt(greatest(sum(w * w * se * se), case when count(*) > 1 then count(*) / (count(*) - 1.0)
            * sum(w * w * (theta - mean_theta) ^ 2) else 0 end)) / sum(w) as se
    from centred group by company_id, skill_id
"""

# Per skill, theta_calibrated = a * theta_true + b (mean/sigma on unflagged 2PL items).
LINK = """
    with truth as (
        select item_id, difficulty::double as difficulty
        from read_csv($items, all_varchar = true) where difficulty <> ''
    )
    select parameters.skill_id,
        stddev(parameters.difficulty) / stddev(truth.difficulty) as a,
        avg(parameters.difficulty)
            - stddev(parameters.difficulty) / stddev(truth.difficulty) * avg(truth.difficulty)
    from irt.item_parameters as parameters
    join truth using (item_id)
    where parameters.flag is null and parameters.model <> 'grm'
    group by parameters.skill_id
"""

PAIRS = """
    with truth as (
        select learner_id, skill_id, theta_end::double as theta
        from read_csv($truth, all_varchar = true)
    ),
    learners as (
        select abilities.company_id, abilities.skill_id, abilities.theta,
            abilities.n_items >= $min_items and abilities.theta_se <= $max_se as reportable,
            truth.theta as true_theta
        from irt.learner_abilities as abilities
        join truth using (learner_id, skill_id)
    ),
    per_company as (
        select company_id, skill_id, count(*) as n_all, avg(true_theta) as truth,
            avg(true_theta) filter (where reportable) as truth_reportable,
            avg(theta) as mean_eap
        from learners group by all
    )
    select per_company.skill_id, per_company.n_all, per_company.truth,
        per_company.truth_reportable, per_company.mean_eap, old.theta, old.se,
        new.theta, new.theta_se, coalesce(old.n, 0)
    from per_company
    join irt.group_abilities as new
        on new.group_type = 'company' and new.group_value = per_company.company_id
        and new.skill_id = per_company.skill_id
    left join old_scores as old
        on old.company_id = per_company.company_id and old.skill_id = per_company.skill_id
    where new.n_learners >= $min_learners
"""


def median_spearman(skill: np.ndarray, estimate: np.ndarray, truth: np.ndarray) -> float:
    values = []
    for s in np.unique(skill):
        keep = (skill == s) & np.isfinite(estimate) & np.isfinite(truth)
        if keep.sum() >= 5:
            values.append(spearmanr(estimate[keep], truth[keep]).statistic)
    return float(np.median(values))


def coverage(estimate, se, truth) -> float:
    keep = np.isfinite(estimate) & np.isfinite(se)
    return float(np.mean(np.abs(estimate[keep] - truth[keep]) <= 1.96 * se[keep]))


def added_seconds(warehouse: Path) -> float:
    """run_group_scoring once more, on a copy of the warehouse."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(warehouse, copy)
        con = duckdb.connect(str(copy))
        reference = data_reference_time(con)
        skills = skills_with_responses(con)
        now = datetime.now(UTC).replace(tzinfo=None)
        started = time.perf_counter()
        run_group_scoring(con, skills, reference, IrtSettings().gain_periods, "bench", now)
        seconds = time.perf_counter() - started
        con.close()
    return seconds


def report(workdir: Path) -> None:
    v = project_vars()
    con = duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True)
    params = {
        "min_items": v["min_items_reportable"],
        "max_se": v["max_se_reportable"],
        "cap": v["weight_cap_ratio"],
    }
    con.execute("create temp view old_scores as " + OLD_SCORES.format(**params))
    rows = con.execute(
        PAIRS,
        {
            "min_items": params["min_items"],
            "max_se": params["max_se"],
            "truth": str(workdir / "truth" / "learner_skills.csv"),
            "min_learners": v["min_company_learners"],
        },
    ).fetchall()
    items = str(workdir / "truth" / "items.csv")
    link = {s: (a, b) for s, a, b in con.execute(LINK, {"items": items}).fetchall()}
    con.close()
    skill = np.array([r[0] for r in rows])
    n_all, truth, truth_rep, mean_eap, old, old_se, new, new_se, n_old = (
        np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float)
        for k in range(1, 10)
    )
    a, b = (np.array([link[s][k] for s in skill]) for k in (0, 1))
    linked = a * truth + b
    shown_old = n_old >= v["min_company_learners"]
    print(
        f"company x skill pairs with >= {v['min_company_learners']} learners: {len(rows)} "
        f"(median {np.median(n_all):.0f} learners; {int(shown_old.sum())} shown before)"
    )
    print(
        "rank correlation with the true mean of the company's scored learners "
        "(Spearman per skill, median over skills):"
    )
    for name, estimate in (
        ("old: weighted mean of reportable EAPs", np.where(shown_old, old, np.nan)),
        ("new: group estimate (score_groups)", new),
        ("plain mean of all learners' EAPs", mean_eap),
        ("true mean of the reportable learners", truth_rep),
    ):
        print(f"  {name:<42}{median_spearman(skill, estimate, truth):.3f}")
    both = shown_old
    print(
        f"  same pairs as old ({int(both.sum())}): old "
        f"{median_spearman(skill[both], old[both], truth[both]):.3f}, new "
        f"{median_spearman(skill[both], new[both], truth[both]):.3f}"
    )
    print("95% intervals covering the true mean (linked to the calibrated scale):")
    print(
        f"  old {coverage(old[both], old_se[both], linked[both]):.1%} (pairs shown before), "
        f"new {coverage(new, new_se, linked):.1%} (all pairs), "
        f"new {coverage(new[both], new_se[both], linked[both]):.1%} (pairs shown before)"
    )
    print(
        f"  mean error: new {np.mean(new - linked):+.3f}, "
        f"old {np.mean((old - linked)[both]):+.3f} (logits)"
    )
    print(
        f"group estimates (irt.group_abilities, irt.company_gains) take "
        f"{added_seconds(workdir / 'warehouse.duckdb'):.1f} s"
    )


if __name__ == "__main__":
    run_report(__doc__.split("\n")[0], Path("/tmp/skillgap-companies"), report)
