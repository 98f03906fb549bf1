"""Executors: how a sweep's specs get run — in this process (``local``), in a pool of worker processes on this
machine (``pool``), as a SLURM job array (``slurm``) or on a dask cluster (``dask``). Executors run specs; they never
cache: the result store is the only cache and resume mechanism, and its per-key claims
(:mod:`dabench.run.claims`) the only coordination between workers, processes and hosts.

The contract every executor keeps (subclass :class:`Executor`):

- It is built with keyword settings of its own (``PoolExecutor(jobs=4)``, ``SlurmExecutor(partition=...)``); the
  CLI (``dabench/cli/run.py``) builds it from its flags, one small function per executor. :func:`executor_class`
  finds the class by name (``--executor NAME``); each lives in ``dabench/run/executors/<name>.py`` as
  ``<Name>Executor`` (``local.LocalExecutor``, ``pool.PoolExecutor``, ``slurm.SlurmExecutor``,
  ``dask.DaskExecutor``). An executor whose optional dependency is missing raises a
  :class:`~dabench.errors.DabenchError` saying which extra to install, when it is built.
- :meth:`Executor.run` gets the specs to run and the :class:`~dabench.run.worker.WorkOptions`. The sweep driver
  (:func:`dabench.run.sweep.run_sweep`) has already left out keys with a completed record (unless
  ``options.force``). Work ships as :func:`dabench.run.worker.run_specs` over chunks of ``spec.canonical()``
  dicts (picklable), which builds the worker's registry and runs each spec through the store with claims.
- As each spec's result arrives, :meth:`Executor.run` calls ``on_result(i, result)`` **from the calling thread**
  (``i`` indexes ``specs``), then returns one :class:`~dabench.run.worker.WorkResult` per spec, in spec order.
- Statuses: ``ok``, ``cached``, ``failed``, ``busy``. A ``busy`` result (another process holds a live claim on the
  key) is returned as is: the driver waits for that claim and then calls :meth:`Executor.run` again with the
  specs that still have no record from the other process.
- Work lost with its worker (a killed process, a preempted job) is the executor's to handle: re-run the specs that
  have no record yet; a spec whose worker dies twice is recorded failed with
  :func:`dabench.run.execution.record_worker_died` (``failure = "worker_died"``). A dead worker's claim goes
  stale and is taken over (at once for a dead pid on the same host; after the claim timeout elsewhere).
- :attr:`Executor.parallelism` is how many specs run at once (for the ETA); :meth:`Executor.close` frees what
  the executor holds (it is also a context manager).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import ClassVar

from dabench.errors import SpecError
from dabench.run.worker import WorkOptions, WorkResult
from dabench.runspec import RunSpec

__all__ = ["EXECUTORS", "Executor", "ResultCallback", "executor_class"]

#: ``on_result(i, result)``: the result of ``specs[i]`` has arrived
ResultCallback = Callable[[int, WorkResult], None]

#: executor name -> ``module:Class`` (imported only when chosen, so optional dependencies stay optional)
EXECUTORS: dict[str, str] = {
    "local": "dabench.run.executors.local:LocalExecutor",
    "pool": "dabench.run.executors.pool:PoolExecutor",
    "slurm": "dabench.run.executors.slurm:SlurmExecutor",
    "dask": "dabench.run.executors.dask:DaskExecutor",
}


class Executor(ABC):
    """Runs a sweep's specs through the store (see the module docstring for the contract)."""

    name: ClassVar[str]

    @property
    def parallelism(self) -> int:
        """How many specs run at once."""
        return 1

    @abstractmethod
    def run(
        self, specs: Sequence[RunSpec], options: WorkOptions, on_result: ResultCallback | None = None
    ) -> list[WorkResult]:
        """Run every spec; report each result through ``on_result`` as it arrives; return them in spec order."""

    def close(self) -> None:
        """Free the executor's workers or connections (nothing by default)."""
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def executor_class(name: str) -> type[Executor]:
    """The executor registered as ``name``; a :class:`~dabench.errors.SpecError` listing the valid names else."""
    target = EXECUTORS.get(name)
    if target is None:
        raise SpecError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)} (--executor NAME).")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise SpecError(
            f"executor {name!r} is not part of this dabench installation; use one of "
            f"{', '.join(n for n in EXECUTORS if n != name)}."
        ) from None
    cls = getattr(module, class_name)
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise TypeError(f"{target} is not an Executor subclass")
    return cls
