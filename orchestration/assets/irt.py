"""IRT assets: calibrate every skill and assign items to skills, then score every learner.

Thin wrappers over the ``orchestration.irt`` package: config in, one call, figures out as
metadata.
"""

import dataclasses
from datetime import UTC, datetime

import dagster as dg

from orchestration.assets.irt_health import HEALTH_CHECKS, health_results, health_specs
from orchestration.irt.calibration import (
    INFORMATION_GRID,
    MAX_PLAUSIBLE_DIFFICULTY,
    MAX_PLAUSIBLE_SLOPE,
    CalibrationSummary,
    calibrate_versions,
    run_calibration,
)
from orchestration.irt.item_health import run_item_health
from orchestration.irt.scoring import ScoringSummary, run_scoring
from orchestration.irt.settings import IrtSettings
from orchestration.irt.verification import ScoringCheck, verify_scoring
from orchestration.progress import progress_logger
from orchestration.resources import Warehouse

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
GROUPS = dg.AssetKey(["irt", "group_abilities"])
GAINS = dg.AssetKey(["irt", "company_gains"])
# The company attributes that define the peer groups of irt.group_abilities.
COMPANIES = dg.AssetKey(["staging", "stg_companies"])

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
    """Run options of the IRT stage (Launchpad or run config); defaults are IrtSettings'."""

    full_recalibration: bool = IrtSettings.full_recalibration
    keep_flagged_items: bool = IrtSettings.keep_flagged_items
    multiple_groups: bool = IrtSettings.multiple_groups
    min_item_responses: int = IrtSettings.min_item_responses
    min_assignment_responses: int = IrtSettings.min_assignment_responses
    sx2_max_learners: int = IrtSettings.sx2_max_learners
    dif_growth: float = IrtSettings.dif_growth
    full_item_health: bool = IrtSettings.full_item_health

    def settings(self) -> IrtSettings:
        return IrtSettings(**self.model_dump())


RUN_COLUMNS = [
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
]


