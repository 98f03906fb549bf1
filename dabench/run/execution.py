"""Run a spec through the store: cache hits are skipped, results and failures are recorded atomically, and a per-key
claim (:mod:`dabench.run.claims`) makes sure two workers sharing a store never run the same key at once.

Outcomes (``Outcome.status``): ``cached`` (a completed record exists), ``ok``, ``failed`` and ``busy`` (another
worker holds a live claim on the key; nothing was run; :func:`wait_for_busy` waits for it). Every failed record
has ``failure``:

- ``"diverged"``: the method's loss, parameters or outputs became non-finite
  (:class:`~dabench.errors.RunDiverged`); the record also has ``divergence = {"step", "total", "detail"}``.
- ``"invalid"``: a user error (:class:`~dabench.errors.DabenchError`: bad input, missing data). In a single run it
  is raised and nothing is stored; inside a sweep (``record_user_errors=True``) it is recorded so the sweep goes on.
- ``"error"``: any other exception (a method's crash), stored with its error and traceback.
- ``"worker_died"``: the worker process running it died (a signal, the out-of-memory killer) twice; recorded by
  the executor with :func:`record_worker_died` (the error says how the worker died).

Interrupts propagate and store nothing (the claim is released). An unreadable record file for the key is moved
aside (:meth:`~dabench.run.store.ResultStore.quarantine`) under the claim and the spec is re-run; ``Outcome.notes``
says so, for the CLI to warn.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dabench.errors import DabenchError, RunDiverged
from dabench.registry import Registry
from dabench.run.claims import ClaimInfo, ClaimTable
from dabench.run.store import ResultStore, strict
from dabench.runspec import RunSpec

if TYPE_CHECKING:
    from dabench.run.runner import RunResult

RecordState = tuple[int, int, int] | None  # (inode, size, mtime_ns) of a record file, None when absent


@dataclass(frozen=True)
class Outcome:
    """The result of executing one spec.

    ``status``: ``cached``, ``ok``, ``failed`` or ``busy``. ``waited``: the key was busy and this is what the other
    worker stored. ``notes``: warnings for the user. For ``busy``: ``holder`` (the live claim) and ``seen`` (the
    record file's state when the key was found busy, to tell the other worker's record from an older one).
    """

    status: str
    record: dict[str, Any]
    waited: bool = False
    notes: tuple[str, ...] = ()
    holder: ClaimInfo | None = None
    seen: RecordState = None


def record_state(path: Path) -> RecordState:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def failed_record(spec: RunSpec, exc: BaseException, failure: str = "error") -> dict[str, Any]:
    """The record of a failed run; ``failure`` is ``"diverged"``, ``"invalid"`` or ``"error"``."""
    record: dict[str, Any] = {
        "key": spec.key(),
        "status": "failed",
        "failure": failure,
        "spec": spec.canonical(),
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if isinstance(exc, RunDiverged):
        record["divergence"] = {"step": exc.step, "total": exc.total, "detail": exc.detail}
    return record


class WorkerDied(Exception):  # noqa: N818 - a run outcome, recorded as ``failure = "worker_died"``
    """The process running a spec died before it stored a result."""


def record_worker_died(spec: RunSpec, store: ResultStore, claims: ClaimTable, detail: str) -> Outcome:
    """Record ``spec`` as failed with ``failure = "worker_died"`` and ``detail`` (how its worker died), under its
    claim (a dead worker's claim is stale and taken over). Another worker's live claim gives ``busy``; a completed
    record (the worker died after storing it) is returned as ``ok``."""
    key = spec.key()
    claim = claims.acquire(key)
    if claim is None:
        holder = claims.holder(key)
        busy = {"key": key, "status": "busy", "spec": spec.canonical(), "claimed_by": holder and asdict(holder)}
        return Outcome("busy", busy, holder=holder, seen=record_state(store.path(key)))
    with claim:
        done = store.completed(key)
        if done is not None:
            return Outcome("ok", done)
        record = failed_record(spec, WorkerDied(f"worker died: {detail}"), "worker_died")
        store.put(record)
    return Outcome("failed", record)


def execute(
    spec: RunSpec,
    registry: Registry,
    store: ResultStore,
    *,
    data_root: Path | None = None,
    device: str = "cpu",
    force: bool = False,
    record_user_errors: bool = False,
    claims: ClaimTable | None = None,
    examples: int = 0,
    on_result: Callable[[RunResult], None] | None = None,
) -> Outcome:
    """Run ``spec`` unless a completed record exists (or ``force``) or another worker holds its claim; store and
    return the outcome. ``on_result`` sees the finished :class:`~dabench.run.runner.RunResult` (with ``examples``
    test images and predictions kept, segmentation) before it is stored; cached runs have none."""
    key = spec.key()
    path = store.path(key)
    if not force:
        cached = store.completed(key)
        if cached is not None:
            return Outcome("cached", cached)
    claims = claims if claims is not None else ClaimTable(store.root)
    seen = record_state(path)
    claim = claims.acquire(key)
    if claim is None:
        holder = claims.holder(key)
        busy = {"key": key, "status": "busy", "spec": spec.canonical(), "claimed_by": holder and asdict(holder)}
        return Outcome("busy", busy, holder=holder, seen=seen)
    notes: list[str] = []
    with claim:
        found = store.lookup(key)  # again: another worker may have finished it before we claimed
        if not force and found.record is not None and found.record.get("status") == "ok":
            return Outcome("cached", found.record)
        if found.problem is not None:
            with contextlib.suppress(FileNotFoundError):  # another worker moved it aside first
                moved = store.quarantine(found.path)
                notes.append(f"record {found.path} was unreadable ({found.problem}); moved it to {moved} and re-ran it")
        figures: dict[str, bytes] = {}
        record = strict(
            _run(
                spec,
                registry,
                data_root=data_root,
                device=device,
                record_user_errors=record_user_errors,
                examples=examples,
                on_result=on_result,
                figures=figures,
            )
        )
        for name, data in figures.items():  # the record lists them: write them first
            store.put_figure(key, name, data)
        store.put(record)
    return Outcome(record["status"], record, notes=tuple(notes))


def _run(
    spec: RunSpec,
    registry: Registry,
    *,
    data_root: Path | None,
    device: str,
    record_user_errors: bool,
    examples: int = 0,
    on_result: Callable[[RunResult], None] | None = None,
    figures: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """The run's record (failures recorded); its figures, when it drew any, are added to ``figures``."""
    from dabench.run.runner import run

    try:
        result = run(spec, registry, data_root=data_root, device=device, examples=examples)
        if on_result is not None:
            on_result(result)
        if figures is not None:
            figures.update(result.figures)
        return result.to_record()
    except RunDiverged as exc:
        return failed_record(spec, exc, "diverged")
    except DabenchError as exc:
        if not record_user_errors:
            raise
        return failed_record(spec, exc, "invalid")
    except Exception as exc:  # noqa: BLE001 - a method's crash is a result to record, not a reason to stop
        return failed_record(spec, exc, "error")


def settle(
    spec: RunSpec,
    busy: Outcome,
    registry: Registry,
    store: ResultStore,
    *,
    claims: ClaimTable,
    data_root: Path | None = None,
    device: str = "cpu",
    force: bool = False,
    record_user_errors: bool = False,
) -> Outcome:
    """One look at a key found ``busy``: still ``busy`` while a live claim is held (possibly a new one); the other
    worker's record (``waited``) once it released the claim; else (its owner died or stored nothing) the outcome
    of running it here — a dead owner's claim goes stale and is taken over."""
    key = spec.key()
    if claims.live_holder(key) is not None:
        return busy
    found = store.lookup(key)
    if found.record is not None and record_state(found.path) != busy.seen:
        status = "cached" if found.record.get("status") == "ok" else "failed"
        return Outcome(status, found.record, waited=True)
    outcome = execute(
        spec,
        registry,
        store,
        data_root=data_root,
        device=device,
        force=force,
        record_user_errors=record_user_errors,
        claims=claims,
    )
    return replace(outcome, waited=True) if outcome.status == "cached" else outcome


def wait_for_busy(
    pending: MutableMapping[int, tuple[RunSpec, Outcome]],
    registry: Registry,
    store: ResultStore,
    *,
    claims: ClaimTable,
    poll_s: float = 0.5,
    **options: Any,
) -> Iterator[tuple[int, Outcome]]:
    """Poll the busy keys in ``pending`` (index -> (spec, busy outcome)) until each settles; yields (index, outcome)
    as they do, removing them from ``pending``. Bounded by the claims' heartbeats: a dead owner's claim goes stale."""
    while pending:
        settled = False
        for index in list(pending):
            spec, busy = pending[index]
            outcome = settle(spec, busy, registry, store, claims=claims, **options)
            if outcome.status == "busy":
                pending[index] = (spec, outcome)
                continue
            del pending[index]
            settled = True
            yield index, outcome
        if pending and not settled:
            time.sleep(poll_s)
