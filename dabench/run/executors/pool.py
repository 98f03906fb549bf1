"""The ``pool`` executor: the specs of a sweep in N worker processes on this machine (``dabench sweep --jobs N``).

Each worker is a ``concurrent.futures.ProcessPoolExecutor`` of one process, never a plain ``fork`` of this one
(torch and ``fork`` do not mix): CPU workers are forked from a ``forkserver`` that has only imported torch and
dabench (:data:`PRELOAD`; no CUDA and no torch thread pool was started there), so a worker starts in milliseconds
instead of importing everything again; CUDA workers are ``spawn``-started. The specs go out one per task to
whichever worker is free, so the load balances. One pool per worker rather than one pool of N: when a process of
a pool dies the pool terminates all its other processes, and their runs would be lost with it; here a dead worker
loses only its own run. Its pool is rebuilt and the spec that has no record yet is run once more; if its worker
dies again it is recorded failed (``failure = "worker_died"``, with the signal). The dead worker's claim names a
dead pid on this host, so the next owner takes it over at once.

Threads: each worker runs ``default_threads(N)`` torch threads (the free CPUs split evenly, at least 1; see
:mod:`dabench.run.threads`), also exported as ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``DABENCH_THREADS`` and
applied to BLAS pools loaded in the forkserver (``threadpoolctl``). GPUs (``runs_per_gpu=K``): K workers per
visible GPU, worker ``i`` on GPU ``i // K`` (:func:`gpu_for_worker`), each seeing only its device
(``CUDA_VISIBLE_DEVICES`` set in the worker's initializer, before torch initialises CUDA) and running on
``cuda:0``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from dabench.errors import SpecError
from dabench.run.claims import ClaimTable
from dabench.run.execution import record_worker_died
from dabench.run.executors import Executor, ResultCallback
from dabench.run.store import ResultStore
from dabench.run.worker import WorkOptions, WorkResult, run_specs
from dabench.runspec import RunSpec

#: imported once in the forkserver (CPU workers), so a worker starts in milliseconds, not seconds
PRELOAD = ("torch", "torch._dynamo", "sklearn", "dabench.run.worker", "dabench.run.runner")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "DABENCH_THREADS")


def gpu_for_worker(worker: int, runs_per_gpu: int, n_gpus: int) -> int:
    """The GPU (index into the visible ones) of worker ``worker``: ``worker // runs_per_gpu``, wrapping around when
    there are more workers than ``runs_per_gpu * n_gpus``."""
    if runs_per_gpu < 1 or n_gpus < 1 or worker < 0:
        raise ValueError(
            f"need worker >= 0, runs_per_gpu >= 1 and n_gpus >= 1 (got {worker}, {runs_per_gpu}, {n_gpus})"
        )
    return (worker // runs_per_gpu) % n_gpus


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as ``CUDA_VISIBLE_DEVICES`` entries (its own list when set, else
    ``0 .. torch.cuda.device_count() - 1``)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and not d.strip().startswith("-")]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


@dataclass(frozen=True)
class WorkerPlan:
    """Worker ``index``'s setup: its torch ``threads`` and the ``CUDA_VISIBLE_DEVICES`` it sees (None: unchanged)."""

    index: int
    threads: int
    cuda_visible: str | None = None


