"""Pulling statements from a real LRS (Ralph, `make lrs-install`): statements per second and
peak memory of a whole pull, of a pull stopped half way and resumed, and of a pull with
nothing new.

Generates the sample's activity as xAPI statements (``python -m sample_data --format xapi``),
posts them to a fresh Ralph (fs backend, in the work folder), then pulls them into an empty
DuckDB file with ``orchestration.ingest.lrs.pull_statements``. Prints figures, asserts
nothing. Usage:

    .venv/bin/python benchmarks/lrs_pull.py   # 60 companies, 4,000 learners, 20 days
    .venv/bin/python benchmarks/lrs_pull.py --learners 10000 --days 30 --page-size 100
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.ingest.lrs import pull_statements  # noqa: E402
from orchestration.ingest.lrs_client import LrsClient, LrsConfig  # noqa: E402
from sample_data import generate  # noqa: E402
from sample_data.statements import post_statements  # noqa: E402
from tests.lrs.ralph import RalphServer, ralph_available  # noqa: E402


def peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TimedClient(LrsClient):
    """The pull's client, adding up the seconds spent waiting for the LRS's answers."""

    def __init__(self, config: LrsConfig) -> None:
        super().__init__(config)
        self.waited = 0.0

    def get(self, url: str) -> str:
        started = time.perf_counter()
        try:
            return super().get(url)
        finally:
            self.waited += time.perf_counter() - started


def pull(warehouse: Path, config: LrsConfig, on_page=None) -> tuple[object, float, float]:
    client = TimedClient(config)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        started = time.perf_counter()
        report = pull_statements(con, config, client=client, on_page=on_page)
        return report, time.perf_counter() - started, client.waited


def line(label: str, report, seconds: float, waited: float) -> str:
    rate = report.statements_read / seconds if seconds else 0.0
    ours = seconds - waited
    return (
        f"{label:<18} {report.status:<9} read {report.statements_read:>8,} "
        f"new {report.statements_new:>8,} pages {report.pages:>5} {seconds:7.1f} s "
        f"({waited:.1f} s waiting for the LRS) {rate:7,.0f} statements/s, "
        f"{report.statements_read / ours if ours > 0 else 0:7,.0f}/s without the waiting; "
        f"peak {peak_mb():,.0f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=60)
    parser.add_argument("--learners", type=int, default=4000)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=100, help="Ralph caps limit at 100")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if not ralph_available():
        print("Ralph is not installed: run `make lrs-install`")
        return 2
    root = args.workdir or Path(tempfile.mkdtemp(prefix="skillgap-lrs-"))
    summary = generate(
        root / "landing",
        root / "truth",
        companies=args.companies,
        learners=args.learners,
        days=args.days,
        seed=7,
        activity_format="xapi",
    )
    with RalphServer(root / "ralph") as lrs:
        started = time.perf_counter()
        posting = post_statements(
            root / "landing", summary["statements"].files, lrs.url, lrs.user, lrs.password
        )
        seconds = time.perf_counter() - started
        print(f"posted {posting.posted:,} statements to Ralph in {seconds:.1f} s")
        config = LrsConfig(lrs.url, lrs.user, lrs.password, page_size=args.page_size)
        print(line("whole pull", *pull(root / "whole.duckdb", config)))
        print(line("nothing new", *pull(root / "whole.duckdb", config)))
        half = posting.posted // args.page_size // 2

        def stop_half_way(report) -> None:
            if report.pages == half:
                lrs.stop()

        stopped = LrsConfig(lrs.url, lrs.user, lrs.password, page_size=args.page_size, retries=1)
        print(line("stopped half way", *pull(root / "resumed.duckdb", stopped, stop_half_way)))
        lrs.start()
        print(line("resumed", *pull(root / "resumed.duckdb", config)))
        with duckdb.connect(str(root / "resumed.duckdb"), read_only=True) as con:
            rows, ids = con.execute(
                "select count(*), count(distinct statement_id) from raw.statements"
            ).fetchone()
        print(f"after the resume: {rows:,} rows, {ids:,} distinct ids, {posting.posted:,} posted")
    print(f"work folder: {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
