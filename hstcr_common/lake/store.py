"""The Parquet lake: one file per dark per table, Hive partitions, local folder or S3.

Layout::

    <root>/<table>/instrument=<id>/year=<yyyy>/month=<mm>/<dataset>.parquet

``<root>`` is a local folder or ``s3://bucket/prefix``; both go through :mod:`pyarrow.fs`
(S3 through :func:`hstcr_common.remote.s3_filesystem`, whose endpoint honours
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` so a local emulator works).  Partition columns are in the path only, never inside the files.

Writes are atomic so a reader never sees half a file and re-processing a dark replaces its
file instead of adding a second one:

* local: the Parquet bytes go to a hidden temporary file in the target folder
  (``.<dataset>.parquet.<host>.<pid>.<random>.tmp``, which no ``*.parquet`` glob matches,
  unique per process) and are then renamed over the target (``os.replace`` is atomic within
  a file system).  A writer killed before the rename leaves only its hidden temporary file,
  which :meth:`Lake.sweep_temporary` removes once that process is gone;
* S3: the whole file is serialised into memory first and then sent through one output
  stream (one PUT, or one multipart upload for big files); S3 makes an object visible only
  when its upload completes.  Throttling (``SlowDown``/503, 5xx, dropped connections and
  timeouts) is retried by the AWS SDK inside pyarrow, with its standard strategy (jittered
  exponential backoff, :data:`hstcr_common.remote.MAX_ATTEMPTS` attempts a request).

Concurrent writers of the same dark each replace the whole file: the last rename (or PUT)
wins, per file; there is no transaction across a dark's tables (see docs/guarantees.md).

Only numpy/pyarrow are imported here: the Lambda worker uses this module.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass
from functools import cached_property

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..model import HstcrError
from ..remote import s3_filesystem
from .schemas import PARTITION_KEYS, TABLES

DEFAULT_LAKE = "./hstcr-lake"
#: the folder of the lake that holds the ``auto`` method's group references
#: (:mod:`hstcr_common.pipeline.groups`)
REFERENCES = "references"

#: Parquet writer settings: zstd compresses the pixel lists ~3x better than snappy at
#: similar speed; statistics let DuckDB/Athena skip row groups.
PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, write_statistics=True)

_TMP_SUFFIX = ".tmp"
#: ``.<name>.<host>.<pid>.<random>.tmp``: a hidden temporary file and who wrote it
_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def temporary_path(path: str) -> str:
    """The hidden temporary file a local ``path`` is written to before its rename:
    ``.<name>.<host>.<pid>.<random>.tmp`` in the same folder, unique per process and call
    (concurrent writers never share one), matched by no ``*.parquet`` or ``*.npz`` glob, and
    removed by :meth:`Lake.sweep_temporary` once its writer is gone."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{_host_tag()}.{os.getpid()}."
                                f"{uuid.uuid4().hex[:12]}{_TMP_SUFFIX}")


def _pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _dictionary_columns(table: str) -> list[str]:
    """Top-level string columns: the only ones dictionary encoding pays for.

    Dictionary-encoding the float columns and pixel lists too (pyarrow's default) halves the
    write speed of a cosmic_rays file and makes it bigger (measured on an ACS/WFC dark:
    0.137 s / 9.7 MB -> 0.070 s / 8.1 MB).
    """
    return [f.name for f in TABLES[table] if pa.types.is_string(f.type)]


@dataclass(frozen=True)
class PartitionKey:
    """Where a dark's rows live: detector id and the year/month of its observation."""

    instrument: str
    year: int
    month: int

    @classmethod
    def from_month(cls, instrument: str, month: str) -> "PartitionKey":
        """From ``'YYYY-MM'``."""
        try:
            year, mon = (int(x) for x in month.split("-")[:2])
        except (ValueError, AttributeError):
            raise HstcrError(f"month {month!r} is not YYYY-MM") from None
        return cls(instrument or "unknown", year, mon)

    @property
    def path(self) -> str:
        return f"instrument={self.instrument}/year={self.year:04d}/month={self.month:02d}"


