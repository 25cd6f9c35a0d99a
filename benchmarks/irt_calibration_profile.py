"""Where a skill's calibration spends its time, on a warehouse's own responses.

Run from the repository root on a refreshed warehouse (read only):

    .venv/bin/python benchmarks/irt_calibration_profile.py WAREHOUSE.duckdb
    .venv/bin/python benchmarks/irt_calibration_profile.py WAREHOUSE.duckdb --skills 3 --all

For the ``--skills`` largest skills (by responses) it fits each the way a full refresh does
(``calibrate_responses`` with the default IrtSettings: a free mixed 2PL/graded fit with
multiple groups by entry level) and prints: the fit's seconds and EM iterations, the shares of
E-step, M-step, group (or single-population) latent updates, SQUAREM's convergence checks and
the rest of EM, the final pass (log-likelihood, item fit, standard errors) and the set-up
(coding, layout); the S-X2 seconds (``sampled_sx2``); the same fit with ``multiple_groups``
off; and two fits run one after the other in one thread against the same two at once in two
threads, as ``fit_skills`` runs them (seconds summed over threads, and the wall clock).
``--all`` fits every skill of the warehouse as ``fit_skills`` does (fit and S-X2 per skill,
``--workers`` threads, with the BLAS limit it sets) and prints seconds per skill and summed.
The BLAS thread settings are printed first: two threads that each call a multithreaded BLAS
on two cores oversubscribe them.

The machine is shared: compare ratios within one run. It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

import irt_models.em as em  # noqa: E402
from orchestration.irt.fitting import calibrate_responses  # noqa: E402
from orchestration.irt.item_fit import sampled_sx2  # noqa: E402
from orchestration.irt.responses import RESPONSES, skill_responses  # noqa: E402
from orchestration.irt.settings import IrtSettings  # noqa: E402

PHASES = ("estep", "mstep", "latent", "checks", "em other", "final pass", "set-up")


# --------------------------------------------------------------------------- phase timers
class PhaseTimer:
    """Seconds per EM phase, from wrappers around the engine's functions (one fit at a time;
    a phase's calls nested in the same phase count once)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.depth: dict[str, int] = defaultdict(int)
        self.saved: list[tuple[object, str, object]] = []

    def timed(self, fn, phase: str):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self.depth[phase] += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth[phase] -= 1
                if not self.depth[phase]:
                    self.seconds[phase] += time.perf_counter() - started

        return timed

    def wrap(self, owner, name: str, phase: str) -> None:
        original = getattr(owner, name)
        self.saved.append((owner, name, original))
        setattr(owner, name, self.timed(original, phase))

    def __enter__(self) -> PhaseTimer:
        calibrate_module = sys.modules["irt_models.calibrate"]
        original_em_map = em.em_map

        def em_map(state, layout, all_items, nodes, prior, estep_fn=em.estep):
            timed_estep = self.timed(estep_fn, "estep")
            return original_em_map(state, layout, all_items, nodes, prior, timed_estep)

        self.saved.append((em, "em_map", original_em_map))
        em.em_map = em_map
        self.wrap(em, "item_log_table", "estep")
        self.wrap(em, "update_items", "mstep")
        self.wrap(em, "latent_moments", "latent")
        self.wrap(em.EMState, "update_groups", "latent")
        self.wrap(em.EMState, "valid", "checks")
        self.wrap(calibrate_module, "run_em", "em")
        self.wrap(calibrate_module, "final_pass", "final pass")
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self.saved):
            setattr(owner, name, original)

    def shares(self, total: float) -> dict[str, float]:
        """Seconds per phase; "em other" is SQUAREM's own work (extrapolation, parameter
        changes, packing), "set-up" coding, layout and starting values."""
        s = dict(self.seconds)
        inner = sum(s.get(k, 0.0) for k in ("estep", "mstep", "latent", "checks"))
        s["em other"] = max(0.0, s.pop("em", 0.0) - inner)
        s["set-up"] = max(0.0, total - s.get("final pass", 0.0) - inner - s["em other"])
        return {k: s.get(k, 0.0) for k in PHASES}


# --------------------------------------------------------------------------- measurements
def blas_settings() -> str:
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    env = ", ".join(f"{n}={os.environ.get(n, '-')}" for n in names)
    try:
        from irt_models.blas import blas_thread_counts
    except ImportError:  # an engine from before irt_models.blas
        return f"cpus {os.cpu_count()}; {env}"
    return f"cpus {os.cpu_count()}; {env}; OpenBLAS threads {blas_thread_counts()}"


def workers_blas(workers: int):
    """The BLAS limit ``fit_skills`` sets around its threads (none before irt_models.blas)."""
    try:
        from irt_models.blas import blas_threads
    except ImportError:
        return contextlib.nullcontext()
    limit = getattr(IrtSettings(), "worker_blas_threads", None)
    return blas_threads(limit if workers > 1 else None)


