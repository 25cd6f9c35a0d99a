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
    # Days before the data's latest response at which as-of abilities are kept for gains: the
    # dbt var gain_periods (dbt_project.yml), which is their one home.
    gain_periods: tuple[int, ...] = field(
        default_factory=lambda: tuple(int(d) for d in project_vars()["gain_periods"])
    )
