"""The manifest: the list of darks a run processes (the contract between plan and process).

One work item per dark, as in ``DESIGN.md``::

    {"dataset": "j8xi01abq", "instrument": "acs_wfc", "month": "2019-03",
     "files": {"science": "s3://stpubdata/hst/public/j8xi/j8xi01abq/j8xi01abq_flt.fits",
               "support": "s3://stpubdata/hst/public/j8xi/j8xi01abq/j8xi01abq_spt.fits"},
     "urls":  {"science": "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/j8xi01abq_flt.fits",
               "support": "https://mast.stsci.edu/api/v0.1/Download/file?uri=mast:HST/product/j8xi01abq_spt.fits"}}

``files`` maps a file role (``science``, ``support``, ``dq``) to a location (a local path,
``s3://bucket/key`` or ``https://...``); ``urls`` optionally gives the same roles as HTTPS
fallbacks.  Extra keys (``group``, ``exptime_s`` ...) are kept; unknown roles are ignored by
the loader.

The canonical form is JSON Lines (``.jsonl``, what the Step Functions ItemReader reads).
:func:`read_manifest` also takes a JSON array (``.json``) and CSV (``.csv``) so a hand-made
list of darks works too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from ..model import HstcrError

ROLES = ("science", "support", "dq")
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
REQUIRED_KEYS = ("dataset", "instrument", "files")


def validate_item(item: object, where: str = "manifest item") -> dict:
    """Check one work item and return it (normalised: dataset lower-case).

    Parameters
    ----------
    item : dict
        A manifest item.
    where : str
        Used in error messages, e.g. ``"manifest.jsonl line 3"``.

    Raises
    ------
    HstcrError
        Not a JSON object, a required key missing, no ``science`` file, a location that is
        not a string, an unknown instrument or a malformed month.
    """
    from ..instruments import get_detector

    if not isinstance(item, dict):
        raise HstcrError(f"{where}: expected a JSON object, got {type(item).__name__}")
    missing = [key for key in REQUIRED_KEYS if not item.get(key)]
    if missing:
        raise HstcrError(f"{where}: missing {', '.join(missing)}")
    files = item["files"]
    if not isinstance(files, dict) or not files.get("science"):
        raise HstcrError(f"{where}: 'files' must map roles to locations and name a 'science' file")
    for key in ("files", "urls"):
        for role, location in (item.get(key) or {}).items():
            if not isinstance(location, str) or not location:
                raise HstcrError(f"{where}: {key}[{role!r}] must be a location string")
    try:
        get_detector(str(item["instrument"]))
    except HstcrError as err:
        raise HstcrError(f"{where}: {err}") from None
    month = item.get("month")
    if month is not None and not MONTH_RE.match(str(month)):
        raise HstcrError(f"{where}: month {month!r} is not YYYY-MM")
    out = dict(item)
    out["dataset"] = str(item["dataset"]).strip().lower()
    return out


def write_manifest(items: Iterable[dict], path: str | os.PathLike) -> int:
    """Write items as JSON Lines (one compact object per line); ``"-"`` writes to stdout.

    The file is written to a temporary name and renamed, so a half-written manifest never
    replaces a good one.  Returns the number of items written.
    """
    if str(path) == "-":
        n = 0
        for item in items:
            sys.stdout.write(json.dumps(item, separators=(",", ":")) + "\n")
            n += 1
        sys.stdout.flush()
        return n
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for item in items:
                fh.write(json.dumps(item, separators=(",", ":")) + "\n")
                n += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _read_text(path: str) -> str:
    if path.startswith(("s3://", "https://", "http://")):
        from ..remote import read_location

        return read_location(path).decode("utf-8")
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HstcrError("manifest not found", source=path) from None
    except UnicodeDecodeError as err:
        raise HstcrError(f"manifest is not UTF-8 text ({err.reason})", source=path) from None


def _items_from_csv(text: str, name: str) -> list[tuple[str, dict]]:
    """CSV columns: dataset, instrument, month, science, support, dq (or files.<role>,
    urls.<role>); any other non-empty column becomes an extra key."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise HstcrError("CSV manifest has no header row", source=name)
    out = []
    for lineno, row in enumerate(reader, start=2):
        item: dict = {}
        files: dict = {}
        urls: dict = {}
        for column, value in row.items():
            if column is None or value is None or value.strip() == "":
                continue
            column, value = column.strip(), value.strip()
            if column in ROLES:
                files[column] = value
            elif column.startswith("files."):
                files[column[6:]] = value
            elif column.startswith("urls."):
                urls[column[5:]] = value
            else:
                item[column] = value
        item["files"] = files
        if urls:
            item["urls"] = urls
        out.append((f"{name} line {lineno}", item))
    return out


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Read a manifest: JSON Lines, a JSON array or CSV (chosen by content/extension).

    Blank lines and lines starting with ``#`` are skipped in JSON Lines.  Every item is
    checked with :func:`validate_item`; a duplicated dataset is an error (it would be
    processed twice).

    Raises
    ------
    HstcrError
        Naming the file (and line) with the problem.
    """
    name = str(path)
    text = _read_text(name)
    stripped = text.lstrip()
    if name.lower().endswith(".csv"):
        raw = _items_from_csv(text, name)
    elif stripped.startswith("["):
        try:
            array = json.loads(text)
        except json.JSONDecodeError as err:
            raise HstcrError(f"not valid JSON: {err.msg} at line {err.lineno}", source=name) from None
        raw = [(f"{name} item {i}", item) for i, item in enumerate(array)]
    else:
        raw = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                raw.append((f"{name} line {lineno}", json.loads(line)))
            except json.JSONDecodeError as err:
                raise HstcrError(f"line {lineno} is not valid JSON: {err.msg}", source=name) from None
    items = []
    seen: dict[str, str] = {}
    for where, item in raw:
        item = validate_item(item, where)
        key = f"{item['instrument']}/{item['dataset']}"
        if key in seen:
            raise HstcrError(f"{where}: dataset {item['dataset']} already listed at {seen[key]}")
        seen[key] = where
        items.append(item)
    return items