def timed_fit(data, settings: IrtSettings):
    started = time.perf_counter()
    cal = calibrate_responses(data, settings, None)
    return cal, time.perf_counter() - started


def profile_skill(skill: str, data) -> dict:
    settings = IrtSettings()
    with PhaseTimer() as timer:
        cal, seconds = timed_fit(data, settings)
    started = time.perf_counter()
    sampled_sx2(cal, data, settings.sx2_max_learners)
    sx2_seconds = time.perf_counter() - started
    one, one_seconds = timed_fit(data, IrtSettings(multiple_groups=False))
    return {
        "skill": skill,
        "responses": data.n,
        "seconds": seconds,
        "iterations": cal.iterations,
        "phases": timer.shares(seconds),
        "sx2": sx2_seconds,
        "one_group": one_seconds,
        "one_group_iterations": one.iterations,
    }


def contention(datasets: dict) -> tuple[float, float, float]:
    """(one thread: summed seconds, two threads: summed over threads, two threads: wall)."""
    settings = IrtSettings()
    sequential = sum(timed_fit(d, settings)[1] for d in datasets.values())
    started = time.perf_counter()
    with workers_blas(2), ThreadPoolExecutor(2) as pool:
        parallel = sum(s for _, s in pool.map(lambda d: timed_fit(d, settings), datasets.values()))
    return sequential, parallel, time.perf_counter() - started


def all_skills(con, skills: list[str], workers: int) -> tuple[dict, float]:
    """Each skill's fit and S-X2 as fit_skills runs them: seconds per skill, and the wall."""
    settings = IrtSettings()

    def fit(skill: str) -> tuple[str, int, float, int]:
        data = skill_responses(con.cursor(), skill)
        started = time.perf_counter()
        cal = calibrate_responses(data, settings, None)
        sampled_sx2(cal, data, settings.sx2_max_learners)
        return skill, data.n, time.perf_counter() - started, cal.iterations

    started = time.perf_counter()
    with workers_blas(workers), ThreadPoolExecutor(workers) as pool:
        rows = {r[0]: r[1:] for r in pool.map(fit, skills)}
    return rows, time.perf_counter() - started


# --------------------------------------------------------------------------- printing
def print_profiles(rows: list[dict]) -> None:
    head = f"{'skill':>16} {'responses':>10} {'fit s':>7} {'iter':>5}"
    head += "".join(f" {p:>10}" for p in PHASES)
    print(head + f" {'S-X2 s':>7} {'1 group s':>9} {'iter':>5}")
    for r in rows:
        line = f"{r['skill']:>16} {r['responses']:>10} {r['seconds']:>7.2f} {r['iterations']:>5}"
        line += "".join(f" {r['phases'][p] / r['seconds']:>10.0%}" for p in PHASES)
        line += f" {r['sx2']:>7.2f} {r['one_group']:>9.2f} {r['one_group_iterations']:>5}"
        print(line)


def largest_skills(con, n: int) -> list[str]:
    rows = con.execute(
        f"select skill_id from {RESPONSES} group by skill_id order by count(*) desc"
    ).fetchall()
    return [r[0] for r in rows][: n or None]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", help="a refreshed warehouse (opened read only)")
    parser.add_argument("--skills", type=int, default=3, help="profile the N largest skills")
    parser.add_argument("--all", action="store_true", help="fit every skill as fit_skills does")
    parser.add_argument("--workers", type=int, default=IrtSettings().workers)
    args = parser.parse_args(argv)
    con = duckdb.connect(args.warehouse, read_only=True)
    print(blas_settings(), "| load", os.getloadavg())
    skills = largest_skills(con, args.skills)
    datasets = {s: skill_responses(con, s) for s in skills}
    if skills:
        print_profiles([profile_skill(s, d) for s, d in datasets.items()])
        pair = dict(list(datasets.items())[:2])
        one, two, wall = contention(pair)
        print(
            f"\n{' + '.join(pair)}: one thread {one:.2f} s; two threads {two:.2f} s summed, "
            f"{wall:.2f} s wall"
        )
    if args.all:
        rows, wall = all_skills(con, largest_skills(con, 0), args.workers)
        print(f"\n{'skill':>20} {'responses':>10} {'fit+S-X2 s':>10} {'iter':>5}")
        for skill, (n, seconds, iterations) in rows.items():
            print(f"{skill:>20} {n:>10} {seconds:>10.2f} {iterations:>5}")
        total = sum(r[1] for r in rows.values())
        responses = sum(r[0] for r in rows.values())
        print(
            f"{'all':>20} {responses:>10} {total:>10.2f}   (wall {wall:.2f} s, "
            f"{args.workers} workers)"
        )
    print("load", os.getloadavg())


if __name__ == "__main__":
    main()
