"""Company scores against the generator's truth: the old weighted mean and the group estimate.

For every company x skill with at least min_company_learners learners (the rows a dashboard
may show), prints the Spearman rank correlation per skill (median over skills) with the true
mean ability of the company's scored learners of:

- ``old``: the trimmed inverse-variance weighted mean of the reportable learners' EAPs (the
  company score before issue 25, recomputed here from irt.learner_abilities);
- ``new``: the group estimate of irt.group_abilities (irt_models.score_groups);
- ``mean EAP``: the plain mean of all scored learners' EAPs;
- ``ceiling``: the true mean of the reportable learners (what a perfect score of them reaches);

then the share of 95% intervals (estimate +- 1.96 theta_se, the marts' interval) that cover
the truth. The generator's scale is not the calibration's: the truth is put on each skill's
calibrated scale by mean/sigma linking, either on the persons (the true mean and SD of all the
skill's scored learners against the group estimate of the whole population, irt.group_abilities
'all': thousands of learners, so the constants carry almost no error; the like-with-like
comparison) or on the items (true against calibrated difficulties of the skill's own 2PL
items: about 100 items, whose estimation error shifts and stretches every company of a skill
together by about 0.06 logits, an error no company's interval can hold). The truth is the
learners' ability at the end of the data and, as the responses are spread over the period
while learners grow, also at its start. Last, the seconds the group estimate takes
(run_group_scoring again on a copy of the warehouse) and their share of the full refresh.
Prints figures, asserts nothing. Usage:

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

# Per skill, theta_calibrated = a * theta_true + b (mean/sigma on the skill's own unflagged
# 2PL items: an item scored under another skill is not on this skill's scale).
ITEM_LINK = """
    with truth as (
        select item_id, skill_id, difficulty::double as difficulty
        from read_csv($items, all_varchar = true) where difficulty <> ''
    )
    select parameters.skill_id,
        stddev(parameters.difficulty) / stddev(truth.difficulty) as a,
        avg(parameters.difficulty)
            - stddev(parameters.difficulty) / stddev(truth.difficulty) * avg(truth.difficulty)
    from irt.item_parameters as parameters
    join truth using (item_id, skill_id)
    where parameters.flag is null and parameters.model <> 'grm'
    group by parameters.skill_id
"""

# Per skill, the same on the persons: the true mean and SD of all the skill's scored learners
# against the group estimate of them all (irt.group_abilities, group_type 'all').
PERSON_LINK = """
    with truth as (
        select learner_id, skill_id, {column}::double as theta
        from read_csv($truth, all_varchar = true)
    ),
    learners as (
        select abilities.skill_id, truth.theta
        from irt.learner_abilities as abilities join truth using (learner_id, skill_id)
    )
    select learners.skill_id, any_value(everyone.sd) / stddev(learners.theta) as a,
        any_value(everyone.theta)
            - any_value(everyone.sd) / stddev(learners.theta) * avg(learners.theta) as b
    from learners
    join irt.group_abilities as everyone
        on everyone.skill_id = learners.skill_id and everyone.group_type = 'all'
    group by learners.skill_id
"""

PAIRS = """
    with truth as (
        select learner_id, skill_id, theta_end::double as theta,
            theta_start::double as theta_start
        from read_csv($truth, all_varchar = true)
    ),
    learners as (
        select abilities.company_id, abilities.skill_id, abilities.theta,
            abilities.n_items >= $min_items and abilities.theta_se <= $max_se as reportable,
            truth.theta as true_theta, truth.theta_start
        from irt.learner_abilities as abilities
        join truth using (learner_id, skill_id)
    ),
    per_company as (
        select company_id, skill_id, count(*) as n_all, avg(true_theta) as truth,
            avg(true_theta) filter (where reportable) as truth_reportable,
            avg(theta) as mean_eap, avg(theta_start) as truth_start
        from learners group by all
    )
    select per_company.skill_id, per_company.n_all, per_company.truth,
        per_company.truth_reportable, per_company.mean_eap, old.theta, old.se,
        new.theta, new.theta_se, coalesce(old.n, 0), per_company.truth_start, new.sample_se
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
        run_group_scoring(con, skills, reference, "bench", now, IrtSettings())
        seconds = time.perf_counter() - started
        con.close()
    return seconds


def links(con, workdir: Path) -> dict[str, dict[str, dict]]:
    """Per truth (end, start) and link (persons, items): skill -> (a, b)."""
    truth = str(workdir / "truth" / "learner_skills.csv")
    items = con.execute(ITEM_LINK, {"items": str(workdir / "truth" / "items.csv")}).fetchall()
    out = {}
    for name, column in (("end", "theta_end"), ("start", "theta_start")):
        persons = con.execute(PERSON_LINK.format(column=column), {"truth": truth}).fetchall()
        out[name] = {
            "persons": {s: (a, b) for s, a, b in persons},
            "items": {s: (a, b) for s, a, b in items},
        }
    return out


def print_coverage(skill, new, new_se, sample_se, truths, link) -> None:
    print(
        "95% intervals of the new score covering the true mean of the company's scored "
        "learners, linked to the calibrated scale:"
    )
    print(
        f"  {'truth at':<10}{'link on':<10}{'theta_se':>10}{'without items':>15}{'mean error':>12}"
    )
    for when, truth in truths.items():
        for on in ("persons", "items"):
            a, b = (np.array([link[when][on][s][k] for s in skill]) for k in (0, 1))
            linked = a * truth + b
            print(
                f"  {when:<10}{on:<10}{coverage(new, new_se, linked):>10.1%}"
                f"{coverage(new, sample_se, linked):>15.1%}{np.mean(new - linked):>+12.3f}"
            )


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
    link = links(con, workdir)
    con.close()
    skill = np.array([r[0] for r in rows])
    columns = (
        np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float)
        for k in range(1, 12)
    )
    n_all, truth, truth_rep, mean_eap, old, old_se, new, new_se, n_old, start, sample_se = columns
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
    print_coverage(skill, new, new_se, sample_se, {"end": truth, "start": start}, link)
    a, b = (np.array([link["end"]["persons"][s][k] for s in skill]) for k in (0, 1))
    print(
        f"  old score (pairs shown before, truth at end, link on persons): "
        f"{coverage(old[both], old_se[both], (a * truth + b)[both]):.1%}"
    )
    seconds = added_seconds(workdir / "warehouse.duckdb")
    refresh_file = workdir / "refresh_seconds.txt"
    share = ""
    if refresh_file.exists():
        total = float(refresh_file.read_text(encoding="utf-8"))
        share = f", {seconds / total:.1%} of the full refresh ({total:.0f} s)"
    print(f"group estimates (irt.group_abilities, irt.company_gains) take {seconds:.1f} s{share}")


if __name__ == "__main__":
    run_report(__doc__.split("\n")[0], Path("/tmp/skillgap-companies"), report)
