"""Load landing files into ``raw.*`` with a load ledger: each file once, whole or not at all.

The landing contract (docs/landing-contract.md) lets platforms drop CSV or Parquet files with
column names in any case and extra columns. This module turns each new file into rows of
``raw.<entity>`` where every contract column is text, exactly as landed, so that staging can
reject bad values with a reason instead of the loader failing on them. Lineage columns
(``_load_id``, ``_source_file``, ``_row_number``) say where every row came from.

File identity. A landing is identified by (entity folder, path relative to the landing root,
SHA-256 of the bytes), and every landing gets one ``raw.load_ledger`` row:

- The same bytes at the same path load once; any later run skips them (status ``skipped``,
  reported but not written to the ledger) while they are what that path last held. A path
  whose file changed and then changed back (A, B, then A again) lands A again: its upsert
  values become the latest once more.
- Different bytes at a path already loaded (a corrected or replaced file) load as a new
  landing.
- The same bytes at a new path: if an earlier landing of the same entity with those bytes
  (loaded, or itself recorded as renamed) was at a path that no longer exists in the landing
  folder, and none of them is still there, the file was renamed or moved (for example archived
  into a sub-folder): it is recorded with status ``renamed``, ``n_rows`` 0 and ``error``
  naming the earlier path, and no rows load. Otherwise (the earlier file is still there: a
  copy, or a reverted upsert such as d3.csv = d1.csv after d2.csv) it loads as a new landing:
  its upsert values become the latest, and its event rows are exact duplicates in staging.
  "Still there" means the path exists, whatever it holds now.
- Failed landings are keyed the same way: the same failing bytes at the same path are not
  retried (skipped, and still reported by ``unresolved_failures``), but moving the file to
  another folder or path, or changing its bytes, retries it. A file landed in the wrong entity
  folder therefore loads once moved, unchanged, to the right one.
- A file that cannot be read (any ``OSError`` while hashing or loading it, such as permission
  denied, or the file vanishing after discovery) is recorded as ``failed`` with an error naming
  the file and the OS error, and with ``content_hash`` ``'unreadable'`` (never a SHA-256, which
  is 64 hex digits, so it never matches a file). It does not stop the other files, leaves no
  transaction open, and is retried on every run (one ledger row per attempt) until it loads.

A file that lacks a required column, is empty, malformed or of an unsupported type is also
recorded as ``failed``, with an error naming the file and what is wrong; the other files still
load. A failed (entity, path) is unresolved while its latest ledger entry is ``failed``;
``unresolved_failures`` given the landing folder reports only paths still in it, so a failure
at a wrong-folder path stops being reported once the file has been moved away.

Load order is ledger order (``load_id``): entity folders in contract order, then paths. It is
what staging's "the most recently loaded file wins" and "the copy loaded first stays" use.

Pure library: takes a DuckDB connection, no Dagster import. Modules: ``contract`` (entities,
columns, which files are data), ``ledger`` (raw tables, the ledger, file identity),
``loader`` (reading a file into raw.*, the ingest run).
"""

from orchestration.ingest.contract import (
    ENTITIES,
    LANDING_FOLDERS,
    LINEAGE_COLUMNS,
    STATEMENTS,
    EntitySpec,
    LandingFileError,
    discover_files,
    unexpected_folders,
)
from orchestration.ingest.ledger import (
    UNREADABLE,
    FileResult,
    IngestReport,
    LedgerIndex,
    ensure_raw_schema,
    unresolved_failures,
)
from orchestration.ingest.loader import content_hash, ingest_landing

__all__ = [
    "ENTITIES",
    "LANDING_FOLDERS",
    "STATEMENTS",
    "LINEAGE_COLUMNS",
    "UNREADABLE",
    "EntitySpec",
    "FileResult",
    "IngestReport",
    "LandingFileError",
    "LedgerIndex",
    "content_hash",
    "discover_files",
    "unexpected_folders",
    "ensure_raw_schema",
    "ingest_landing",
    "unresolved_failures",
]
