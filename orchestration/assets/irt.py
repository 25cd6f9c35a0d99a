"""IRT assets: calibrate every skill and assign items to skills, then score every learner.

Thin wrappers over the ``orchestration.irt`` package: config in, one call, figures out as
metadata.
"""

import dataclasses
from datetime import UTC, datetime

import dagster as dg

from orchestration.irt.calibration import INFORMATION_GRID, run_calibration
from orchestration.irt.scoring import run_scoring
from orchestration.irt.settings import IrtSettings
from orchestration.irt.verification import verify_scoring
from orchestration.resources import Warehouse
from orchestration.settings import project_vars

UPSTREAM = [
    dg.AssetKey(["intermediate", "int_irt_responses"]),
    dg.AssetKey(["intermediate", "int_item_candidate_skills"]),
]
ITEM_PARAMETERS = dg.AssetKey(["irt", "item_parameters"])
CALIBRATION_RUNS = dg.AssetKey(["irt", "calibration_runs"])
ASSIGNMENTS = dg.AssetKey(["irt", "item_skill_assignments"])
ABILITIES = dg.AssetKey(["irt", "learner_abilities"])
HISTORY = dg.AssetKey(["irt", "learner_ability_history"])
PERIOD_START = dg.AssetKey(["irt", "learner_abilities_period_start"])

# Items flagged beyond this share of a skill's items fail the check: the skill's scale rests
# on too few well-behaved items.
MAX_FLAGGED_SHARE = 0.2
# Below this share of reportable learners, a skill's benchmarks show mostly suppressed rows.
MIN_REPORTABLE_SHARE = 0.5
# Learners per skill re-scored from scratch by the scores_equal_rescoring check: a few seconds
# at 10M responses, and any systematic slip of the incremental scoring shows in a sample.
VERIFIED_PER_SKILL = 300
# What the assets compute with, shown in the Dagster UI (kinds, not the legacy compute_kind).
KINDS = {"python", "duckdb"}


class IrtConfig(dg.Config):
    """Run options of the IRT stage (Launchpad or run config)."""

    full_recalibration: bool = False
    multiple_groups: bool = True
    min_item_responses: int = 30
    min_assignment_responses: int = 50

    def settings(self) -> IrtSettings:
        return IrtSettings(
            full_recalibration=self.full_recalibration,
            multiple_groups=self.multiple_groups,
            min_item_responses=self.min_item_responses,
            min_assignment_responses=self.min_assignment_responses,
        )


