"""The unit of work every executor ships to a worker: a chunk of specs (as canonical dicts, so it pickles and
travels to another process, a SLURM array task or a dask worker) plus the options to run them with.

A worker builds its own registry (plugins load in the worker), runs each spec through
:func:`~dabench.run.execution.execute` with the store's per-key claims — so two workers, or two executors on one
store, never run a key twice — and returns a small, picklable summary per spec. The store is the only cache and
resume mechanism: an executor never keeps results of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dabench.specs import RunSpec


@dataclass(frozen=True)
class WorkOptions:
    """How a worker runs its specs. ``threads``: torch intra-op threads for this worker (None: dabench's default);
    ``device``: ``cpu``, ``cuda`` or ``cuda:N`` as the worker sees it."""

    store: str
    data_root: str | None = None
    device: str = "cpu"
    force: bool = False
    threads: int | None = None


@dataclass(frozen=True)
class WorkResult:
    """What a worker reports for one spec: its key, the outcome status (``ok``, ``cached``, ``busy``, ``failed``),
    the error of a failed run and the seconds it took."""

    key: str
    status: str
    error: str = ""
    seconds: float = 0.0


def run_specs(canonicals: list[dict[str, Any]], options: WorkOptions) -> list[WorkResult]:
    """Run every spec of a chunk in this process (claims, cache hits and failure recording as in a local sweep)."""
    import time

    from dabench.registry import build_registry
    from dabench.run.claims import ClaimTable
    from dabench.run.execution import execute
    from dabench.run.store import ResultStore

    if options.threads is not None:
        import torch

        torch.set_num_threads(max(1, int(options.threads)))
    registry = build_registry()
    store = ResultStore(options.store)
    claims = ClaimTable(Path(options.store))
    data_root = Path(options.data_root) if options.data_root else None
    results = []
    for canonical in canonicals:
        spec = RunSpec.from_canonical(canonical)
        started = time.perf_counter()
        outcome = execute(
            spec,
            registry,
            store,
            data_root=data_root,
            device=options.device,
            force=options.force,
            record_user_errors=True,
            claims=claims,
        )
        error = str(outcome.record.get("error") or "") if outcome.status == "failed" else ""
        results.append(WorkResult(spec.key(), outcome.status, error, time.perf_counter() - started))
    return results
