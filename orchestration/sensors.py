"""A sensor that starts a refresh when new landing files appear, or when the Learning Record
Store holds statements the last pull did not read (off by default)."""

import hashlib
from datetime import datetime
from pathlib import Path

import dagster as dg

from orchestration.assets.ingest import LRS_KEY
from orchestration.ingest import ENTITIES, discover_files
from orchestration.ingest.contract import is_hidden
from orchestration.ingest.lrs_client import LrsError, first_unread_id
from orchestration.jobs import REFRESH_TAG, clear_before_request, daily_refresh
from orchestration.resources import LearningRecordStore
from orchestration.settings import is_uri, load_settings

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


# Hadoop's names for the object stores, where pyarrow's differ
ARROW_SCHEMES = {"s3a": "s3", "s3n": "s3"}


def landing_entries(landing: Path | str) -> list[tuple[str, int, int]]:
    """(path under the landing, size, mtime in ns) of every landing file the loaders would see.

    A URI landing (spark engine) is listed with pyarrow's file systems, not through Spark:
    the sensor runs in Dagster's code server, which has no JVM and must not start one (the
    local metastore allows one JVM, the refresh's). pyarrow reads each cloud's standard
    credentials (``AWS_*``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_*``), which may
    differ from the ``spark.hadoop.*`` settings Spark reads (docs/scale-out.md).
    """
    if not is_uri(landing):
        entries = []
        for _, path in discover_files(landing):
            try:
                stat = path.stat()
            except OSError:
                # Vanished since discovery (moved, archived): the next tick sees where it went.
                continue
            entries.append((path.relative_to(landing).as_posix(), stat.st_size, stat.st_mtime_ns))
        return entries
    from pyarrow import fs

    scheme, rest = landing.split("://", 1)
    filesystem, root = fs.FileSystem.from_uri(f"{ARROW_SCHEMES.get(scheme, scheme)}://{rest}")
    root = root.rstrip("/")
    entries = []
    for entity in ENTITIES:
        selector = fs.FileSelector(f"{root}/{entity}", recursive=True, allow_not_found=True)
        for info in filesystem.get_file_info(selector):
            inside = info.path[len(root) + 1 :]
            if info.type == fs.FileType.File and not is_hidden(inside.split("/")[1:]):
                entries.append((inside, info.size, info.mtime_ns or 0))
    return entries


def landing_fingerprint(entries: list[tuple[str, int, int]]) -> str:
    """One hash of every landing file's (path, size, mtime): changes when any file does."""
    digest = hashlib.sha256()
    for path, size, mtime in sorted(entries):
        digest.update(f"{path}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def unread_lrs_statement(context: dg.SensorEvaluationContext, lrs: LearningRecordStore) -> str:
    """The id of a statement the LRS holds beyond the last pull's cursor (kept in the pull's
    materialization metadata: the sensor must not open the warehouse a refresh may be
    writing), or "" when no LRS is configured, nothing is new, or the LRS does not answer
    (the next refresh's summary then says so)."""
    config = lrs.lrs_config()
    if config is None:
        return ""
    event = context.instance.get_latest_materialization_event(LRS_KEY)
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    values = {key: getattr(value, "value", value) for key, value in metadata.items()}
    if values.get("lrs") != config.url:
        values = {}  # no pull yet, or of another LRS: anything it holds is new
    paging = values.get("paging") if values.get("paging") in ("since", "search_after") else None
    watermark = values.get("cursor_watermark") or None
    try:
        found = first_unread_id(
            config,
            paging,
            datetime.fromisoformat(watermark) if watermark else None,
            values.get("cursor_last_id") or None,
        )
    except LrsError as error:
        context.log.warning(f"landing sensor: {error}")
        return ""
    return found or ""


@dg.sensor(
    job=daily_refresh,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Starts the refresh when files in SKILLGAP_LANDING_DIR change or the LRS at "
    "SKILLGAP_LRS_URL holds statements not yet pulled; checks every 5 minutes; never while a "
    "refresh is queued or running. Off by default: turn it on in the UI for near-real-time "
    "marts instead of the daily schedule alone.",
)
def new_landing_files_sensor(context: dg.SensorEvaluationContext, lrs: LearningRecordStore):
    landing = load_settings().landing_dir
    entries = landing_entries(landing)
    unread = unread_lrs_statement(context, lrs)
    if not entries and not unread:
        return dg.SkipReason(f"no files in {landing} and no statements to pull")
    fingerprint = landing_fingerprint(entries + ([(f"lrs:{unread}", 0, 0)] if unread else []))
    if fingerprint == context.cursor:
        return dg.SkipReason("no new or changed landing files, no statements to pull")
    clear_before_request(context, " by the landing sensor")
    active = context.instance.get_run_records(
        dg.RunsFilter(job_name=daily_refresh.name, statuses=ACTIVE_STATUSES), limit=1
    )
    if active:
        return dg.SkipReason("a refresh is queued or running; the files are picked up after it")
    context.update_cursor(fingerprint)
    return dg.RunRequest(run_key=fingerprint, tags=REFRESH_TAG)
