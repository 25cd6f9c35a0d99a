"""The landing folder as the Spark loader sees it: a local folder, or a URI on any Hadoop
file system Spark is configured for (``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``,
``file://``).

A local folder is walked with :func:`discover_files` as by the DuckDB loader. A URI is listed
recursively through Hadoop's ``FileSystem`` API of Spark's JVM, and each file's content hash
is computed there (commons-codec's SHA-256 over the file system's input stream), so no bytes
cross to Python and no local copy is made. Both give the same ``file_path`` (``<entity>/...``)
and the same hash for the same bytes, so the ledger identities are those of the DuckDB loader.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

from orchestration.ingest.contract import LANDING_FOLDERS, discover_files, is_hidden
from orchestration.ingest.loader import content_hash, read_error
from orchestration.settings import is_uri


@dataclasses.dataclass(frozen=True)
class LandingFile:
    """One landing file: where Spark reads it, and how to size and hash it."""

    location: str  # a local path, or a qualified Hadoop URI
    file_path: str  # <entity>/<path in the entity folder>: the ledger's identity
    length: int | None = None  # known from a Hadoop listing
    fs: object = None  # the Hadoop FileSystem of a URI; None for a local file
    jvm: object = None

    @property
    def name(self) -> PurePosixPath:
        return PurePosixPath(self.file_path)

    def size(self) -> int:
        return Path(self.location).stat().st_size if self.fs is None else self.length

    def digest(self) -> str:
        """SHA-256 of the bytes, hex; OSError when the file cannot be read."""
        if self.fs is None:
            return content_hash(Path(self.location))
        try:
            stream = self.fs.open(self.jvm.org.apache.hadoop.fs.Path(self.location))
            try:
                return str(self.jvm.org.apache.commons.codec.digest.DigestUtils.sha256Hex(stream))
            finally:
                stream.close()
        except Exception as error:  # noqa: BLE001 - a Py4J error carrying the Java IOException
            raise OSError(java_message(error)) from error

    def read_error(self) -> OSError | None:
        """The OSError reading the file raises now, or None if it is readable."""
        if self.fs is None:
            return read_error(Path(self.location))
        try:
            self.digest()
        except OSError as error:
            return error
        return None


def java_message(error: Exception) -> str:
    java = getattr(error, "java_exception", None)
    return str(java.getMessage()) if java is not None else str(error)


def hadoop_fs(spark, uri: str):
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(uri)
    return jvm, root, root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def discover_landing(spark, landing) -> list[tuple[str, LandingFile]]:
    """(entity, file) of every candidate file, in load order (entity folder, then path), as
    :func:`discover_files`; hidden files are skipped."""
    if not is_uri(landing):
        root = Path(landing)
        return [
            (entity, LandingFile(str(path), path.relative_to(root).as_posix()))
            for entity, path in discover_files(root)
        ]
    jvm, root, fs = hadoop_fs(spark, landing)
    found = []
    for entity in LANDING_FOLDERS:
        folder = fs.makeQualified(jvm.org.apache.hadoop.fs.Path(root, entity))
        if not fs.exists(folder) or not fs.getFileStatus(folder).isDirectory():
            continue
        prefix = folder.toString().rstrip("/") + "/"
        listing = fs.listFiles(folder, True)
        files = []
        while listing.hasNext():
            status = listing.next()
            location = status.getPath().toString()
            parts = tuple(location[len(prefix) :].split("/"))
            if location.startswith(prefix) and not is_hidden(parts):
                path = "/".join((entity, *parts))
                files.append((parts, LandingFile(location, path, status.getLen(), fs, jvm)))
        found += [(entity, file) for _, file in sorted(files, key=lambda f: f[0])]
    return found


def still_landed_uri(spark, landing: str, failures: list[tuple[str, str]]) -> list:
    """The failures whose file is still under the landing URI."""
    jvm, root, fs = hadoop_fs(spark, landing)

    def is_file(path: str) -> bool:
        target = jvm.org.apache.hadoop.fs.Path(root, path)
        return bool(fs.exists(target) and fs.getFileStatus(target).isFile())

    return [(path, error) for path, error in failures if is_file(path)]
