"""The item-health outputs of the calibration asset: irt.item_dif, irt.item_drift,
irt.item_versions, their checks.

Item health runs inside ``irt_calibration`` (after the fit, before scoring) because its flags
change which items score: see orchestration/irt/item_health.py.
"""

from __future__ import annotations

import dagster as dg

from orchestration.irt.item_health import HealthSummary

ITEM_DIF = dg.AssetKey(["irt", "item_dif"])
ITEM_DRIFT = dg.AssetKey(["irt", "item_drift"])
ITEM_VERSIONS = dg.AssetKey(["irt", "item_versions"])
KINDS = {"python", "duckdb"}


def health_specs(deps: list) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            ITEM_DIF,
            kinds=KINDS,
            deps=deps,
            description="Differential item functioning per skill, item and group of learners "
            "(country, industry, company size) against all other learners, matched on "
            "ability: Mantel-Haenszel statistics and the ETS A/B/C class.",
        ),
        dg.AssetSpec(
            ITEM_DRIFT,
            kinds=KINDS,
            deps=deps,
            description="Each scoring item's observed against expected score per 7-day window "
            "under its stored parameters: where an item stopped behaving as calibrated.",
        ),
        dg.AssetSpec(
            ITEM_VERSIONS,
            kinds=KINDS,
            deps=deps,
            description="New versions of drifting items: their responses from the drift on, "
            "calibrated on their own (<item_id>~v<n>); kept across runs.",
        ),
    ]


HEALTH_CHECKS = [
    dg.AssetCheckSpec(
        "no_unfair_items",
        asset=ITEM_DIF,
        blocking=False,
        description="No item with C-class DIF against a group of learners (flagged 'dif' and "
        "left out of scoring and anchoring unless keep_flagged_items).",
    ),
    dg.AssetCheckSpec(
        "no_drifting_items",
        asset=ITEM_DRIFT,
        blocking=False,
        description="No item drifting from its stored parameters (unless keep_flagged_items, "
        "its responses from the drift on become a new version, calibrated on them alone).",
    ),
]


def health_results(health: HealthSummary):
    yield dg.MaterializeResult(
        asset_key=ITEM_DIF,
        metadata={"rows": health.dif_rows, "unfair_items": len(health.unfair)},
    )
    yield dg.MaterializeResult(
        asset_key=ITEM_DRIFT,
        metadata={"rows": health.drift_rows, "drifting_items": len(health.drifting)},
    )
    yield dg.MaterializeResult(
        asset_key=ITEM_VERSIONS,
        metadata={
            "opened": [
                f"{v.skill_id}/{v.version_id} from {v.valid_from:%Y-%m-%d}" for v in health.versions
            ]
        },
    )
    unfair = [f"{skill}/{item} ({groups})" for skill, item, groups in health.unfair]
    yield dg.AssetCheckResult(
        check_name="no_unfair_items",
        asset_key=ITEM_DIF,
        passed=not unfair,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(unfair)} items with C-class DIF: {', '.join(unfair)}"
        if unfair
        else "no item with C-class DIF",
        metadata={"items": unfair, "newly_flagged": health.newly_flagged},
    )
    drifting = [
        f"{skill}/{item} (since {since:%Y-%m-%d})" for skill, item, since in health.drifting
    ]
    yield dg.AssetCheckResult(
        check_name="no_drifting_items",
        asset_key=ITEM_DRIFT,
        passed=not drifting,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(drifting)} drifting items: {', '.join(drifting)}"
        if drifting
        else "no drifting item",
        metadata={"items": drifting},
    )
