"""The ledger of a sample run: what was landed where, and where every landed row must end up."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

ENTITIES = (
    "companies",
    "learners",
    "courses",
    "course_skills",
    "items",
    "enrollments",
    "attempts",
)


class Ledger:
    """Rows landed per entity, and each fault by reason, file and row (``truth/faults.json``)."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.landed: dict[str, int] = defaultdict(int)
        self.rejected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.exact: dict[str, int] = defaultdict(int)
        self.superseded: dict[str, int] = defaultdict(int)
        # (entity, source_file, row_number, key, reason): the rows of truth/fault_rows.csv
        self.fault_rows: list[tuple[str, str, str, str, str]] = []
        self.corrupt: list[str] = []
        self.files = 0

    def fault(self, entity: str, source_file: str, row_number: int, key: str, reason: str) -> None:
        if reason == "exact_duplicate":
            self.exact[entity] += 1
        else:
            self.rejected[entity][reason] += 1
        self.fault_rows.append((entity, source_file, str(row_number), key, reason))
