"""ResultStore: one strict-JSON record per run key, written atomically (temp file + ``os.replace``).

Integrity rules:

- A run killed mid-way leaves no record (the temp file is never renamed). Temp files are named
  ``.<key12>-<host8>-<pid>-<random>.tmp``; opening the store for writing (:meth:`ResultStore.ensure_writable`)
  removes those whose writer is dead on this host or that are older than an hour.
- Records are strict JSON: non-finite floats anywhere in a record become ``null`` (read it as "undefined"), and a
  file with ``NaN``/``Infinity`` literals is unreadable like a truncated one.
- Records are created with mode ``0o644`` masked by the process umask (readable by the group when the umask allows).
- Reading never raises for an unreadable record: :meth:`ResultStore.lookup` reports it, and whoever is about to
  re-run that key moves it aside with :meth:`ResultStore.quarantine` (to ``<root>/unreadable/``).
- Failed runs are records with ``status = "failed"`` and are retried on the next run (they are not cache hits).
- Coordination between concurrent writers of one key is :mod:`dabench.run.claims` (``<root>/claims/``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dabench.errors import StoreError

#: temp files older than this are removed when the store is opened for writing, whoever wrote them
STALE_TEMP_AGE_S = 3600.0


@dataclass(frozen=True)
class StoreScan:
    """Everything in a store: the readable records (key order) and the paths of records that could not be read
    (truncated, corrupt or not strict JSON). Reading never moves or deletes anything."""

    records: list[dict[str, Any]]
    unreadable: list[Path]


@dataclass(frozen=True)
class Lookup:
    """What the store holds for one key: ``record`` (None when absent or unreadable) and, when the file exists but
    cannot be read, ``problem`` (why)."""

    path: Path
    record: dict[str, Any] | None
    problem: str | None = None


def host_tag() -> str:
    """8 hex digits identifying this host (in temp-file names, so a pid is only judged on its own host)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a process we may not signal exists too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def strict(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, recursively through dicts and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-strict JSON constant {name}")


def parse_record(text: str) -> dict[str, Any]:
    """Parse a record file's text as strict JSON; raises ``ValueError`` when it is not a run record."""
    record = json.loads(text, parse_constant=_reject_constant)
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        raise ValueError("not a run record (no 'key')")
    return record


class ResultStore:
    """Records live at ``<root>/records/<key[:2]>/<key>.json``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / "records" / key[:2] / f"{key}.json"

    def ensure_writable(self) -> None:
        """Create the store and prove it is writable (or raise :class:`StoreError` saying what to do); remove stale
        temp files left by killed writers."""
        records = self.root / "records"
        try:
            records.mkdir(parents=True, exist_ok=True)
            probe = records / f".probe-{host_tag()}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            probe.unlink()
        except OSError as exc:
            raise StoreError(
                f"cannot write to result store {str(self.root)!r}: {exc.strerror or exc}. "
                "Pass a writable directory with --store DIR."
            ) from None
        self.clean_stale_temp()

    def clean_stale_temp(self, max_age_s: float = STALE_TEMP_AGE_S) -> list[Path]:
        """Remove temp files of killed writes (records, and claim heartbeats/takeovers): older than ``max_age_s``, or
        written by a process of this host that is no longer alive. Returns the removed paths."""
        base, claims = self.root / "records", self.root / "claims"
        removed: list[Path] = []
        now, me = time.time(), host_tag()
        leftovers = [*base.glob(".*.tmp"), *base.glob("*/.*.tmp"), *claims.glob(".*.tmp"), *claims.glob(".*.stale")]
        for path in leftovers:
            parts = path.name[1:].removesuffix(".tmp").split("-")
            try:
                old = now - path.stat().st_mtime > max_age_s
            except FileNotFoundError:
                continue
            dead = len(parts) == 4 and parts[1] == me and parts[2].isdigit() and not pid_alive(int(parts[2]))
            if old or dead:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def lookup(self, key: str) -> Lookup:
        """The record for ``key``, or why its file cannot be read. Never raises for a bad file."""
        path = self.path(key)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return Lookup(path, None)
        except (OSError, UnicodeDecodeError) as exc:
            return Lookup(path, None, f"cannot read it: {exc}")
        try:
            return Lookup(path, parse_record(text))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            return Lookup(path, None, f"not a valid strict-JSON record: {exc}")

    def get(self, key: str) -> dict[str, Any] | None:
        """The readable record for ``key``, else None (absent or unreadable: see :meth:`lookup`)."""
        return self.lookup(key).record

    def completed(self, key: str) -> dict[str, Any] | None:
        """The record for ``key`` if it exists and succeeded (a cache hit), else None."""
        record = self.get(key)
        return record if record is not None and record.get("status") == "ok" else None

    def quarantine(self, path: Path) -> Path:
        """Move an unreadable record file to ``<root>/unreadable/<name>.<UTC timestamp>`` (never overwriting);
        returns where it went. Raises ``FileNotFoundError`` when it is already gone."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        folder = self.root / "unreadable"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{path.name}.{stamp}"
            suffix = 0
            while target.exists():
                suffix += 1
                target = folder / f"{path.name}.{stamp}-{suffix}"
            os.rename(path, target)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreError(
                f"cannot move unreadable record {path} aside to {folder}: {exc.strerror or exc}. "
                "Delete it by hand to re-run that spec."
            ) from None
        return target

    def put(self, record: dict[str, Any]) -> Path:
        """Write ``record`` (which must carry ``key``) atomically as strict JSON (non-finite floats become null);
        returns its path."""
        key = record["key"]
        text = json.dumps(strict(record), indent=1, sort_keys=True, allow_nan=False)
        return _write_atomic(self.path(key), text.encode(), tag=key[:12], what="record")

    def figure_path(self, key: str, name: str) -> Path:
        """Where run ``key``'s figure ``name`` lives: ``figures/<key[:2]>/<key>/<name>.png``."""
        return self.root / "figures" / key[:2] / key / f"{name}.png"

    def put_figure(self, key: str, name: str, data: bytes) -> Path:
        """Write a run's PNG figure atomically (before its record, which lists it); returns its path."""
        return _write_atomic(self.figure_path(key, name), data, tag=name, what="figure")

    def scan(self) -> StoreScan:
        """Every readable record plus the unreadable record files (for reports that must not drop them silently)."""
        records: list[dict[str, Any]] = []
        unreadable: list[Path] = []
        base = self.root / "records"
        for path in sorted(base.glob("*/*.json")) if base.is_dir() else []:
            try:
                record = parse_record(path.read_text())
                if "spec" not in record:
                    raise ValueError("not a run record")
            except (OSError, UnicodeDecodeError, ValueError):
                unreadable.append(path)
                continue
            records.append(record)
        return StoreScan(records, unreadable)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record, in key order (unreadable ones are skipped; :meth:`scan` lists them)."""
        base = self.root / "records"
        if not base.is_dir():
            return
        for path in sorted(base.glob("*/*.json")):
            try:
                yield parse_record(path.read_text())
            except (OSError, UnicodeDecodeError, ValueError):
                continue


def _write_atomic(path: Path, data: bytes, *, tag: str, what: str) -> Path:
    """Write ``data`` to ``path`` through a uniquely named temporary file in its folder (fsynced, then renamed), so
    a reader sees the old file or the whole new one, never a part; ``tag`` names the temporary file, ``what`` the
    error (a :class:`StoreError` saying what could not be written where)."""
    tmp = path.parent / f".{tag}-{host_tag()}-{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)  # the umask applies, as for open()
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StoreError(f"cannot write {what} to {path}: {exc.strerror or exc}. Check --store.") from None
    return path
