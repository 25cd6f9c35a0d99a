"""The refresh benchmark's data: generate a size's landing, hold back its last days, land them.

Each landing file is one entity's one day (``DAY_FILE``), so a day moves by its files' names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

from benchmarks.refresh_processes import Measure, run_child
from benchmarks.refresh_stages import SEED, Size
from sample_data import DEFAULT_START

# A landing file of one day: <entity>_<YYYY-MM-DD>[suffix].<csv|parquet> (sample_data.writers),
# or its statements, .jsonl.gz (attempts) or .json (enrollments) (sample_data.statements).
DAY_FILE = re.compile(r"^[a-z_]+_(\d{4}-\d{2}-\d{2})[^/]*\.(csv|parquet|jsonl\.gz|json)$")
# How the learning activity lands (sample_data --format); tables in the work folder itself.
FORMATS = ("tables", "xapi")


def data_folder(workdir: Path, activity_format: str) -> Path:
    """Where a format's landing, truth and held-back day live: tables in the work folder
    itself (as before there were two formats), statements in ``<workdir>/xapi``."""
    return workdir if activity_format == "tables" else workdir / activity_format


def statements_written(log: Path) -> str:
    """The generator's summary of the statements it wrote (count, files, MB), from its log."""
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    found = re.search(r"^statements: (.*?) ->", text, re.MULTILINE)
    return found.group(1) if found else "statements: see the generator's log"


def generate(
    size: Size, workdir: Path, keep: bool, env: dict[str, str], activity_format: str, held=1
):
    """``days + held`` days of the seed into ``workdir`` (``data_folder``), or reuse them."""
    landing, truth = workdir / "landing", workdir / "truth"
    holdback = workdir / "holdback"
    stamp, log = workdir / "generated.json", workdir / "logs" / "generate.log"
    wanted = {**size.__dict__, "days_generated": size.days + held, "seed": SEED}
    if activity_format != "tables":
        wanted["format"] = activity_format
    label = "generate" if activity_format == "tables" else f"generate {activity_format}"
    statements = "; " + statements_written(log) if activity_format == "xapi" else ""
    if keep and stamp.exists() and json.loads(stamp.read_text(encoding="utf-8")) == wanted:
        faults = json.loads((truth / "faults.json").read_text(encoding="utf-8"))
        rows = sum(faults["landed_rows"].values())
        return Measure(label, rows=rows, note=f"reused (--keep){statements}")
    for path in (landing, truth, holdback, stamp):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    cmd = [sys.executable, "-m", "sample_data"]
    cmd += ["--companies", str(size.companies), "--learners", str(size.learners)]
    cmd += ["--days", str(size.days + held), "--seed", str(SEED)]
    cmd += ["--out", str(landing), "--truth", str(truth), "--format", activity_format]
    print(f"  {label} ...", end="", flush=True)
    wall, peak_kb, code, cpu = run_child(cmd, env, log)
    print(f" {wall:.1f} s, {peak_kb / 1024:,.0f} MB")
    if code != 0:
        sys.exit(f"generate failed, see {log}")
    faults = json.loads((truth / "faults.json").read_text(encoding="utf-8"))
    stamp.write_text(json.dumps(wanted), encoding="utf-8")
    rows = sum(faults["landed_rows"].values())
    statements = "; " + statements_written(log) if activity_format == "xapi" else ""
    return Measure(
        label,
        rows=rows,
        seconds=wall,
        wall=wall,
        peak_kb=peak_kb,
        cpu=cpu,
        note=f"rows written; {faults['landed_rows']['attempts']:,} attempts{statements}",
    )


def check_naming(landing: Path) -> list[str]:
    """Landing files that do not follow <entity>_<YYYY-MM-DD>[...].<csv|parquet>."""
    return sorted(
        str(p.relative_to(landing))
        for p in landing.rglob("*")
        if p.is_file() and not DAY_FILE.match(p.name)
    )


def move_day(source: Path, target: Path, day: date) -> int:
    """Move every file of ``day`` from ``source`` to ``target``, keeping sub-folders."""
    moved = 0
    for path in sorted(source.rglob("*")):
        match = DAY_FILE.match(path.name)
        if path.is_file() and match and match.group(1) == day.isoformat():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
            moved += 1
    return moved


def held_days(size: Size, n_days: int) -> list[date]:
    """The last ``n_days`` generated days, which the full refresh does not see."""
    return [DEFAULT_START + timedelta(days=size.days + i) for i in range(n_days)]


def prepare_data(size: Size, data: Path, args, env: dict[str, str], activity_format: str):
    """Generate (or reuse) one format's landing in ``data``, hold back its last days (one, or
    ``--days N``): the generation's measure and the held-back days, in order."""
    n_days = args.days or 1
    gen = generate(size, data, args.keep, env, activity_format, held=n_days)
    days = held_days(size, n_days)
    odd = check_naming(data / "landing") + check_naming(data / "holdback")
    if odd:
        print(f"warning: {len(odd)} landing files not named <entity>_<date>...: {odd[:5]}")
    for day in days:
        move_day(data / "landing", data / "holdback", day)
    held = sum(1 for p in (data / "holdback").rglob("*") if p.is_file())
    span = f"{days[0]}" if n_days == 1 else f"{days[0]} to {days[-1]}"
    what = "the daily run" if n_days == 1 else f"{n_days} daily runs"
    print(f"held back {held} files of {span} for {what} ({activity_format} landing)")
    return gen, days
