"""Benchmark of irt_models.item_fit with and without S-X2.

Run from the repository root:

    .venv/bin/python benchmarks/item_fit.py           # about 3 minutes

Cases: a dense 20,000 x 30 2PL test; a sparse skill like the warehouse's largest (100,000
persons, 200 items, 20 items each) with 2PL items, and the same with 30% graded items of
4 categories. Each case runs in a fresh child process: it simulates, calibrates, then
times ``item_fit(..., sx2=False)`` and ``item_fit(...)`` (S-X2 on). ``S-X2 MB`` is the
peak of memory allocated during the ``item_fit`` call with S-X2 (EAP scoring included)
above what was allocated before it (tracemalloc, which numpy reports to); ``process MB``
the child's peak resident memory. The machine is shared: compare within one run. This
script prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "dense 2PL": dict(n_persons=20_000, n_items=30, model="2pl"),
    "sparse 2PL": dict(n_persons=100_000, n_items=200, model="2pl", items_per_person=20),
    "sparse mixed": dict(n_persons=100_000, n_items=200, model="mixed", items_per_person=20),
}


def child(name: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import irt_models as irt

    sim = irt.simulate(**CASES[name], seed=1)
    data = (sim.persons, sim.items, sim.responses)
    t0 = time.perf_counter()
    cal = irt.calibrate(*data, CASES[name]["model"], se=False)
    t1 = time.perf_counter()
    irt.item_fit(cal, *data, sx2=False)
    t2 = time.perf_counter()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t3 = time.perf_counter()
    fit = irt.item_fit(cal, *data)
    t4 = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {
        "responses": len(sim.responses),
        "calibrate": t1 - t0,
        "fit": t2 - t1,
        "fit_sx2": t4 - t3,
        "sx2_mb": peak / 2**20,
        "process_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reject": float(np.mean(fit.sx2_p[np.isfinite(fit.sx2_p)] < 0.05)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    header = ("case", "responses", "calibrate s", "item_fit s", "with S-X2 s", "S-X2 MB",
              "process MB", "p < .05")  # fmt: skip
    widths = (13, 10, 12, 11, 12, 8, 11, 8)
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)), flush=True)
    for name in CASES:
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", name],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        row = (name, r["responses"], f"{r['calibrate']:.1f}", f"{r['fit']:.1f}",
               f"{r['fit_sx2']:.1f}", f"{r['sx2_mb']:.0f}", f"{r['process_mb']:.0f}",
               f"{r['reject']:.3f}")  # fmt: skip
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)), flush=True)


if __name__ == "__main__":
    main()
