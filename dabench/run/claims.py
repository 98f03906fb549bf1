"""Per-key claims: the only coordination between workers, processes and hosts sharing one result store.

Claiming a key is the atomic, exclusive creation (``O_CREAT | O_EXCL``) of ``<root>/claims/<key>.claim``, a JSON
file naming its owner (``host``, ``pid``, a random ``token``, ``started``, ``heartbeat``; times in Unix seconds).
While the run is in progress a daemon thread refreshes ``heartbeat`` (every ``heartbeat_s``; atomically, temp file +
``os.replace``). A claim is **stale** when its heartbeat is older than ``timeout_s`` or its owner pid is dead on this
host; a stale claim may be taken over. A taker holds the store's takeover lock (``claims/.takeover.lock``, an
``flock`` the kernel frees if the taker dies), re-reads the claim, and only if it is still stale renames it to a
name unique to the taker (checking that it moved the claim it judged, else putting it back) and removes it; then it
competes for the exclusive create like everyone else. So of several takers only one removes a stale claim, and only
one creator wins. The claim is released (its file removed) when the run ends, also on exceptions and interrupts.
An owner that finds its claim replaced by another's (possible only if it stalled past the timeout) marks itself
``lost``; it finishes its run, which is deterministic, so the record is the same either way.

The default timeout is 120 s; ``DABENCH_CLAIM_TIMEOUT`` (seconds) overrides it. Hosts sharing a store must have
clocks that agree to well within the timeout (heartbeats are wall-clock times).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType

from dabench.errors import StoreError
from dabench.run.store import pid_alive

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_HEARTBEAT_S = 10.0


@dataclass(frozen=True)
class ClaimInfo:
    """The owner of a claim, as written in its file."""

    host: str
    pid: int
    token: str
    started: float
    heartbeat: float

    def describe(self) -> str:
        age = max(0.0, time.time() - self.started)
        return f"host {self.host}, pid {self.pid}, running for {age:.0f} s"


def _read(path: Path) -> ClaimInfo | None:
    """The claim in ``path``; a file being created (empty) or damaged reads as an anonymous claim whose heartbeat is
    the file's mtime. None when there is no file."""
    try:
        text = path.read_text()
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read claim {path}: {exc}. Check the permissions of the store's claims.") from None
    try:
        data = json.loads(text)
        return ClaimInfo(
            host=str(data["host"]),
            pid=int(data["pid"]),
            token=str(data["token"]),
            started=float(data["started"]),
            heartbeat=float(data["heartbeat"]),
        )
    except (ValueError, KeyError, TypeError):
        return ClaimInfo(host="?", pid=0, token="", started=mtime, heartbeat=mtime)


class Claim:
    """A held claim on one key; a context manager that releases it. ``lost`` turns true if another owner replaced
    it (only after it went stale, e.g. this process was suspended for longer than the timeout)."""

    def __init__(self, table: ClaimTable, key: str, info: ClaimInfo) -> None:
        self.table, self.key, self.info = table, key, info
        self.path = table.path(key)
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"dabench-claim-{key[:12]}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.table.heartbeat_s):
            self.refresh()

    def refresh(self) -> None:
        """Write a fresh heartbeat if the claim is still ours (re-create it if it vanished)."""
        current = _read(self.path)
        if current is not None and current.token != self.info.token:
            self.lost = True
            return
        self.info = replace(self.info, heartbeat=time.time())
        text = json.dumps(asdict(self.info))
        if current is None:
            with contextlib.suppress(FileExistsError, OSError):
                self.table.create(self.path, text)
            return
        tmp = self.path.with_name(f".{self.path.name}.{self.info.token}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        """Stop the heartbeat and remove the claim file if it is still ours. Safe to call twice."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        current = _read(self.path)
        if current is not None and current.token == self.info.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class ClaimTable:
    """The claims of one store: ``<root>/claims/<key>.claim``."""

    def __init__(self, root: Path | str, *, timeout_s: float | None = None, heartbeat_s: float | None = None) -> None:
        self.folder = Path(root) / "claims"
        self.timeout_s = float(timeout_s if timeout_s is not None else default_timeout())
        beat = heartbeat_s if heartbeat_s is not None else min(DEFAULT_HEARTBEAT_S, self.timeout_s / 4)
        self.heartbeat_s = float(beat)
        self.host = socket.gethostname()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.claim"

    def holder(self, key: str) -> ClaimInfo | None:
        """The current claim on ``key`` (live or stale), or None."""
        return _read(self.path(key))

    def is_stale(self, info: ClaimInfo) -> bool:
        """Heartbeat older than the timeout, or an owner pid that is dead on this host."""
        if time.time() - info.heartbeat > self.timeout_s:
            return True
        return info.host == self.host and info.pid > 0 and info.pid != os.getpid() and not pid_alive(info.pid)

    def live_holder(self, key: str) -> ClaimInfo | None:
        """The claim on ``key`` if one is held and not stale, else None."""
        info = self.holder(key)
        return info if info is not None and not self.is_stale(info) else None

    def create(self, path: Path, text: str) -> None:
        """Exclusively create ``path`` with ``text``; raises ``FileExistsError`` when it exists."""
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        except BaseException:
            path.unlink(missing_ok=True)  # never leave an empty claim behind (it would block until the timeout)
            raise

    def acquire(self, key: str) -> Claim | None:
        """Claim ``key`` (taking over a stale claim), or None when another owner holds a live claim on it."""
        path = self.path(key)
        now = time.time()
        info = ClaimInfo(host=self.host, pid=os.getpid(), token=secrets.token_hex(8), started=now, heartbeat=now)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the claims folder {self.folder}: {exc.strerror or exc}.") from None
        for _ in range(8):  # each pass either claims, finds a live owner, or saw the claim change under it
            try:
                self.create(path, json.dumps(asdict(info)))
                return Claim(self, key, info)
            except FileExistsError:
                pass  # someone holds the key: look at their claim below
            except OSError as exc:
                raise StoreError(f"cannot create claim {path}: {exc.strerror or exc}. Check --store.") from None
            current = _read(path)
            if current is None:
                continue  # released between our create and read: try again
            if not self.is_stale(current):
                return None
            self._take_over(path, info.token)
        return None

    def _take_over(self, path: Path, token: str) -> None:
        """Remove the claim at ``path`` if it is still stale, holding the store's takeover lock (an ``flock``, freed
        by the kernel if its holder dies) so that of several takers only one judges and removes it."""
        try:
            fd = os.open(self.folder / ".takeover.lock", os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot lock {self.folder} to take over a claim: {exc.strerror or exc}.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            current = _read(path)
            if current is None or not self.is_stale(current):
                return  # released, or taken over by someone else meanwhile: the caller looks again
            aside = path.with_name(f".{path.name}.{token}.stale")
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                return
            except OSError as exc:
                raise StoreError(f"cannot take over stale claim {path}: {exc.strerror or exc}.") from None
            moved = _read(aside)
            if moved is not None and moved.token != current.token:
                # its owner released it and a new one was made between our read and the rename: put that back
                with contextlib.suppress(OSError):
                    os.link(aside, path)
            aside.unlink(missing_ok=True)
        finally:
            os.close(fd)  # also releases the lock


def default_timeout() -> float:
    """``DABENCH_CLAIM_TIMEOUT`` seconds, or 120."""
    value = os.environ.get("DABENCH_CLAIM_TIMEOUT")
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise StoreError(f"DABENCH_CLAIM_TIMEOUT={value!r} must be a positive number of seconds (default 120).")
    return seconds
