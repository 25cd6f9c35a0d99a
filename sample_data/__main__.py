"""``python -m sample_data``: write the sample landing data and its truth (see the package)."""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path

import sample_data
from sample_data.generator import ACTIVITY_FORMATS, DEFAULT_LEARNERS, DEFAULT_START, generate
from sample_data.statements import (
    STATEMENTS_FOLDER,
    Conversion,
    LrsError,
    Posting,
    clear_statements,
    post_statements,
)

LRS_USER, LRS_PASSWORD = "SKILLGAP_LRS_USER", "SKILLGAP_LRS_PASSWORD"


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
    credentials = _lrs_credentials(parser, args)
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
        activity_format=args.format,
    )
    print(
        f"sample data: {summary['rows']:,} rows ({summary['attempts']:,} attempts) in "
        f"{summary['files']} files, {summary['seconds']:.1f} s, "
        f"{summary['rows_per_second']:,.0f} rows/s -> {out} (truth: {truth})"
    )
    if "statements" in summary:
        print(_converted(summary["statements"], Path(out)))
    if credentials is not None:
        try:
            posting = post_statements(
                Path(out), summary["statements"].files, args.lrs, *credentials
            )
        except LrsError as error:
            raise SystemExit(f"LRS: {error}") from None
        print(_posted(posting))
        if args.lrs_only:
            clear_statements(Path(out))
            print(f"statements: removed {Path(out) / STATEMENTS_FOLDER} (--lrs-only)")


def _lrs_credentials(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[str, str] | None:
    """(user, password) from the environment when --lrs is given; the flags checked."""
    if args.lrs_only and not args.lrs:
        parser.error("--lrs-only needs --lrs URL")
    if not args.lrs:
        return None
    if args.format != "xapi":
        parser.error("--lrs needs --format xapi")
    user, password = os.environ.get(LRS_USER), os.environ.get(LRS_PASSWORD)
    if not user or password is None:
        parser.error(f"--lrs needs the LRS's basic auth in ${LRS_USER} and ${LRS_PASSWORD}")
    return user, password


def _converted(conversion: Conversion, out: Path) -> str:
    """The summary line of the statements written."""
    counts = ", ".join(f"{n:,} from {entity}" for entity, n in conversion.statements.items())
    return (
        f"statements: {conversion.statements.total():,} ({counts}) in {len(conversion.files)} "
        f"files and {len(conversion.unreadable)} unreadable, {conversion.bytes / 1e6:.1f} MB, "
        f"{conversion.seconds:.1f} s -> {out / STATEMENTS_FOLDER}"
    )


def _posted(posting: Posting) -> str:
    """The summary line of the statements posted, and of those skipped by reason."""
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(posting.skipped.items()))
    return (
        f"LRS: posted {posting.posted:,} statements in {posting.batches} batches to "
        f"{posting.endpoint}, {posting.seconds:.1f} s; skipped {posting.skipped.total():,} "
        f"({reasons or 'none'})"
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
    _activity_flags(parser)
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


def _activity_flags(parser: argparse.ArgumentParser) -> None:
    """--format, and --lrs with --lrs-only: how the learning activity is delivered."""
    parser.add_argument(
        "--format",
        choices=ACTIVITY_FORMATS,
        default="tables",
        help="how attempts and enrollments land: tables (default) or xAPI statements in "
        f"{STATEMENTS_FOLDER}/ (the catalog and HR tables are the same)",
    )
    parser.add_argument(
        "--lrs",
        metavar="URL",
        default=None,
        help="with --format xapi: also POST the statements to this LRS's Statement API (the "
        f"xAPI base, e.g. http://127.0.0.1:8100/xAPI/), basic auth from ${LRS_USER} and "
        f"${LRS_PASSWORD}",
    )
    parser.add_argument(
        "--lrs-only",
        action="store_true",
        help=f"with --lrs: leave no {STATEMENTS_FOLDER}/ in the landing, as for a platform "
        "that sends activity only to an LRS",
    )


if __name__ == "__main__":
    main()
