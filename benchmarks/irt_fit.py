"""Benchmark of irt_models.calibrate / score against girth and the PyPI package mirt.

Run from the repository root:

    .venv/bin/python benchmarks/irt_fit.py            # everything, about 10-15 minutes
    .venv/bin/python benchmarks/irt_fit.py --skip-peers

Every fit runs in a fresh child process (its peak RSS is the memory column), on data the
parent simulates once and shares through .npy files. The peers are installed into their own
virtualenv, benchmarks/.peers-venv, on first use (they are peers, not dependencies); they
take a dense persons x items matrix, so they only run on the dense case. Their
log-likelihood is evaluated with irt_models.marginal_loglik at their estimates, on the same
61-point grid, so the column compares like with like. Timings are compared as ratios within
one run because the machine is shared. This script prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS_VENV = ROOT / "benchmarks" / ".peers-venv"
PEERS = ("girth", "mirt")


# --------------------------------------------------------------------------- child side
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(spec: dict) -> dict:
    data = Path(spec["data"])
    kind = spec["kind"]
    if kind in ("girth", "mirt"):
        X = np.load(data / "wide.npy")
        t0 = time.perf_counter()
        if kind == "girth":
            import girth

            r = girth.twopl_mml(X.T, {"quadrature_n": 61, "quadrature_bounds": (-6, 6)})
            a, b, iters = r["Discrimination"], r["Difficulty"], None
        else:
            from mirt import fit_mirt

            r = fit_mirt(X, "2PL", n_quadpts=61, compute_standard_errors=False)
            a = r.model.parameters["discrimination"].ravel()
            b = r.model.parameters["difficulty"].ravel()
            iters = getattr(r, "n_iterations", None)
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "iterations": iters, "slope": np.asarray(a).tolist(),
                "difficulty": np.asarray(b).tolist(), "peak_mb": _peak_mb()}  # fmt: skip

    sys.path.insert(0, str(ROOT))
    import irt_models as irt

    persons = np.load(data / "persons.npy")
    items = np.load(data / "items.npy")
    responses = np.load(data / "responses.npy")
    if kind == "calibrate":
        t0 = time.perf_counter()
        cal = irt.calibrate(persons, items, responses, "2pl", se=spec.get("se", True))
        seconds = time.perf_counter() - t0
        np.savez(data / "params.npz", slope=cal.slope, thresholds=cal.thresholds)
        return {"seconds": seconds, "iterations": cal.iterations, "loglik": cal.loglik,
                "converged": cal.converged, "peak_mb": _peak_mb()}  # fmt: skip
    if kind == "estep":
        from irt_models.estep import Design, estep
        from irt_models.models import log_probs
        from irt_models.quadrature import grid, log_weights

        p = np.load(data / "params.npz")
        theta = grid(61)
        d = -p["slope"] * p["thresholds"][:, 0]
        log_t = log_probs(p["slope"], d[:, None], theta).reshape(-1, 61)
        t0 = time.perf_counter()
        design = Design(persons, 2 * items + responses, persons.max() + 1, len(log_t), 61)
        build = time.perf_counter() - t0
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            estep(design, log_t, log_weights(theta, 0.0, 1.0))
            times.append(time.perf_counter() - t0)
        return {"seconds": min(times), "build": build, "peak_mb": _peak_mb()}
    if kind == "score":
        p = np.load(data / "params.npz")
        cal = irt.Calibration.from_parameters(
            np.arange(len(p["slope"])), "2pl", p["slope"], p["thresholds"]
        )
        t0 = time.perf_counter()
        s = irt.score(cal, persons, items, responses)
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "persons": len(s.theta), "peak_mb": _peak_mb()}
    raise ValueError(f"kind: unknown {kind!r}")


# -------------------------------------------------------------------------- parent side
def ensure_peers() -> Path:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PEERS_VENV} with {', '.join(PEERS)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        (PEERS_VENV / ".gitignore").write_text("*\n")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEERS], check=True)
    return python


def run_child(python: str, spec: dict) -> dict:
    env = dict(os.environ)
    out = subprocess.run(
        [python, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        check=True, capture_output=True, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_data(folder: Path, sim, wide: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "persons.npy", sim.persons.astype(np.int64))
    np.save(folder / "items.npy", sim.items.astype(np.int64))
    np.save(folder / "responses.npy", sim.responses.astype(np.int64))
    if wide:
        X = np.zeros((len(sim.theta), len(sim.slope)), dtype=np.int64)
        X[sim.persons, sim.items] = sim.responses
        np.save(folder / "wide.npy", X)


def fmt_row(cols, widths):
    return "  ".join(str(c).rjust(w) for c, w in zip(cols, widths, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--skip-peers", action="store_true", help="do not run girth and mirt")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    sys.path.insert(0, str(ROOT))
    import irt_models as irt

    me = sys.executable
    rows = []
    header = ["case", "program", "persons", "items", "responses", "seconds", "x fastest peer",
              "EM iter", "log-likelihood", "peak MB"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="irt-bench-") as tmp:
        tmp = Path(tmp)
        # 1. dense 20,000 x 200, 2PL, against the peers
        sim = irt.simulate(20_000, 200, "2pl", seed=1)
        d1 = tmp / "dense"
        write_data(d1, sim, wide=True)
        n = (20_000, 200, len(sim.responses))
        results = {}
        if not args.skip_peers:
            peer_python = str(ensure_peers())
            for peer in PEERS:
                print(f"running {peer} on the dense case ...", flush=True)
                r = run_child(peer_python, {"kind": peer, "data": str(d1)})
                cal = irt.Calibration.from_parameters(
                    np.arange(200), "2pl", r["slope"], np.asarray(r["difficulty"])
                )
                r["loglik"] = irt.marginal_loglik(cal, sim.persons, sim.items, sim.responses)
                results[peer] = r
        print("running irt_models on the dense case ...", flush=True)
        results["irt_models"] = run_child(me, {"kind": "calibrate", "data": str(d1)})
        results["irt_models (no SE)"] = run_child(
            me, {"kind": "calibrate", "data": str(d1), "se": False}
        )
        fastest = min((results[p]["seconds"] for p in PEERS if p in results), default=None)
        for name, r in results.items():
            ratio = f"{r['seconds'] / fastest:.3f}" if fastest else "-"
            rows.append(
                [
                    "dense 2PL",
                    name,
                    *n,
                    f"{r['seconds']:.1f}",
                    ratio,
                    r["iterations"] or "-",
                    f"{r['loglik']:.2f}",
                    f"{r['peak_mb']:.0f}",
                ]
            )

        # 2. sparse: 1,000,000 persons x 2,000 items, 10 responses each, and two smaller sizes
        growth = []
        for n_persons in (250_000, 500_000, 1_000_000):
            sim = irt.simulate(n_persons, 2000, "2pl", items_per_person=10, seed=3)
            d2 = tmp / f"sparse{n_persons}"
            write_data(d2, sim, wide=False)
            del sim
            print(f"running irt_models on {n_persons} persons (sparse) ...", flush=True)
            r = run_child(me, {"kind": "calibrate", "data": str(d2)})
            e = run_child(me, {"kind": "estep", "data": str(d2)})
            growth.append((n_persons * 10, r, e))
            rows.append(["sparse 2PL", "irt_models", n_persons, 2000, n_persons * 10,
                         f"{r['seconds']:.1f}", "-", r["iterations"], f"{r['loglik']:.1f}",
                         f"{r['peak_mb']:.0f}"])  # fmt: skip
            if n_persons == 1_000_000:
                print("scoring 1,000,000 persons (EAP) ...", flush=True)
                s = run_child(me, {"kind": "score", "data": str(d2)})
                rows.append(
                    [
                        "EAP scoring",
                        "irt_models",
                        s["persons"],
                        2000,
                        n_persons * 10,
                        f"{s['seconds']:.1f}",
                        "-",
                        "-",
                        "-",
                        f"{s['peak_mb']:.0f}",
                    ]
                )

    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    print(fmt_row(header, widths))
    for r in rows:
        print(fmt_row(r, widths))
    print()
    print("cost against the number of responses (sparse 2PL; E-step: best of 3, own process):")
    w = [10, 9, 8, 10, 22, 10, 20]
    print(fmt_row(["responses", "fit s", "EM iter", "E-step s", "E-step s / 1M resp.",
                   "build s", "build s / 1M resp."], w))  # fmt: skip
    for n_resp, r, e in growth:
        m = n_resp / 1e6
        print(fmt_row([n_resp, f"{r['seconds']:.1f}", r["iterations"], f"{e['seconds']:.2f}",
                       f"{e['seconds'] / m:.3f}", f"{e['build']:.2f}", f"{e['build'] / m:.3f}"],
                      w))  # fmt: skip


if __name__ == "__main__":
    main()
