"""The Parquet lake: one file per dark per table, Hive partitions, local folder or S3.

Layout::

    <root>/<table>/instrument=<id>/year=<yyyy>/month=<mm>/<dataset>.parquet

``<root>`` is a local folder or ``s3://bucket/prefix``; both go through :mod:`pyarrow.fs`
(the S3 endpoint honours ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` so a local emulator
works).  Partition columns are in the path only, never inside the files.

Writes are atomic so a reader never sees half a file and re-processing a dark replaces its
file instead of adding a second one:

* local: the Parquet bytes go to a hidden temporary file in the target folder
  (``.<dataset>.parquet.<random>.tmp``, which no ``*.parquet`` glob matches) and are then
  renamed over the target (``os.replace`` is atomic within a file system);
* S3: the whole file is serialised into memory first and then sent through one output
  stream (one PUT, or one multipart upload for big files); S3 makes an object visible only
  when its upload completes.

Only numpy/pyarrow are imported here: the Lambda worker uses this module.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from functools import cached_property

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .errors import HstcrError
from .schemas import PARTITION_KEYS, TABLES

DEFAULT_LAKE = "./hstcr-lake"

#: Parquet writer settings: zstd compresses the pixel lists ~3x better than snappy at
#: similar speed; statistics let DuckDB/Athena skip row groups.
PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, write_statistics=True)

_TMP_SUFFIX = ".tmp"


def _dictionary_columns(table: str) -> list[str]:
    """Top-level string columns: the only ones dictionary encoding pays for.

    Dictionary-encoding the float columns and pixel lists too (pyarrow's default) halves the
    write speed of a cosmic_rays file and makes it bigger (measured on an ACS/WFC dark:
    0.137 s / 9.7 MB -> 0.070 s / 8.1 MB).
    """
    return [f.name for f in TABLES[table] if pa.types.is_string(f.type)]


def s3_filesystem(region: str | None = None) -> pafs.S3FileSystem:
    """A pyarrow S3 file system honouring the standard AWS endpoint variables.

    ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) points it at an emulator such as
    moto; credentials come from the usual AWS chain (environment, profile, role).
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    kwargs: dict = {"region": region}
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        if not host:
            scheme, host = "https", endpoint
        kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
        # emulators accept any key; pyarrow needs one when no AWS profile exists
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs.update(access_key="testing", secret_key="testing")
    return pafs.S3FileSystem(**kwargs)


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

    def table_uri(self, table: str) -> str:
        """URI of a table's folder (``s3://...`` or an absolute local path)."""
        return f"s3://{self.table_dir(table)}" if self.is_s3 else self.table_dir(table)

    # ---- writing -------------------------------------------------------------------------
    def write(self, table: str, data: pa.Table, key: PartitionKey, dataset: str) -> str:
        """Write one dark's rows for ``table`` atomically, replacing any previous file.

        ``data`` must not contain the partition columns; it is cast to the table's schema
        (so a writer can never drift from :mod:`hstcr_common.schemas`).

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
            # one stream, one buffer: the object appears only when the upload completes
            with self.fs.open_output_stream(path) as out:
                out.write(payload)
        else:
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            tmp = os.path.join(folder, f".{dataset}.parquet.{uuid.uuid4().hex[:12]}{_TMP_SUFFIX}")
            try:
                with open(tmp, "wb") as out:
                    out.write(memoryview(payload))
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return path

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
