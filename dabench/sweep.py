"""Sweeps: the specs of a sweep file (:mod:`dabench.sweepfile`) executed through the store (resumable,
failure-tolerant)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dabench.execution import Outcome, execute
from dabench.registry import Registry
from dabench.specs import RunSpec
from dabench.store import ResultStore
from dabench.sweepfile import Sweep, expand, load_sweep

__all__ = ["Progress", "Sweep", "expand", "load_sweep", "run_sweep"]


@dataclass(frozen=True)
class Progress:
    index: int
    total: int
    spec: RunSpec
    outcome: Outcome
    elapsed_s: float
    eta_s: float


def run_sweep(
    sweep: Sweep,
    registry: Registry,
    store: ResultStore,
    *,
    data_root: Path | None,
    device: str,
    force: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> list[Outcome]:
    """Run every spec (cache hits skipped, failures recorded); ETA from the mean time of runs actually executed."""
    started = time.perf_counter()
    executed_time, executed = 0.0, 0
    outcomes = []
    for index, spec in enumerate(sweep.specs, start=1):
        t0 = time.perf_counter()
        outcome = execute(
            spec, registry, store, data_root=data_root, device=device, force=force, record_user_errors=True
        )
        if outcome.status != "cached":
            executed_time += time.perf_counter() - t0
            executed += 1
        outcomes.append(outcome)
        remaining = len(sweep.specs) - index
        eta = remaining * (executed_time / executed) if executed else 0.0
        if on_progress:
            on_progress(Progress(index, len(sweep.specs), spec, outcome, time.perf_counter() - started, eta))
    return outcomes
