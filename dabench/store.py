"""ResultStore: one JSON record per run key, written atomically (temp file + ``os.replace``).

A run killed mid-way leaves no record (the temp file is never renamed); failed runs are records with
``status = "failed"`` and are retried on the next run (they are not cache hits).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dabench.errors import StoreError


@dataclass(frozen=True)
class StoreScan:
    """Everything in a store: the readable records (key order) and the paths of records that could not be read
    (truncated, corrupt or not strict JSON). Reading never moves or deletes anything."""

    records: list[dict[str, Any]]
    unreadable: list[Path]


class ResultStore:
    """Records live at ``<root>/records/<key[:2]>/<key>.json``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / "records" / key[:2] / f"{key}.json"

    def ensure_writable(self) -> None:
        """Create the store and prove it is writable, or raise :class:`StoreError` saying what to do."""
        try:
            (self.root / "records").mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root / "records", prefix=".probe-", delete=True):
                pass
        except OSError as exc:
            raise StoreError(
                f"cannot write to result store {str(self.root)!r}: {exc.strerror or exc}. "
                "Pass a writable directory with --store DIR."
            ) from None

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"record {path} is unreadable ({exc}); delete it to re-run that spec.") from None

    def completed(self, key: str) -> dict[str, Any] | None:
        """The record for ``key`` if it exists and succeeded (a cache hit), else None."""
        record = self.get(key)
        return record if record is not None and record.get("status") == "ok" else None

    def put(self, record: dict[str, Any]) -> Path:
        """Write ``record`` (which must carry ``key``) atomically; returns its path."""
        path = self.path(record["key"])
        text = json.dumps(record, indent=1, sort_keys=True, allow_nan=True)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{record['key'][:12]}-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write record to {path}: {exc.strerror or exc}. Check --store.") from None
        return path

    def scan(self) -> StoreScan:
        """Every readable record plus the unreadable record files (for reports that must not drop them silently)."""
        records: list[dict[str, Any]] = []
        unreadable: list[Path] = []
        base = self.root / "records"
        for path in sorted(base.glob("*/*.json")) if base.is_dir() else []:
            try:
                record = json.loads(path.read_text())
                if not isinstance(record, dict) or "key" not in record or "spec" not in record:
                    raise ValueError("not a run record")
            except (OSError, ValueError):
                unreadable.append(path)
                continue
            records.append(record)
        return StoreScan(records, unreadable)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record, in key order."""
        base = self.root / "records"
        if not base.is_dir():
            return
        for path in sorted(base.glob("*/*.json")):
            try:
                yield json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
