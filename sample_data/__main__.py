"""``python -m sample_data``: write the sample landing data and its truth (see the package)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import sample_data
from sample_data.generator import DEFAULT_LEARNERS, DEFAULT_START, generate


def main(argv: list[str] | None = None) -> None:
    from orchestration.settings import is_uri, load_settings

    parser = _parser()
    args = parser.parse_args(argv)
    out = args.out or load_settings().landing_dir
    if is_uri(out):
        parser.error(
            f"SKILLGAP_LANDING_DIR={out} is a URI: the generator writes a local folder; "
            "pass --out, then copy the files to the URI"
        )
    truth = args.truth or Path(out).resolve().parent / "truth"
    summary = generate(
        out,
        truth,
        args.companies,
        args.learners,
        args.days,
        args.seed,
        args.start_date,
        dif_items=args.dif_items,
        dif_countries=args.dif_countries,
        leaked_items=args.leaked_items,
    )
    print(
        f"sample data: {summary['rows']:,} rows ({summary['attempts']:,} attempts) in "
        f"{summary['files']} files, {summary['seconds']:.1f} s, "
        f"{summary['rows_per_second']:,.0f} rows/s -> {out} (truth: {truth})"
    )


def _parser() -> argparse.ArgumentParser:
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
    lies = parser.add_argument_group(
        "known lies (opt-in, recorded in truth/item_dif.csv and truth/item_leaks.csv)"
    )
    lies.add_argument(
        "--dif-items",
        type=int,
        default=0,
        help="quiz items made harder for learners of the --dif-countries (DIF; default 0)",
    )
    lies.add_argument(
        "--dif-countries",
        type=int,
        default=2,
        help="how many countries, those with the most learners, the DIF items are harder in",
    )
    lies.add_argument(
        "--leaked-items",
        type=int,
        default=0,
        help="quiz items whose answers leak: easier for everyone from a day on (default 0)",
    )
    return parser


if __name__ == "__main__":
    main()
