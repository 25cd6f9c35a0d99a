"""The refresh benchmark's ``--days N``: is a day's cost flat over the history?

After the full refresh of a size's history, the N days held back from the generated data land
one after another (``sample_data`` generated ``days + N`` days; the last N are the generator's
own days, drawn like every other, so they are equal in expectation: the same learners, of whom
a few more join each day) and the daily refresh runs after each. Per day: the seconds per stage
and the history size, the attempts in the warehouse (``staging.stg_attempts`` as the
intermediate stage read it, after the day's staging). Then a table, ``day N / day 1`` per
stage and in total, and a PNG (matplotlib) of the daily seconds per stage against the history.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.refresh_data import move_day
from benchmarks.refresh_processes import Measure, fmt, run_refresh
from benchmarks.refresh_stages import LABELS

if TYPE_CHECKING:
    from benchmarks.refresh_engines import EngineRun

# Column heads of the days table, by stage label.
SHORT = {
    LABELS["ingest"]: "ingest",
    LABELS["staging"]: "staging",
    LABELS["intermediate"]: "interm.",
    LABELS["irt_calibrate"]: "IRT cal.",
    LABELS["irt_score"]: "IRT score",
    LABELS["marts"]: "marts",
    LABELS["publish"]: "publish",
}


def day_tag(number: int) -> str:
    """The log and figures' name of a day's stages: the first is the daily case."""
    return "daily" if number == 1 else f"day{number}"


def landed(measures: list[Measure], what: str) -> int:
    """The attempts (or statements) the ingest stage of ``measures`` loaded."""
    return (measures[0].child.get(what) or 0) if measures else 0


def history_size(run: EngineRun, measures: list[Measure]) -> int | None:
    """Attempts in the warehouse after a day: ``staging.stg_attempts`` as the intermediate
    stage read it; with ``--until`` before that stage, the attempts landed so far."""
    by_label = {m.label: m for m in measures}
    intermediate = by_label.get(LABELS["intermediate"])
    if intermediate is not None and intermediate.rows is not None:
        return intermediate.rows
    what = "attempts" if run.activity_format == "tables" else "statements"
    return landed(run.full, what) + sum(landed(day, what) for day in [*run.days, measures])


def run_days(run: EngineRun, stage_ids: list[str], env: dict, workdir: Path, landing: Path):
    """Land the held-back days one at a time, each followed by the daily refresh; stop after
    a day whose refresh failed. ``run.daily`` is the first day's."""
    logs = workdir / "logs" / run.engine
    n = len(run.held)
    for number, day in enumerate(run.held, start=1):
        moved = move_day(workdir / "holdback", landing, day)
        which = "daily refresh" if n == 1 else f"daily refresh, day {number} of {n}"
        print(f"landed {moved} files of {day}; {which}:")
        measures = run_refresh(stage_ids, env, logs, day_tag(number))
        history = history_size(run, measures)
        run.days.append(measures)
        run.history.append(history)
        if n > 1:
            seconds = sum(m.seconds or 0 for m in measures)
            print(
                f"  day {number}: {seconds:.1f} s in stages; history {fmt(history, ',d')} attempts"
            )
        if not all(m.ok for m in measures):
            break
    run.daily = run.days[0] if run.days else []


def days_lines(run: EngineRun) -> list[str]:
    """One row per day: its date, attempts landed, history, seconds per stage and in total;
    then day N / day 1 per stage and in total."""
    labels = [m.label for m in run.days[0]]
    what = "attempts" if run.activity_format == "tables" else "statements"
    header = f"{'day':<5}{'date':<12}{'landed':>10}{'history':>12}"
    header += "".join(f"{SHORT.get(label, label):>10}" for label in labels) + f"{'total':>9}"
    lines = [header, "-" * len(header)]
    for number, (measures, history) in enumerate(zip(run.days, run.history, strict=True), 1):
        seconds = {m.label: m.seconds for m in measures}
        line = f"{number:<5}{run.held[number - 1].isoformat():<12}"
        line += f"{landed(measures, what):>10,}{fmt(history, ',d'):>12}"
        line += "".join(f"{fmt(seconds.get(label), '.1f'):>10}" for label in labels)
        lines.append(line + f"{sum(s or 0 for s in seconds.values()):>9.1f}")
    first, last = run.days[0], run.days[-1]
    line = f"{f'day {len(run.days)} / day 1':<39}"
    for label in labels:
        a = {m.label: m.seconds for m in first}.get(label)
        b = {m.label: m.seconds for m in last}.get(label)
        line += f"{fmt(b / a if a and b is not None else None, '.2f'):>10}"
    total_first = sum(m.seconds or 0 for m in first)
    total_last = sum(m.seconds or 0 for m in last)
    ratio = total_last / total_first if total_first else None
    lines += ["-" * len(header), line + f"{fmt(ratio, '.2f'):>9}"]
    return lines


def plot_days(run: EngineRun, path: Path, title: str) -> Path:
    """Daily seconds per stage (and in total) against the history size, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(h, day) for h, day in zip(run.history, run.days, strict=True) if h is not None]
    x = [h for h, _ in points]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for label in [m.label for m in run.days[0]]:
        y = [{m.label: m.seconds for m in day}.get(label) for _, day in points]
        ax.plot(x, y, marker="o", label=label)
    totals = [sum(m.seconds or 0 for m in day) for _, day in points]
    ax.plot(x, totals, marker="s", color="black", linestyle="--", label="total")
    ax.set_xlabel("history: attempts in the warehouse (staging.stg_attempts) after the day")
    ax.set_ylabel("seconds of the daily refresh")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report_days(run: EngineRun, folder: Path, size: str, name: str) -> None:
    """The days table, its ratios, and the plot saved in ``folder`` (its path printed)."""
    if not run.days:
        return
    print(f"\nDAYS ONE AFTER ANOTHER, {name}, size {size} (seconds per stage per day)")
    print("\n".join(days_lines(run)))
    path = folder / f"days_{run.engine}_{run.activity_format}_{size}.png"
    title = f"skillgap daily refresh over {len(run.days)} days, size {size}, {name}"
    print(f"plot: {plot_days(run, path, title)}")
