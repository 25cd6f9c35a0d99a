"""Run options of the IRT stage."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestration.settings import project_vars


@dataclass(frozen=True)
class IrtSettings:
    """Choices of the IRT stage; every field is also a Dagster run-config option."""

    full_recalibration: bool = False
    quadrature: int = 61
    tol: float = 1e-4
    max_iter: int = 500
    # An item needs this many responses to be calibrated, and to be assigned a skill by data.
    min_item_responses: int = 30
    min_assignment_responses: int = 50
    # One latent distribution per entry level (multiple-group MML): learners choose courses
    # near their own level, so who answers which item depends on ability; within an entry
    # level it no longer does, and item parameters stay unbiased.
    multiple_groups: bool = True
    # Skills calibrated at once; numpy releases the GIL in the heavy parts.
    workers: int = 2
    # OpenBLAS threads while more than one skill is calibrated at once (irt_models/blas.py):
    # the workers already share the cores, and BLAS threads of each would oversubscribe them
    # (on two loaded cores a skill's 320 x 320 information inverse took 0.5-4 s with two BLAS
    # threads, milliseconds with one). 0 leaves BLAS as it is.
    worker_blas_threads: int = 1
    # Spark engine: a skill with more responses than this is too large for one executor task;
    # its E-step is spread over all executors (orchestration/spark/irt_stage.py).
    executor_max_responses: int = 20_000_000
    # S-X2 item fit of each fresh calibration, on at most this many of the skill's learners
    # (orchestration/irt/item_fit.py); 0: all of them.
    sx2_max_learners: int = 2000
    # Item health (orchestration/irt/item_health.py): responses an item needs in a group, and
    # in all other groups, to be tested for DIF; drift windows and the |z| that flags.
    dif_min_responses: int = 200
    drift_window_days: int = 7
    # Leaked answers make an item easier than in its earlier windows: z above this in a window
    # flags it. At S with 4 leaked items, 3.5 found all 4 within 5-9 days and flagged 2 of
    # 1,869 clean items; at M without leaks, 19 of 1,886 (1%).
    drift_threshold: float = 3.5
    drift_direction: str = "easier"
    # DIF is tested again for a skill once its responses grew by this share since its last
    # test (or it was calibrated in the run); drift is tested on every run. full_item_health
    # tests every skill (the weekly_full_checks schedule sets it).
    dif_growth: float = 0.05
    full_item_health: bool = False
    # Keep items that fail the DIF or drift checks in scoring and among the anchors (their
    # rows in irt.item_dif / irt.item_drift are still written).
    keep_flagged_items: bool = False
    # Days before the data's latest response at which as-of abilities are kept for gains: the
    # dbt var gain_periods (dbt_project.yml), which is their one home.
    gain_periods: tuple[int, ...] = field(
        default_factory=lambda: tuple(int(d) for d in project_vars()["gain_periods"])
    )
