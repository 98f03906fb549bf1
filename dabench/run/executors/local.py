"""The ``local`` executor: every spec in this process, one after another (``dabench sweep`` without ``--jobs``).

It uses the caller's registry (so plugins registered in-process, as tests do, are visible) and the store's claims,
like every worker (:func:`dabench.run.worker.run_one`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from dabench.registry import Registry, build_registry
from dabench.run.claims import ClaimTable
from dabench.run.executors import Executor, ResultCallback
from dabench.run.store import ResultStore
from dabench.run.worker import WorkOptions, WorkResult, run_one
from dabench.runspec import RunSpec


class LocalExecutor(Executor):
    """Runs the specs sequentially in this process. ``registry``: the registry to run with (default: a fresh
    :func:`~dabench.registry.build_registry`); ``claims``: the store's claim table (default: the store's own)."""

    name: ClassVar[str] = "local"

    def __init__(self, registry: Registry | None = None, *, claims: ClaimTable | None = None) -> None:
        self.registry = registry
        self.claims = claims

    def run(
        self, specs: Sequence[RunSpec], options: WorkOptions, on_result: ResultCallback | None = None
    ) -> list[WorkResult]:
        """Run each spec in turn; report each result as soon as it is known."""
        if self.registry is None:
            self.registry = build_registry()
        store = ResultStore(options.store)
        claims = self.claims if self.claims is not None else ClaimTable(store.root)
        results = []
        for index, spec in enumerate(specs):
            result = run_one(spec, options, self.registry, store, claims)
            results.append(result)
            if on_result is not None:
                on_result(index, result)
        return results
