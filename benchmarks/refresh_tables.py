"""The refresh benchmark's tables: one engine's full and daily refresh, two engines or two
landing formats side by side, the slowest dbt nodes and the calibration per skill."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.refresh_processes import Measure, fmt
from benchmarks.refresh_stages import LABELS

if TYPE_CHECKING:
    from benchmarks.refresh_engines import EngineRun


def print_table(
    title: str, measures: list[Measure], full: list[Measure] | None = None, total: bool = True
) -> None:
    by_label = {m.label: m for m in full or []}
    jvm = any(m.jvm is not None for m in measures)
    header = f"{'stage':<15}{'rows in':>13}{'seconds':>10}"
    header += f"{'JVM s':>8}" if jvm else ""
    header += f"{'wall s':>9}{'CPU s':>9}{'peak MB':>10}"
    if full is not None:
        header += f"{'x full':>8}"
    print()
    print(title)
    print(header + "  note")
    print("-" * (len(header) + 6))
    for m in measures:
        line = f"{m.label:<15}{fmt(m.rows, ',d'):>13}{fmt(m.seconds, '.1f'):>10}"
        line += f"{fmt(m.jvm, '.1f'):>8}" if jvm else ""
        line += f"{m.wall:>9.1f}{fmt(m.cpu, '.1f'):>9}{m.peak_mb:>10,.0f}"
        if full is not None:
            base = by_label.get(m.label)
            ratio = m.seconds / base.seconds if base and base.seconds and m.seconds else None
            line += f"{fmt(ratio, '.2f'):>8}"
        print(line + (f"  {m.note}" if m.note else ""))
    if not total:
        return
    stages = [m for m in measures if not m.label.startswith("generate")]
    seconds = sum(m.seconds or 0 for m in stages)
    line = f"{'refresh total':<15}{'':>13}{seconds:>10.1f}"
    line += f"{sum(m.jvm or 0 for m in stages):>8.1f}" if jvm else ""
    wall = sum(m.wall for m in stages)
    cpu = sum(m.cpu or 0 for m in stages)
    peak = max((m.peak_mb for m in stages), default=0)
    print("-" * (len(header) + 6))
    print(f"{line}{wall:>9.1f}{cpu:>9.1f}{peak:>10,.0f}")


def comparison_lines(duck: list[Measure], spark: list[Measure]) -> list[str]:
    """One row per stage: duckdb's rows in, seconds, peak MB beside spark's (with its JVM
    start, which ``seconds`` leaves out), and spark / duckdb by seconds."""
    by_label = {m.label: m for m in spark}
    head = f"{'':<15}{'duckdb':-^32}  {'spark':-^40}"
    header = (
        f"{'stage':<15}{'rows in':>12}{'seconds':>10}{'peak MB':>10}  "
        f"{'rows in':>12}{'seconds':>10}{'JVM s':>8}{'peak MB':>10}{'spark/duckdb':>14}"
    )
    lines = [head, header, "-" * len(header)]
    totals = [0.0, 0.0, 0.0]

    def row(label, d: Measure | None, s: Measure | None) -> str:
        ratio = None
        if d and s and d.seconds and s.seconds is not None:
            ratio = s.seconds / d.seconds
        return (
            f"{label:<15}{fmt(d and d.rows, ',d'):>12}{fmt(d and d.seconds, '.1f'):>10}"
            f"{fmt(d and d.peak_mb, ',.0f'):>10}  {fmt(s and s.rows, ',d'):>12}"
            f"{fmt(s and s.seconds, '.1f'):>10}{fmt(s and s.jvm, '.1f'):>8}"
            f"{fmt(s and s.peak_mb, ',.0f'):>10}{fmt(ratio, '.1f'):>14}"
        )

    for d in duck:
        s = by_label.get(d.label)
        lines.append(row(d.label, d, s))
        totals[0] += d.seconds or 0
        totals[1] += (s.seconds or 0) if s else 0
        totals[2] += (s.jvm or 0) if s else 0
    total_d = Measure("", seconds=totals[0], peak_kb=max((m.peak_kb for m in duck), default=0))
    total_s = Measure(
        "", seconds=totals[1], jvm=totals[2], peak_kb=max((m.peak_kb for m in spark), default=0)
    )
    lines += ["-" * len(header), row("refresh total", total_d, total_s)]
    return lines


def print_slowest_dbt(measures: list[Measure], top: int = 5) -> None:
    """The slowest dbt nodes per SQL stage, from dagster-dbt's Execution Duration metadata."""
    for m in measures:
        durations = m.child.get("dbt_durations") or {}
        if not durations:
            continue
        slowest = sorted(durations.items(), key=lambda kv: -kv[1])[:top]
        listed = ", ".join(f"{key.split('/')[-1]} {s:.1f}" for key, s in slowest)
        print(f"  {m.label}: {sum(durations.values()):.1f} s in dbt nodes; slowest: {listed}")


def print_calibration_runs(measure: Measure | None) -> None:
    """Per skill, from irt.calibration_runs as the calibration stage's child read it."""
    rows = (measure.child.get("calibration_runs") if measure else None) or []
    if not rows:
        return
    print(
        f"  {'skill':<24}{'run type':<14}{'learners':>10}{'items':>7}{'new':>5}"
        f"{'responses':>12}{'iter':>6}{'conv':>6}{'seconds':>9}"
    )
    for skill, run_type, learners, items, new, responses, iterations, converged, s in rows:
        print(
            f"  {skill:<24}{run_type:<14}{learners:>10,.0f}{items:>7.0f}{new:>5.0f}"
            f"{responses:>12,.0f}{iterations:>6.0f}{str(converged):>6}{s:>9.1f}"
        )
    print(
        f"  {len(rows)} skills, {sum(r[-1] for r in rows):.1f} s summed over skills "
        "(step 1 fits skills in parallel threads, so the sum can exceed the stage's seconds)"
    )
    health = measure.child.get("health_seconds")
    if health is not None:
        print(f"  item health (DIF and drift) in the calibration stage: {health:.1f} s")


