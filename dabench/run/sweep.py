"""Sweeps: the specs of a sweep file (:mod:`dabench.run.sweepfile`) executed through the store — resumable,
failure-tolerant, and safe to run from several processes or hosts on one store at once.

:func:`run_sweep` is the driver every executor (:mod:`dabench.run.executors`) runs under: keys with a completed
record are reported ``cached`` without being handed to the executor (unless ``force``); the executor runs the rest,
each spec through :func:`~dabench.run.execution.execute` in some worker, and the driver reports each result as it
arrives (the record is read back from the store). A key another process has claimed (``busy``) is deferred; after
the rest, the driver polls its claim and reports the other process's record (``waited``) once the claim is
released, or hands the spec to the executor again when the owner died without storing one (a dead owner's claim
goes stale and is taken over). An unreadable record is moved aside and its spec re-run (the outcome's ``notes``
say so). :func:`count_outcomes` gives the summary counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dabench.registry import Registry
from dabench.run.claims import ClaimTable
from dabench.run.execution import Outcome, RecordState, record_state
from dabench.run.executors import Executor
from dabench.run.executors.local import LocalExecutor
from dabench.run.store import ResultStore
from dabench.run.sweepfile import Sweep, expand, load_sweep
from dabench.run.worker import WorkOptions, WorkResult
from dabench.runspec import RunSpec

__all__ = ["OutcomeCounts", "Progress", "Sweep", "count_outcomes", "expand", "load_sweep", "run_sweep"]


@dataclass(frozen=True)
class Progress:
    """One reported step: spec ``index`` of ``total``. A busy spec is reported twice: when deferred (status
    ``busy``) and when settled."""

    index: int
    total: int
    spec: RunSpec
    outcome: Outcome
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class OutcomeCounts:
    """``ran``: completed here; ``cached``: completed before; ``waited``: busy elsewhere, then completed there;
    ``failed``: failed here or there."""

    ran: int
    cached: int
    waited: int
    failed: int

    def summary(self) -> str:
        return f"{self.ran} ran, {self.cached} cached, {self.waited} busy-then-cached, {self.failed} failed"


def count_outcomes(outcomes: Sequence[Outcome]) -> OutcomeCounts:
    """Summary counts of a sweep's final outcomes."""
    return OutcomeCounts(
        ran=sum(o.status == "ok" for o in outcomes),
        cached=sum(o.status == "cached" and not o.waited for o in outcomes),
        waited=sum(o.status == "cached" and o.waited for o in outcomes),
        failed=sum(o.status == "failed" for o in outcomes),
    )


def run_sweep(
    sweep: Sweep,
    registry: Registry,
    store: ResultStore,
    *,
    data_root: Path | None,
    device: str,
    force: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    claims: ClaimTable | None = None,
    poll_s: float = 0.5,
    executor: Executor | None = None,
) -> list[Outcome]:
    """Run every spec (cache hits skipped, failures recorded, busy keys waited for) through ``executor`` (default:
    :class:`~dabench.run.executors.local.LocalExecutor` with ``registry``, in this process); returns the final
    outcomes in sweep order. ETA from the mean time of the runs actually executed here and the executor's
    parallelism."""
    claims = claims if claims is not None else ClaimTable(store.root)
    executor = executor if executor is not None else LocalExecutor(registry, claims=claims)
    options = WorkOptions(
        store=str(store.root), data_root=str(data_root) if data_root else None, device=device, force=force
    )
    return _Driver(sweep, store, claims, executor, options, on_progress).run(poll_s)


