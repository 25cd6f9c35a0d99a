"""The number of threads of the OpenBLAS libraries that numpy and scipy bring.

OpenBLAS runs every large enough product on all cores, and its threads spin while they wait
for work. When several threads of one process each call BLAS at once (skills calibrated in
threads, ``orchestration.irt.fitting.fit_skills``), or the machine's cores are busy with other
processes, the BLAS threads oversubscribe the cores: on two shared cores a 320 x 320 Cholesky
inverse took 4 s instead of milliseconds, and a skill's final pass 12 s instead of 3.

``blas_threads(n)`` limits both libraries to ``n`` threads for the duration of a block, through
OpenBLAS's own ``openblas_set_num_threads`` (what threadpoolctl calls), and restores the
previous number afterwards. The limit is process-wide: set it around the threads that share
the cores, not inside them. Where numpy or scipy use another BLAS (MKL, Accelerate) it does
nothing; the environment variables ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``, set before
numpy is imported, do the same for a whole process.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

# (directory next to the package holding its bundled OpenBLAS, symbol prefix, suffix)
_BUNDLED = (("numpy", "scipy_openblas", "64_"), ("scipy", "scipy_openblas", ""))


@cache
def _libraries() -> tuple[tuple[object, object], ...]:
    """(get, set) of each OpenBLAS bundled with numpy and scipy that could be loaded."""
    found = []
    for package, prefix, suffix in _BUNDLED:
        try:
            module = __import__(package)
        except ImportError:  # pragma: no cover - numpy and scipy are dependencies
            continue
        site = os.path.dirname(os.path.dirname(module.__file__))
        for path in glob.glob(os.path.join(site, f"{package}.libs", "*openblas*.so*")):
            try:
                lib = ctypes.CDLL(path)
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}")
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}")
            except (OSError, AttributeError):
                continue
            get.restype, set_.restype = ctypes.c_int, None
            set_.argtypes = [ctypes.c_int]
            found.append((get, set_))
    return tuple(found)


def blas_thread_counts() -> list[int]:
    """Current threads of each bundled OpenBLAS found (empty: none found)."""
    return [int(get()) for get, _ in _libraries()]


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit the bundled OpenBLAS libraries to ``n`` threads within the block (None or 0:
    leave them as they are)."""
    libraries = _libraries() if n else ()
    previous = [int(get()) for get, _ in libraries]
    for _, set_ in libraries:
        set_(int(n))
    try:
        yield
    finally:
        for (_, set_), count in zip(libraries, previous, strict=True):
            set_(count)