def run_name(run: EngineRun) -> str:
    return run.engine if run.activity_format == "tables" else f"{run.engine}, xapi"


def report_engine(run: EngineRun, gen: Measure) -> None:
    """The tables of one engine, as the benchmark printed them before it had two."""
    name = run_name(run)
    print(f"\n##### engine {name} (load average before {run.load_before}, after {run.load_after})")
    print_table(f"FULL REFRESH, {name} (stage by stage)", [gen, *run.full])
    print_slowest_dbt(run.full)
    calibration = {m.label: m for m in run.full}.get(LABELS["irt_calibrate"])
    if calibration is not None:
        print(f"IRT calibration per skill, full refresh, {name} (irt.calibration_runs):")
        print_calibration_runs(calibration)
    if run.daily:
        full, daily = run.full, run.daily
        print_table(f"DAILY REFRESH, {name} (one more day landed)", daily, full)
        print_slowest_dbt(daily)
        full_s = sum(m.seconds or 0 for m in full)
        daily_s = sum(m.seconds or 0 for m in daily)
        full_wall = sum(m.wall for m in full)
        daily_wall = sum(m.wall for m in daily)
        what = "attempts" if run.activity_format == "tables" else "statements"
        full_att = full[0].child.get(what) or 0
        day_att = daily[0].child.get(what) or 0
        share = f"{day_att / full_att:.1%}" if full_att else "-"
        print(
            f"daily / full: {daily_s / full_s:.2f} by seconds, {daily_wall / full_wall:.2f} "
            f"by wall; the day landed {day_att:,} {what} = {share} of the full refresh's"
        )
    if run.whole:
        print_table(f"UNSPLIT JOB, {name} (one process per refresh)", run.whole, total=False)


def report_both(duck: EngineRun, spark: EngineRun) -> None:
    print("\n##### duckdb and spark side by side (seconds exclude spark's JVM start)")
    for title, d, s in (("FULL", duck.full, spark.full), ("DAILY", duck.daily, spark.daily)):
        if d and s:
            print(f"\n{title} REFRESH, both engines")
            print("\n".join(comparison_lines(d, s)))


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def format_comparison_lines(tables: list[Measure], xapi: list[Measure]) -> list[str]:
    """One row per stage: the tables landing's rows in, seconds, CPU seconds and peak MB beside
    the statements landing's, and xapi / tables by each; then ingest plus staging (the issue's
    goal: within 2x by seconds, 1.5x by peak memory) and the total. On a shared machine the
    ratio of CPU seconds is the steadier one: the load slows seconds, not CPU seconds."""
    by_label = {m.label: m for m in xapi}
    side = f"{'rows in':>12}{'seconds':>9}{'CPU s':>8}{'peak MB':>9}"
    head = f"{'':<17}{'tables':-^38}  {'xapi (statements)':-^38}  {'xapi / tables':-^21}"
    header = f"{'stage':<17}{side}  {side}  {'seconds':>8}{'CPU':>6}{'peak':>7}"

    def cells(m: Measure | None) -> str:
        return (
            f"{fmt(m and m.rows, ',d'):>12}{fmt(m and m.seconds, '.1f'):>9}"
            f"{fmt(m and m.cpu, '.1f'):>8}{fmt(m and m.peak_mb, ',.0f'):>9}"
        )

    def row(label: str, t: Measure | None, x: Measure | None) -> str:
        return (
            f"{label:<17}{cells(t)}  {cells(x)}  "
            f"{fmt(ratio(x and x.seconds, t and t.seconds), '.2f'):>8}"
            f"{fmt(ratio(x and x.cpu, t and t.cpu), '.2f'):>6}"
            f"{fmt(ratio(x and x.peak_mb, t and t.peak_mb), '.2f'):>7}"
        )

    def total(measures: list[Measure], labels: set[str]) -> Measure:
        chosen = [m for m in measures if m.label in labels]
        return Measure(
            "",
            seconds=sum(m.seconds or 0 for m in chosen),
            cpu=sum(m.cpu or 0 for m in chosen),
            peak_kb=max((m.peak_kb for m in chosen), default=0),
        )

    lines = [head, header, "-" * len(header)]
    lines += [row(t.label, t, by_label.get(t.label)) for t in tables]
    lines.append("-" * len(header))
    for label, labels in (
        ("ingest + staging", {LABELS["ingest"], LABELS["staging"]}),
        ("refresh total", {m.label for m in tables}),
    ):
        lines.append(row(label, total(tables, labels), total(xapi, labels)))
    return lines


def report_formats(tables: EngineRun, xapi: EngineRun) -> None:
    print(f"\n##### {tables.engine}: the tables landing and the same data as statements")
    for title, t, x in (("FULL", tables.full, xapi.full), ("DAILY", tables.daily, xapi.daily)):
        if t and x:
            print(f"\n{title} REFRESH, tables vs xapi ({tables.engine})")
            print("\n".join(format_comparison_lines(t, x)))