class _Driver:
    """One sweep's bookkeeping: final outcomes, busy keys, timings for the ETA, progress reports."""

    def __init__(
        self,
        sweep: Sweep,
        store: ResultStore,
        claims: ClaimTable,
        executor: Executor,
        options: WorkOptions,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        self.sweep, self.store, self.claims, self.executor, self.options = sweep, store, claims, executor, options
        self.on_progress = on_progress
        self.total = len(sweep.specs)
        self.started = time.perf_counter()
        self.executed_time, self.executed = 0.0, 0
        self.outcomes: dict[int, Outcome] = {}
        self.busy: dict[int, Outcome] = {}  # index -> busy outcome (``seen``: the record's state before)
        self.waiting: set[int] = set()  # indices that were busy once: a later cache hit is the other's record

    def run(self, poll_s: float) -> list[Outcome]:
        todo: list[int] = []
        seen: dict[int, RecordState] = {}
        for index, spec in enumerate(self.sweep.specs):
            cached = None if self.options.force else self.store.completed(spec.key())
            if cached is not None:
                self.settle(index, Outcome("cached", cached))
            else:
                seen[index] = record_state(self.store.path(spec.key()))
                todo.append(index)
        self.submit(todo, seen)
        while self.busy:
            again = self.poll_busy()
            if again:
                self.submit(again, {i: self.busy.pop(i).seen for i in again})
            elif self.busy:
                time.sleep(poll_s)
        return [self.outcomes[i] for i in range(self.total)]

    def submit(self, indices: list[int], seen: dict[int, RecordState]) -> None:
        """Hand ``indices`` to the executor; report each result as it arrives."""
        if not indices:
            return
        specs = [self.sweep.specs[i] for i in indices]

        def arrived(position: int, result: WorkResult) -> None:
            index = indices[position]
            outcome = self.outcome_of(specs[position], result, seen[index])
            if outcome.status in ("ok", "failed"):
                self.executed_time += result.seconds
                self.executed += 1
            if outcome.status == "busy":
                self.busy[index] = outcome
                self.waiting.add(index)
                self.report(index, outcome)
            else:
                self.settle(index, outcome)

        self.executor.run(specs, self.options, arrived)

    def outcome_of(self, spec: RunSpec, result: WorkResult, seen: RecordState) -> Outcome:
        """The :class:`Outcome` of a worker's result, with the record it stored (read back from the store)."""
        key = spec.key()
        if result.status == "busy":
            holder = self.claims.holder(key)
            busy: dict[str, Any] = {"key": key, "status": "busy", "spec": spec.canonical()}
            return Outcome("busy", busy, holder=holder, seen=seen, notes=result.notes)
        record = self.store.lookup(key).record
        if record is None:  # the store lost it under us (removed by hand): report what the worker said
            record = {"key": key, "status": result.status, "spec": spec.canonical(), "error": result.error}
        return Outcome(result.status, record, notes=result.notes)

    def poll_busy(self) -> list[int]:
        """Settle the busy keys whose claim was released; those to run again (owner gone without a record)."""
        again = []
        for index in sorted(self.busy):
            busy = self.busy[index]
            key = self.sweep.specs[index].key()
            if self.claims.live_holder(key) is not None:
                continue
            found = self.store.lookup(key)
            if found.record is not None and record_state(found.path) != busy.seen:
                status = "cached" if found.record.get("status") == "ok" else "failed"
                del self.busy[index]
                self.settle(index, Outcome(status, found.record, waited=True))
            else:
                again.append(index)
        return again

    def settle(self, index: int, outcome: Outcome) -> None:
        if index in self.waiting and outcome.status == "cached":
            outcome = replace(outcome, waited=True)
        self.outcomes[index] = outcome
        self.report(index, outcome)

    def report(self, index: int, outcome: Outcome) -> None:
        if self.on_progress is None:
            return
        remaining = self.total - len(self.outcomes) - sum(i not in self.outcomes for i in self.busy)
        mean = self.executed_time / self.executed if self.executed else 0.0
        eta = max(0, remaining) * mean / max(1, self.executor.parallelism)
        elapsed = time.perf_counter() - self.started
        self.on_progress(Progress(index + 1, self.total, self.sweep.specs[index], outcome, elapsed, eta))
