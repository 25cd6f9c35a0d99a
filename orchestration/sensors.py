"""A sensor that starts a refresh when new landing files appear (off by default)."""

import hashlib

import dagster as dg

from orchestration.ingest import discover_files
from orchestration.jobs import REFRESH_TAG, daily_refresh
from orchestration.settings import load_settings

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def landing_fingerprint(entries: list[tuple[str, int, int]]) -> str:
    """One hash of every landing file's (path, size, mtime): changes when any file does."""
    digest = hashlib.sha256()
    for path, size, mtime in sorted(entries):
        digest.update(f"{path}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


@dg.sensor(
    job=daily_refresh,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Starts the refresh when files in SKILLGAP_LANDING_DIR change; checks every "
    "5 minutes; never while a refresh is queued or running. Off by default: turn it on in the "
    "UI for near-real-time marts instead of the daily schedule alone.",
)
def new_landing_files_sensor(context: dg.SensorEvaluationContext):
    landing = load_settings().landing_dir
    entries = []
    for _, path in discover_files(landing):
        try:
            stat = path.stat()
        except OSError:
            # Vanished since discovery (moved, archived): the next tick sees where it went.
            continue
        entries.append((path.relative_to(landing).as_posix(), stat.st_size, stat.st_mtime_ns))
    if not entries:
        return dg.SkipReason(f"no files in {landing}")
    fingerprint = landing_fingerprint(entries)
    if fingerprint == context.cursor:
        return dg.SkipReason("no new or changed landing files")
    active = context.instance.get_run_records(
        dg.RunsFilter(job_name=daily_refresh.name, statuses=ACTIVE_STATUSES), limit=1
    )
    if active:
        return dg.SkipReason("a refresh is queued or running; the files are picked up after it")
    context.update_cursor(fingerprint)
    return dg.RunRequest(run_key=fingerprint, tags=REFRESH_TAG)