def skills_table(rows: list[dict], columns: list[str]) -> dg.MetadataValue:
    """A markdown table of per-skill figures for the Dagster UI."""

    def cell(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


BARS = " ▁▂▃▄▅▆▇█"


def information_chart(information: dict[str, list[float]]) -> dg.MetadataValue:
    """Test information per skill across theta as a text chart (one bar per grid point).

    Where the bars are high the skill's items measure precisely (SE ~ 1/sqrt(information));
    a skill whose bars fall off at the top needs harder items to tell strong learners apart.
    """
    peak = max((max(v) for v in information.values()), default=0.0) or 1.0
    lines = [
        f"Test information from theta {INFORMATION_GRID[0]:+.1f} to "
        f"{INFORMATION_GRID[-1]:+.1f} in steps of "
        f"{INFORMATION_GRID[1] - INFORMATION_GRID[0]:.1f} (bar height relative to {peak:.1f}):",
        "",
    ]
    for skill, values in sorted(information.items()):
        bars = "".join(BARS[round(v / peak * (len(BARS) - 1))] for v in values)
        best = INFORMATION_GRID[values.index(max(values))]
        lines.append(f"    {skill:<22} {bars}  max {max(values):5.1f} at {best:+.1f}")
    return dg.MetadataValue.md("\n".join(lines))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ITEM_PARAMETERS,
            kinds=KINDS,
            deps=UPSTREAM,
            description="Item slopes, difficulties and thresholds per skill, on the "
            "scale fixed by the first calibration; flags for items to review.",
        ),
        dg.AssetSpec(
            CALIBRATION_RUNS,
            kinds=KINDS,
            deps=UPSTREAM,
            description="One row per skill and run: sizes, EM iterations, convergence, "
            "log-likelihood, latent moments, marginal reliability, seconds.",
        ),
        dg.AssetSpec(
            ASSIGNMENTS,
            kinds=KINDS,
            deps=UPSTREAM,
            description="Which skill each item assesses, how that was decided, and the "
            "evidence for items assigned by data.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "calibration_converged",
            asset=CALIBRATION_RUNS,
            blocking=False,
            description="Every skill's EM converged.",
        ),
        dg.AssetCheckSpec(
            "parameters_finite_and_plausible",
            asset=ITEM_PARAMETERS,
            description="No non-finite parameter; no unflagged item with a slope above 10 or "
            "a difficulty beyond +/-8 logits.",
        ),
        dg.AssetCheckSpec(
            "flagged_items",
            asset=ITEM_PARAMETERS,
            blocking=False,
            description="Items flagged for too few responses, negative or low "
            "discrimination, or misfit; fails above "
            f"{MAX_FLAGGED_SHARE:.0%} of a skill's items.",
        ),
    ],
    group_name="irt",
    pool="duckdb",
    name="irt_calibration",
)
def irt_calibration(context: dg.AssetExecutionContext, config: IrtConfig, warehouse: Warehouse):
    """Calibrate each skill (2PL for quizzes, graded response for assignments)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with warehouse.connect() as con:
        summary = run_calibration(con, context.run.run_id, now, config.settings())
        absurd = con.execute(
            # Items flagged for low or negative discrimination have a difficulty that means
            # little (b = -d/a with a near 0); they are listed by the flagged_items check.
            "select skill_id, item_id, slope, difficulty from irt.item_parameters "
            "where slope is not null and (not isfinite(slope) or not isfinite(difficulty) "
            "or (flag is null and (abs(slope) > 10 or abs(difficulty) > 8)))"
        ).fetchall()
        flag_shares = con.execute(
            "select skill_id, avg((flag is not null)::int) from irt.item_parameters "
            "group by skill_id having avg((flag is not null)::int) > ?",
            [MAX_FLAGGED_SHARE],
        ).fetchall()
    for run in summary.runs:
        context.log.info(
            f"{run.skill_id}: {run.run_type}, {run.n_items} items "
            f"({run.n_new_items} new), {run.n_responses} responses, "
            f"{run.iterations} iterations, {run.seconds:.1f} s"
        )
    not_converged = [r.skill_id for r in summary.runs if not r.converged]
    table = skills_table(
        [dataclasses.asdict(run) for run in summary.runs],
        [
            "skill_id",
            "run_type",
            "n_learners",
            "n_items",
            "n_new_items",
            "n_responses",
            "iterations",
            "converged",
            "marginal_reliability",
            "seconds",
        ],
    )
    yield dg.MaterializeResult(
        asset_key=CALIBRATION_RUNS,
        metadata={
            "skills": len(summary.runs),
            "per_skill": table,
            "responses": sum(r.n_responses for r in summary.runs),
        },
    )
    yield dg.MaterializeResult(
        asset_key=ITEM_PARAMETERS,
        metadata={
            "items": sum(r.n_items for r in summary.runs),
            "flagged_items": len(summary.flagged),
            "test_information": information_chart(summary.information),
        },
    )
    yield dg.MaterializeResult(
        asset_key=ASSIGNMENTS,
        metadata={f"items_{method}": n for method, n in summary.assignments.items()},
    )
    yield dg.AssetCheckResult(
        check_name="calibration_converged",
        asset_key=CALIBRATION_RUNS,
        passed=not not_converged,
        metadata={"not_converged": not_converged},
    )
    yield dg.AssetCheckResult(
        check_name="parameters_finite_and_plausible",
        asset_key=ITEM_PARAMETERS,
        passed=not absurd,
        metadata={"items": [f"{s}/{i}" for s, i, _, _ in absurd]},
    )
    yield dg.AssetCheckResult(
        check_name="flagged_items",
        asset_key=ITEM_PARAMETERS,
        passed=not flag_shares,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "flagged": dg.MetadataValue.md(
                "\n".join(f"- {s} / {i}: {f}" for s, i, f in summary.flagged) or "none"
            ),
            "skills_over_share": [s for s, _ in flag_shares],
        },
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ABILITIES,
            kinds=KINDS,
            deps=[ITEM_PARAMETERS, ASSIGNMENTS, *UPSTREAM],
            description="Each learner's current ability per skill: EAP theta and its "
            "standard error on the skill's stable scale.",
        ),
        dg.AssetSpec(
            HISTORY,
            kinds=KINDS,
            deps=[ITEM_PARAMETERS, ASSIGNMENTS, *UPSTREAM],
            description="Each new estimate of a learner, as of the data's latest response "
            "when it was made: a log of abilities over time.",
        ),
        dg.AssetSpec(
            PERIOD_START,
            kinds=KINDS,
            deps=[ITEM_PARAMETERS, ASSIGNMENTS, *UPSTREAM],
            description="Each learner's ability as of each gain period's start, from the "
            "responses submitted by then, on the current item parameters.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "reportable_share",
            asset=ABILITIES,
            blocking=False,
            description="Share of learners per skill with enough evidence to "
            f"report; warns below {MIN_REPORTABLE_SHARE:.0%}.",
        ),
        dg.AssetCheckSpec(
            "scores_equal_rescoring",
            asset=ABILITIES,
            description=f"{VERIFIED_PER_SKILL} learners per skill re-scored from scratch "
            "equal their stored current and period-start estimates (to 1e-9): the "
            "incremental scoring missed no change.",
        ),
    ],
    group_name="irt",
    pool="duckdb",
    name="irt_scoring",
)
def irt_scoring(context: dg.AssetExecutionContext, config: IrtConfig, warehouse: Warehouse):
    """Score learners with new responses (EAP); others keep their theta exactly."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with warehouse.connect() as con:
        summary = run_scoring(con, context.run.run_id, now, config.settings())
        verified = verify_scoring(con, sample_per_skill=VERIFIED_PER_SKILL)
        shares = con.execute(
            "select skill_id, count(*) as learners, "
            "avg((n_items >= ? and theta_se <= ?)::int) as reportable_share "
            "from irt.learner_abilities group by skill_id order by skill_id",
            # The marts' reportability rule (dbt vars): the check warns about what BI sees.
            [project_vars()["min_items_reportable"], project_vars()["max_se_reportable"]],
        ).fetchall()
        history_rows = con.execute("select count(*) from irt.learner_ability_history").fetchone()
        period_rows = con.execute(
            "select count(*) from irt.learner_abilities_period_start"
        ).fetchone()
    low = [s for s, _, share in shares if share < MIN_REPORTABLE_SHARE]
    rows = [{"skill_id": s, "learners": n, "reportable_share": share} for s, n, share in shares]
    rescored = {r.skill_id: r.rescored for r in summary.per_skill}
    for row in rows:
        row["rescored"] = rescored.get(row["skill_id"], 0)
    yield dg.MaterializeResult(
        asset_key=ABILITIES,
        metadata={
            "learner_skills": sum(n for _, n, _ in shares),
            "rescored": sum(rescored.values()),
            "per_skill": skills_table(
                rows, ["skill_id", "learners", "rescored", "reportable_share"]
            ),
        },
    )
    yield dg.MaterializeResult(asset_key=HISTORY, metadata={"rows": history_rows[0]})
    yield dg.MaterializeResult(
        asset_key=PERIOD_START,
        metadata={
            "period_end": str(summary.reference),
            "rows": period_rows[0],
        },
    )
    yield dg.AssetCheckResult(
        check_name="scores_equal_rescoring",
        asset_key=ABILITIES,
        passed=not verified.mismatches,
        metadata={
            "checked": verified.n_checked,
            "mismatches": len(verified.mismatches),
            "examples": [str(m) for m in verified.mismatches[:10]],
        },
    )
    yield dg.AssetCheckResult(
        check_name="reportable_share",
        asset_key=ABILITIES,
        passed=not low,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"skills_below": low, "shares": {s: round(share, 3) for s, _, share in shares}},
    )