def listing(what: str, names: list[str]) -> str:
    """A check's one-line description: how many, and which."""
    return f"{len(names)} {what}: {', '.join(names)}" if names else f"no {what}"


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
        *health_specs(UPSTREAM),
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
            description="No non-finite parameter; no unflagged item with a slope above "
            f"{MAX_PLAUSIBLE_SLOPE} or a difficulty beyond +/-{MAX_PLAUSIBLE_DIFFICULTY} logits.",
        ),
        dg.AssetCheckSpec(
            "flagged_items",
            asset=ITEM_PARAMETERS,
            blocking=False,
            description="Items flagged for too few responses, negative or low "
            "discrimination, or misfit; fails above "
            f"{MAX_FLAGGED_SHARE:.0%} of a skill's items.",
        ),
        *HEALTH_CHECKS,
    ],
    group_name="irt",
    pool="duckdb",
    name="irt_calibration",
)
def irt_calibration(context: dg.AssetExecutionContext, config: IrtConfig, warehouse: Warehouse):
    """Calibrate each skill (2PL for quizzes, graded response for assignments)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    fitter = warehouse.irt_fitter()
    with warehouse.irt_connect() as con:
        settings = config.settings()
        progress = progress_logger(context.log, "skills")
        summary = run_calibration(con, context.run.run_id, now, settings, progress, fitter)
        health = run_item_health(
            con,
            context.run.run_id,
            now,
            settings,
            progress_logger(context.log, "skills checked"),
            calibrated=summary.runs,
        )
        if health.versions:
            refit = health.items_to_refit()
            summary = calibrate_versions(con, summary, refit, settings, now, fitter)
    for run in summary.runs:
        context.log.info(
            f"{run.skill_id}: {run.run_type}, {run.n_items} items "
            f"({run.n_new_items} new), {run.n_responses} responses, "
            f"{run.iterations} iterations, {run.seconds:.1f} s"
        )
    yield from calibration_results(summary)
    yield from calibration_checks(summary)
    yield from health_results(health)


def calibration_results(summary: CalibrationSummary):
    runs = [dataclasses.asdict(run) for run in summary.runs]
    yield dg.MaterializeResult(
        asset_key=CALIBRATION_RUNS,
        metadata={
            "skills": len(summary.runs),
            "per_skill": skills_table(runs, RUN_COLUMNS),
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


def calibration_checks(summary: CalibrationSummary):
    not_converged = [r.skill_id for r in summary.runs if not r.converged]
    over_share = [s for s, share in summary.flagged_share.items() if share > MAX_FLAGGED_SHARE]
    yield dg.AssetCheckResult(
        check_name="calibration_converged",
        asset_key=CALIBRATION_RUNS,
        passed=not not_converged,
        description=listing("skills whose EM did not converge", not_converged),
        metadata={"not_converged": not_converged},
    )
    yield dg.AssetCheckResult(
        check_name="parameters_finite_and_plausible",
        asset_key=ITEM_PARAMETERS,
        passed=not summary.implausible,
        description=listing("implausible items", [f"{s}/{i}" for s, i in summary.implausible]),
        metadata={"items": [f"{s}/{i}" for s, i in summary.implausible]},
    )
    yield dg.AssetCheckResult(
        check_name="flagged_items",
        asset_key=ITEM_PARAMETERS,
        passed=not over_share,
        severity=dg.AssetCheckSeverity.WARN,
        description=listing(f"skills with over {MAX_FLAGGED_SHARE:.0%} items flagged", over_share),
        metadata={
            "flagged": dg.MetadataValue.md(
                "\n".join(f"- {s} / {i}: {f}" for s, i, f in summary.flagged) or "none"
            ),
            "skills_over_share": over_share,
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
        dg.AssetSpec(
            GROUPS,
            kinds=KINDS,
            deps=[ITEM_PARAMETERS, ASSIGNMENTS, COMPANIES, *UPSTREAM],
            description="Each company's and peer group's mean ability per skill, by marginal "
            "maximum likelihood from all its learners' responses, items fixed.",
        ),
        dg.AssetSpec(
            GAINS,
            kinds=KINDS,
            deps=[ITEM_PARAMETERS, ASSIGNMENTS, *UPSTREAM],
            description="Each company's gain per skill and gain period: the group mean of its "
            "learners active in the period at its start and now.",
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
    source = warehouse.irt_scoring_source()
    with warehouse.irt_connect() as con:
        progress = progress_logger(context.log, "skills")
        summary = run_scoring(con, context.run.run_id, now, config.settings(), progress, source)
        # The asset check: a sample re-scored from scratch equals what was stored.
        verified = verify_scoring(con, sample_per_skill=VERIFIED_PER_SKILL)
    yield from scoring_results(summary)
    yield from scoring_checks(summary, verified)


def scoring_results(summary: ScoringSummary):
    rescored = {r.skill_id: r.rescored for r in summary.per_skill}
    rows = [
        {**dataclasses.asdict(skill), "rescored": rescored.get(skill.skill_id, 0)}
        for skill in summary.abilities
    ]
    yield dg.MaterializeResult(
        asset_key=ABILITIES,
        metadata={
            "learner_skills": sum(skill.learners for skill in summary.abilities),
            "rescored": sum(rescored.values()),
            "per_skill": skills_table(
                rows, ["skill_id", "learners", "rescored", "reportable_share"]
            ),
        },
    )
    yield dg.MaterializeResult(asset_key=HISTORY, metadata={"rows": summary.history_rows})
    yield dg.MaterializeResult(
        asset_key=PERIOD_START,
        metadata={"period_end": str(summary.reference), "rows": summary.period_start_rows},
    )
    groups = summary.groups
    yield dg.MaterializeResult(
        asset_key=GROUPS, metadata={"rows": groups.groups, "seconds": round(groups.seconds, 2)}
    )
    yield dg.MaterializeResult(asset_key=GAINS, metadata={"rows": groups.gains})


def scoring_checks(summary: ScoringSummary, verified: ScoringCheck):
    low = [s.skill_id for s in summary.abilities if s.reportable_share < MIN_REPORTABLE_SHARE]
    yield dg.AssetCheckResult(
        check_name="scores_equal_rescoring",
        asset_key=ABILITIES,
        passed=not verified.mismatches,
        description=f"{len(verified.mismatches)} of {verified.n_checked} stored estimates differ "
        "from a re-scoring from scratch",
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
        description=listing(
            f"skills with under {MIN_REPORTABLE_SHARE:.0%} reportable learners",
            [
                f"{s.skill_id} ({s.reportable_share:.0%})"
                for s in summary.abilities
                if s.skill_id in low
            ],
        ),
        metadata={
            "skills_below": low,
            "shares": {s.skill_id: round(s.reportable_share, 3) for s in summary.abilities},
        },
    )
