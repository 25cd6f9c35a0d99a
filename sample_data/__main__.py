"""``python -m sample_data``: write the sample landing data and its truth (see the package)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import sample_data
from sample_data.generator import DEFAULT_LEARNERS, DEFAULT_START, generate


def main(argv: list[str] | None = None) -> None:
    from orchestration.settings import load_settings

    parser = argparse.ArgumentParser(description=sample_data.__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--learners", type=int, default=DEFAULT_LEARNERS)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="landing folder (default $SKILLGAP_LANDING_DIR or data/landing)",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="truth folder (default: truth/ beside the landing folder)",
    )
    parser.add_argument("--start-date", type=date.fromisoformat, default=DEFAULT_START)
    args = parser.parse_args(argv)
    out = args.out or load_settings().landing_dir
    truth = args.truth or Path(out).resolve().parent / "truth"
    summary = generate(
        out, truth, args.companies, args.learners, args.days, args.seed, args.start_date
    )
    print(
        f"sample data: {summary['rows']:,} rows ({summary['attempts']:,} attempts) in "
        f"{summary['files']} files, {summary['seconds']:.1f} s, "
        f"{summary['rows_per_second']:,.0f} rows/s -> {out} (truth: {truth})"
    )


if __name__ == "__main__":
    main()