class Lake:
    """A lake root (local folder or ``s3://bucket/prefix``).

    Parameters
    ----------
    root : str or os.PathLike
        Local folder (created on first write) or ``s3://bucket/prefix``.
    filesystem : pyarrow.fs.FileSystem, optional
        Use this file system instead of the one derived from ``root`` (tests).
    """

    def __init__(self, root: str | os.PathLike = DEFAULT_LAKE, filesystem: pafs.FileSystem | None = None):
        root = os.fspath(root)
        self.uri = root
        self.is_s3 = root.startswith("s3://")
        if self.is_s3:
            self.base = root[len("s3://"):].rstrip("/")
            self._fs = filesystem
        else:
            self.base = os.path.abspath(root)
            self._fs = filesystem or pafs.LocalFileSystem()

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    @cached_property
    def fs(self) -> pafs.FileSystem:
        # created lazily: S3FileSystem objects do not pickle across processes everywhere
        return self._fs if self._fs is not None else s3_filesystem()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("fs", None)
        if self.is_s3:
            state["_fs"] = None
        return state

    # ---- paths ---------------------------------------------------------------------------
    def table_dir(self, table: str) -> str:
        if table not in TABLES:
            raise HstcrError(f"unknown lake table {table!r}; known: {', '.join(TABLES)}")
        return f"{self.base}/{table}"

    def file_path(self, table: str, key: PartitionKey, dataset: str) -> str:
        """Path (inside :attr:`fs`) of one dark's file."""
        return f"{self.table_dir(table)}/{key.path}/{dataset}.parquet"

    # ---- writing -------------------------------------------------------------------------
    def write(self, table: str, data: pa.Table, key: PartitionKey, dataset: str) -> str:
        """Write one dark's rows for ``table`` atomically, replacing any previous file.

        ``data`` must not contain the partition columns; it is cast to the table's schema
        (so a writer can never drift from :mod:`hstcr_common.lake.schemas`).

        Returns
        -------
        str
            The path written.
        """
        path = self.file_path(table, key, dataset)  # checks the table name
        schema = TABLES[table]
        if data.schema != schema:
            data = data.select(schema.names).cast(schema)
        sink = pa.BufferOutputStream()
        pq.write_table(data, sink, use_dictionary=_dictionary_columns(table), **PARQUET_OPTIONS)
        payload = sink.getvalue()
        if self.is_s3:
            # one stream, one buffer: the object appears only when the upload completes, so a
            # failed upload leaves nothing (the SDK retries each of its requests)
            with self.fs.open_output_stream(path) as out:
                out.write(payload)
        else:
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            tmp = temporary_path(path)
            try:
                with open(tmp, "wb") as out:
                    out.write(memoryview(payload))
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return path

    def sweep_temporary(self) -> list[str]:
        """Remove temporary files left by writers on this host that no longer run.

        A writer killed between writing its temporary file and the rename leaves a hidden
        ``.*.tmp`` file (:func:`temporary_path`; never read: no ``*.parquet`` or ``*.npz``
        glob matches it), in a table's folders or among the group references (an ACS/WFC
        reference is ~100 MB).  Files of live processes, of other hosts and of unknown form
        are kept.  Local lakes only (an S3 upload that never completes leaves no object).

        Returns
        -------
        list of str
            The paths removed.
        """
        if self.is_s3 or not os.path.isdir(self.base):
            return []
        host, removed = _host_tag(), []
        for top in [self.table_dir(table) for table in TABLES] + [f"{self.base}/{REFERENCES}"]:
            for folder, _, names in os.walk(top):
                for name in names:
                    m = _TMP_NAME.match(name)
                    if m and m["host"] == host and not _pid_alive(int(m["pid"])):
                        path = os.path.join(folder, name)
                        try:
                            os.unlink(path)
                            removed.append(path)
                        except FileNotFoundError:  # another sweeper was first
                            pass
        return removed

    def delete(self, path: str) -> bool:
        """Delete one file; False when it did not exist."""
        try:
            self.fs.delete_file(path)
            return True
        except (FileNotFoundError, OSError) as exc:
            if isinstance(exc, FileNotFoundError) or "does not exist" in str(exc) or "NoSuchKey" in str(exc):
                return False
            raise

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type == pafs.FileType.File

    # ---- reading -------------------------------------------------------------------------
    def files(self, table: str) -> list[str]:
        """Every finished file of a table (temporary files excluded), sorted."""
        selector = pafs.FileSelector(self.table_dir(table), recursive=True, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except FileNotFoundError:
            return []
        return sorted(
            i.path for i in infos
            if i.type == pafs.FileType.File and i.path.endswith(".parquet")
            and not os.path.basename(i.path).startswith(".")
        )

    def index(self, table: str) -> dict[str, list[str]]:
        """dataset -> its file paths in ``table`` (normally one)."""
        out: dict[str, list[str]] = {}
        for path in self.files(table):
            out.setdefault(os.path.basename(path)[: -len(".parquet")], []).append(path)
        return out

    def read_file(self, path: str, columns: list[str] | None = None) -> pa.Table:
        """One file's rows (only ``columns`` when given), partition columns not added."""
        with self.fs.open_input_file(path) as f:
            return pq.read_table(f, columns=columns)

    def num_rows(self, path: str) -> int:
        """Row count from the Parquet footer (no data read)."""
        with self.fs.open_input_file(path) as f:
            return pq.ParquetFile(f).metadata.num_rows

    def read_table(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table with its partition columns (small lakes, tests, summaries)."""
        schema = TABLES[table]
        full = pa.schema(list(schema) + [pa.field(k, t) for k, t in PARTITION_KEYS])
        parts = []
        for path in self.files(table):
            key = partition_of(path)
            t = self.read_file(path)
            n = t.num_rows
            t = t.append_column("instrument", pa.array([key.instrument] * n, pa.string()))
            t = t.append_column("year", pa.array([key.year] * n, pa.int32()))
            t = t.append_column("month", pa.array([key.month] * n, pa.int32()))
            parts.append(t.select(full.names).cast(full))
        out = pa.concat_tables(parts) if parts else full.empty_table()
        return out.select(columns) if columns else out


def partition_of(path: str) -> PartitionKey:
    """The partition key encoded in a lake file's path."""
    parts = dict(p.split("=", 1) for p in path.split("/") if "=" in p)
    try:
        return PartitionKey(parts["instrument"], int(parts["year"]), int(parts["month"]))
    except (KeyError, ValueError):
        raise HstcrError(f"{path}: not a lake partition path") from None