def plan_workers(
    jobs: int, threads: int, runs_per_gpu: int | None = None, gpus: Sequence[str] = ()
) -> list[WorkerPlan]:
    """One plan per worker; with ``runs_per_gpu``, worker ``i`` sees only ``gpus[gpu_for_worker(i, ...)]``."""
    if runs_per_gpu is None:
        return [WorkerPlan(i, threads) for i in range(jobs)]
    return [WorkerPlan(i, threads, gpus[gpu_for_worker(i, runs_per_gpu, len(gpus))]) for i in range(jobs)]


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def init_worker(plan: WorkerPlan) -> None:
    """A worker's initializer (runs before any task, so before torch is imported or CUDA initialised). Ctrl-C is
    the parent's to handle (it stops the workers); ``SIGTERM`` ends the run in progress like an interrupt, so its
    claim is released and nothing is recorded."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    if plan.cuda_visible is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = plan.cuda_visible
    for var in THREAD_VARS:
        os.environ[var] = str(plan.threads)
    if "numpy" in sys.modules:  # preloaded by the forkserver: its BLAS pools were sized before this setting
        from threadpoolctl import threadpool_limits

        threadpool_limits(plan.threads)


def start_method(device: str, requested: str | None = None) -> str:
    """How worker processes start: ``requested`` if given; else ``forkserver`` with :data:`PRELOAD` for CPU
    workers (torch is imported once, not per worker) and ``spawn`` for CUDA workers (nothing that touches CUDA
    runs before a worker sets its ``CUDA_VISIBLE_DEVICES``)."""
    if requested is not None:
        return requested
    if device == "cpu" and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


def describe_exit(exitcode: int | None) -> str:
    """How a worker process ended, from its exit code (negative: the signal that killed it)."""
    if exitcode is None:
        return "its process ended abruptly (exit status unknown)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-exitcode} ({name})"
    return f"its process exited with status {exitcode}"


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Block ``SIGINT`` in this thread while processes are started: they inherit the blocked signal, so Ctrl-C
    never reaches them (not even during their imports; this process stops them). An interrupt meanwhile is not
    lost: another thread takes it, or it is delivered here when unblocked."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Worker:
    """One worker process, as a single-process pool that is rebuilt when its process dies."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self._pool: ProcessPoolExecutor | None = None
        self._processes: list[Any] = []

    def submit(self, canonical: dict[str, Any], options: WorkOptions, method: str) -> Future[list[WorkResult]]:
        if self._pool is None:
            ctx = multiprocessing.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload(list(PRELOAD))
            self._pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=init_worker, initargs=(self.plan,))
        with _no_interrupt():  # a worker (or the forkserver) started now never sees Ctrl-C
            future = self._pool.submit(run_specs, [canonical], options)
        self._processes = list((getattr(self._pool, "_processes", None) or {}).values())  # to read an exit code
        return future

    def died(self) -> str:
        """Tear down the broken pool (its dead process is reaped, so its pid reads as dead) and say how it died."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        codes = [p.exitcode for p in self._processes if p.exitcode not in (None, 0)]
        self._processes = []
        return describe_exit(codes[0] if codes else None)

    def close(self, *, stop: bool = False, wait: bool = True) -> None:
        """Shut the pool down after its task; ``stop``: end the task in progress first (``SIGTERM``); ``wait``:
        until its process has exited (else :meth:`join` waits)."""
        if self._pool is not None:
            if stop:
                for process in self._processes:
                    if process.is_alive():
                        process.terminate()
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def join(self) -> None:
        for process in self._processes:
            process.join()


class PoolExecutor(Executor):
    """``jobs`` worker processes (default: ``runs_per_gpu`` × visible GPUs, else the available CPUs), each with
    ``threads`` torch threads (default: :func:`~dabench.run.threads.default_threads` of ``jobs``). ``gpus``: the
    ``CUDA_VISIBLE_DEVICES`` entries to spread the workers over (default: :func:`visible_gpus`). ``retries``: how
    often a spec whose worker died is run again before it is recorded failed."""

    name: ClassVar[str] = "pool"

    def __init__(
        self,
        jobs: int | None = None,
        *,
        runs_per_gpu: int | None = None,
        threads: int | None = None,
        gpus: Sequence[str] | None = None,
        retries: int = 1,
        start: str | None = None,
    ) -> None:
        from dabench.run.threads import available_cpus, default_threads

        if jobs is not None and jobs < 1:
            raise SpecError(f"--jobs {jobs}: give the number of worker processes, an integer >= 1.")
        if runs_per_gpu is not None and runs_per_gpu < 1:
            raise SpecError(f"--runs-per-gpu {runs_per_gpu}: give the runs per GPU, an integer >= 1.")
        self.runs_per_gpu = runs_per_gpu
        self.gpus = list(gpus) if gpus is not None else (visible_gpus() if runs_per_gpu is not None else [])
        if runs_per_gpu is not None and not self.gpus:
            raise SpecError(
                "--runs-per-gpu needs CUDA devices, and none is visible here (torch.cuda.device_count() is 0 or "
                "CUDA_VISIBLE_DEVICES is empty). Drop --runs-per-gpu to run on the CPU (--jobs N)."
            )
        if jobs is None:
            jobs = runs_per_gpu * len(self.gpus) if runs_per_gpu is not None else available_cpus()
        self.jobs = jobs
        self.threads = threads if threads is not None else default_threads(jobs)
        self.retries = retries
        self.start = start
        self._workers = [_Worker(plan) for plan in plan_workers(jobs, self.threads, runs_per_gpu, self.gpus)]

    @property
    def parallelism(self) -> int:
        return self.jobs

    def worker_options(self, options: WorkOptions) -> WorkOptions:
        """The options a worker gets: this pool's threads, and ``cuda:0`` (its only device) on a GPU."""
        device = "cuda:0" if self.runs_per_gpu is not None else options.device
        return replace(options, threads=self.threads, device=device)

    def run(
        self, specs: Sequence[RunSpec], options: WorkOptions, on_result: ResultCallback | None = None
    ) -> list[WorkResult]:
        """Run the specs on the workers, one per task; a dead worker's spec is re-run, then recorded failed."""
        work = self.worker_options(options)
        method = start_method(work.device, self.start)
        store = ResultStore(options.store)
        claims = ClaimTable(store.root)
        queue = deque(range(len(specs)))
        deaths: dict[str, list[str]] = {}
        results: dict[int, WorkResult] = {}
        running: dict[Future[list[WorkResult]], tuple[_Worker, int]] = {}
        try:
            while queue or running:
                busy = {id(worker) for worker, _ in running.values()}
                for worker in self._workers:
                    if queue and id(worker) not in busy:
                        index = queue.popleft()
                        running[worker.submit(specs[index].canonical(), work, method)] = (worker, index)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    worker, index = running.pop(future)
                    result = self._collect(future, worker, specs[index], deaths, store, claims)
                    if result is None:
                        queue.appendleft(index)  # its worker died: run it again first
                        continue
                    results[index] = result
                    if on_result is not None:
                        on_result(index, result)
        except BaseException:  # an interrupt or an error: stop the runs in progress (nothing of theirs is stored)
            for worker in self._workers:
                worker.close(stop=True)
            raise
        return [results[i] for i in range(len(specs))]

    def _collect(
        self,
        future: Future[list[WorkResult]],
        worker: _Worker,
        spec: RunSpec,
        deaths: dict[str, list[str]],
        store: ResultStore,
        claims: ClaimTable,
    ) -> WorkResult | None:
        """The result of a finished task (with a note per death of its worker); None when its worker died and the
        spec is to run again."""
        key = spec.key()
        try:
            (result,) = future.result()
        except BrokenProcessPool:
            how = worker.died()
            deaths.setdefault(key, []).append(how)
            if store.completed(key) is not None:  # it died after storing the record
                result = WorkResult(key, "ok")
            elif len(deaths[key]) <= self.retries:
                return None
            else:
                detail = f"{how}; its worker died {len(deaths[key])} times running it"
                outcome = record_worker_died(spec, store, claims, detail)
                error = str(outcome.record.get("error") or "") if outcome.status == "failed" else ""
                result = WorkResult(key, outcome.status, error)
        notes = tuple(f"the worker running {key[:12]} died ({how}); ran it again" for how in deaths.get(key, ()))
        return replace(result, notes=result.notes + notes[: self.retries]) if notes else result

    def close(self) -> None:
        """Stop every worker after its task, all at once (a process with torch loaded takes a while to exit)."""
        for worker in self._workers:
            worker.close(wait=False)
        for worker in self._workers:
            worker.join()
