"""Sweeps: the specs of a sweep file (:mod:`dabench.run.sweepfile`) executed through the store — resumable,
failure-tolerant, and safe to run from several processes or hosts on one store at once.

Each spec goes through :func:`~dabench.run.execution.execute`. A key another worker has claimed (``busy``) is deferred;
after the rest, the sweep waits for the deferred keys (polling; a dead owner's claim goes stale and is taken over)
and reports them as cached when the other worker completed them. An unreadable record is moved aside and its spec
re-run (the outcome's ``notes`` say so). :func:`count_outcomes` gives the summary counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dabench.registry import Registry
from dabench.run.claims import ClaimTable
from dabench.run.execution import Outcome, execute, wait_for_busy
from dabench.run.store import ResultStore
from dabench.run.sweepfile import Sweep, expand, load_sweep
from dabench.specs import RunSpec

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
) -> list[Outcome]:
    """Run every spec (cache hits skipped, failures recorded, busy keys waited for); returns the final outcomes in
    sweep order. ETA from the mean time of the runs actually executed here."""
    claims = claims if claims is not None else ClaimTable(store.root)
    total = len(sweep.specs)
    started = time.perf_counter()
    executed_time, executed = 0.0, 0
    outcomes: dict[int, Outcome] = {}
    pending: dict[int, tuple[RunSpec, Outcome]] = {}

    def report(index: int, outcome: Outcome, remaining: int) -> None:
        if on_progress is not None:
            eta = remaining * (executed_time / executed) if executed else 0.0
            spec = sweep.specs[index - 1]
            on_progress(Progress(index, total, spec, outcome, time.perf_counter() - started, eta))

    for index, spec in enumerate(sweep.specs, start=1):
        t0 = time.perf_counter()
        outcome = execute(
            spec,
            registry,
            store,
            data_root=data_root,
            device=device,
            force=force,
            record_user_errors=True,
            claims=claims,
        )
        if outcome.status in ("ok", "failed"):
            executed_time += time.perf_counter() - t0
            executed += 1
        if outcome.status == "busy":
            pending[index] = (spec, outcome)
        else:
            outcomes[index] = outcome
        report(index, outcome, total - index)
    waiting = wait_for_busy(
        pending,
        registry,
        store,
        claims=claims,
        poll_s=poll_s,
        data_root=data_root,
        device=device,
        force=force,
        record_user_errors=True,
    )
    for index, outcome in waiting:
        outcomes[index] = outcome
        report(index, outcome, 0)
    return [outcomes[i] for i in range(1, total + 1)]
