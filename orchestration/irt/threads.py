"""Skills worked on in threads of this process: the pool the calibration and the group scores
share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from irt_models.blas import blas_threads
from orchestration.irt.settings import IrtSettings

T = TypeVar("T")


def map_skills(work: Callable[[str], T], skills: list[str], settings: IrtSettings) -> Iterator[T]:
    """``work(skill)`` for every skill, ``settings.workers`` at a time; results in the skills'
    order, as each is ready.

    ``work`` reads its own cursor (``con.cursor()``); the heavy numpy and scipy work releases
    the GIL. With more than one thread, OpenBLAS is limited to ``settings.worker_blas_threads``
    threads meanwhile (``irt_models.blas``): the workers already share the cores.
    """
    workers = max(1, min(settings.workers, len(skills)))
    blas = settings.worker_blas_threads if workers > 1 else None
    with blas_threads(blas), ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(work, skills)
