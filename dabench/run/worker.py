"""The unit of work every executor ships to a worker: a chunk of specs (as canonical dicts, so it pickles and
travels to another process, a SLURM array task or a dask worker) plus the options to run them with.

A worker builds its own registry (plugins load in the worker), runs each spec through
:func:`~dabench.run.execution.execute` with the store's per-key claims — so two workers, or two executors on one
store, never run a key twice — and returns a small, picklable summary per spec. The store is the only cache and
resume mechanism: an executor never keeps results of its own.

Test-only fault injection: ``DABENCH_TEST_KILL_KEY=PREFIX[:TIMES][,PREFIX[:TIMES]...]`` makes a worker that
starts a spec whose key starts with ``PREFIX`` claim the key and then kill itself with ``SIGKILL`` — the state a
worker killed mid-run leaves behind (a claim held by a dead pid, no record) — the first ``TIMES`` times (default 1),
counted with files in ``DABENCH_TEST_KILL_DIR`` (required with it). Nothing reads these variables otherwise.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dabench.runspec import RunSpec

if TYPE_CHECKING:
    from dabench.registry import Registry
    from dabench.run.claims import ClaimTable
    from dabench.run.store import ResultStore

KILL_KEY_ENV = "DABENCH_TEST_KILL_KEY"
KILL_DIR_ENV = "DABENCH_TEST_KILL_DIR"


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
    the error of a failed run, the seconds it took and warnings for the user (``notes``)."""

    key: str
    status: str
    error: str = ""
    seconds: float = 0.0
    notes: tuple[str, ...] = ()


def run_specs(canonicals: list[dict[str, Any]], options: WorkOptions) -> list[WorkResult]:
    """Run every spec of a chunk in this process (claims, cache hits and failure recording as in a local sweep)."""
    from dabench.registry import build_registry
    from dabench.run.claims import ClaimTable
    from dabench.run.store import ResultStore

    if options.threads is not None:  # the executor's choice (recorded as rule "--threads" in provenance)
        from dabench.run.threads import ensure_threads

        ensure_threads(max(1, int(options.threads)))
    registry = build_registry()
    store = ResultStore(options.store)
    claims = ClaimTable(Path(options.store))
    return [run_one(RunSpec.from_canonical(c), options, registry, store, claims) for c in canonicals]


def run_one(
    spec: RunSpec, options: WorkOptions, registry: Registry, store: ResultStore, claims: ClaimTable
) -> WorkResult:
    """Run one spec through :func:`~dabench.run.execution.execute` with claims; its :class:`WorkResult`."""
    from dabench.run.execution import execute

    started = time.perf_counter()
    _kill_for_test(spec.key(), claims)
    outcome = execute(
        spec,
        registry,
        store,
        data_root=Path(options.data_root) if options.data_root else None,
        device=options.device,
        force=options.force,
        record_user_errors=True,
        claims=claims,
    )
    error = str(outcome.record.get("error") or "") if outcome.status == "failed" else ""
    return WorkResult(spec.key(), outcome.status, error, time.perf_counter() - started, outcome.notes)


def _kill_for_test(key: str, claims: ClaimTable) -> None:
    """The test-only fault injection of the module docstring (a no-op unless ``DABENCH_TEST_KILL_KEY`` is set)."""
    wanted = os.environ.get(KILL_KEY_ENV, "").strip()
    if not wanted:
        return
    for item in wanted.split(","):
        prefix, _, times = item.strip().partition(":")
        if not prefix or not key.startswith(prefix):
            continue
        if not os.environ.get(KILL_DIR_ENV):
            from dabench.errors import SpecError

            raise SpecError(f"{KILL_KEY_ENV} (test-only) needs {KILL_DIR_ENV}, a folder to count the kills in.")
        folder = Path(os.environ[KILL_DIR_ENV])
        folder.mkdir(parents=True, exist_ok=True)
        done = len(list(folder.glob(f"{key}.*")))
        if done >= int(times or 1):
            return
        (folder / f"{key}.{done}").touch()
        if claims.acquire(key) is not None:
            os.kill(os.getpid(), signal.SIGKILL)
