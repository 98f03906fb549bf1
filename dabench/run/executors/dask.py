"""The ``dask`` executor: specs as tasks on a dask.distributed cluster (``pip install dabench[dask]``), for
several hosts without SLURM.

With a scheduler address (``--scheduler tcp://host:8786``) it connects a ``Client`` to that cluster; the store must
then be at the same absolute path on every worker's host (a shared filesystem). Without one it starts a
``LocalCluster`` on this machine — worker processes (``workers``, default: the CPUs this process may use), one
thread each, torch pinned to one thread, listening on the loopback interface only, retrying the task of a worker
that died once.

One task per spec: ``client.submit(run_specs, [canonical], options, key="dabench-<key>", pure=False)``; results
arrive through ``as_completed`` in the calling thread. dask has no say in caching: the store is the only cache, and
its per-key claims keep a key from running twice, also beside other executors on the same store. dask reschedules
the task of a worker that died (its ``allowed-failures``); when it gives up (``KilledWorker``) the spec is recorded
failed with ``failure = "worker_died"``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dabench.errors import SpecError
from dabench.run.claims import ClaimTable
from dabench.run.executors import Executor, ResultCallback
from dabench.run.executors.slurm import absolute
from dabench.run.store import ResultStore
from dabench.run.worker import WorkOptions, WorkResult, run_specs
from dabench.runspec import RunSpec

INSTALL_HINT = "the dask executor needs dask.distributed: install dabench[dask] (pip install 'dabench[dask]')"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise SpecError(f"{INSTALL_HINT}, or use --jobs N on one machine.") from None
    return distributed


class DaskExecutor(Executor):
    """Runs one dask task per spec on a scheduler (``scheduler``) or a local cluster of ``workers`` processes."""

    name = "dask"

    def __init__(self, *, scheduler: str | None = None, workers: int | None = None, timeout_s: float = 10.0) -> None:
        distributed = _distributed()
        if workers is not None and workers < 1:
            raise SpecError(f"the dask local cluster needs at least 1 worker (--jobs N); got {workers}.")
        self.distributed = distributed
        self.cluster: Any = None
        self.threads: int | None = None
        self.submitted: Counter[str] = Counter()
        if scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout=timeout_s, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise SpecError(
                    f"cannot reach the dask scheduler at {scheduler!r} ({exc}). Start one ('dask scheduler', then "
                    "'dask worker ADDRESS' on each host) and pass its address, or leave out --scheduler to use a "
                    "local cluster."
                ) from None
            return
        from dabench.run.threads import available_cpus

        self.cluster = distributed.LocalCluster(
            n_workers=workers or available_cpus(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
            scheduler_kwargs={"allowed_failures": 1},  # a spec whose worker dies is retried once
        )
        self.client = distributed.Client(self.cluster, set_as_default=False)
        self.threads = 1

    @property
    def parallelism(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def task_key(self, key: str) -> str:
        """The dask key of a spec: ``dabench-<key>``, suffixed ``-<n>`` when it is submitted again (a re-run after
        a busy key), so the scheduler never hands back an earlier attempt's result."""
        n = self.submitted[key]
        self.submitted[key] += 1
        return f"dabench-{key}" if n == 0 else f"dabench-{key}-{n}"

    def run(
        self, specs: Sequence[RunSpec], options: WorkOptions, on_result: ResultCallback | None = None
    ) -> list[WorkResult]:
        """Submit one task per spec and deliver the results as they complete; returns them in spec order."""
        options = absolute(options)
        if self.threads is not None and options.threads is None:
            options = replace(options, threads=self.threads)
        store, claims = ResultStore(options.store), ClaimTable(Path(options.store))
        futures = {
            self.client.submit(run_specs, [spec.canonical()], options, key=self.task_key(spec.key()), pure=False): i
            for i, spec in enumerate(specs)
        }
        results: dict[int, WorkResult] = {}
        try:
            for future in self.distributed.as_completed(futures, loop=self.client.loop):
                index = futures[future]
                try:
                    result = future.result()[0]
                except self.distributed.KilledWorker as exc:
                    died = record_died(specs[index], store, claims, f"dask gave up on it ({exc})")
                    result = died
                results[index] = result
                if on_result is not None:
                    on_result(index, result)
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                self.client.cancel(pending)
        return [results[i] for i in range(len(specs))]

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def record_died(spec: RunSpec, store: ResultStore, claims: ClaimTable, detail: str) -> WorkResult:
    """Record a spec whose workers kept dying as failed (``worker_died``); its :class:`WorkResult`."""
    from dabench.run.execution import record_worker_died

    outcome = record_worker_died(spec, store, claims, detail)
    return WorkResult(spec.key(), outcome.status, str(outcome.record.get("error") or ""))
