"""The ``slurm`` executor: a sweep as SLURM job arrays, submitted through submitit (``pip install dabench[slurm]``).

Specs are grouped by their resources (:mod:`dabench.run.resources`: the sweep file's ``[resources]`` and
``[resources.<method>]`` tables and the command line); each group is one job array whose tasks each run a chunk of
``chunk`` specs with :func:`dabench.run.worker.run_specs`, at most ``max_concurrent`` tasks at a time (SLURM's
``--array=...%N`` throttle). The store must be on a filesystem the compute nodes share: the workers get its
absolute path and coordinate through its per-key claims, so a key never runs twice, whoever else works on the store.

Before anything is submitted, keys with a completed record are reported ``cached`` and keys another process holds a
live claim on are reported ``busy`` (the sweep driver waits for those); only the rest is submitted. A task that
dies (killed, timed out, node failure) loses its chunk: the specs of that chunk still without a record are
submitted once more, and recorded failed (``worker_died``) if their task dies again.

``cluster`` selects submitit's backend: ``slurm`` (the default; needs ``sbatch``), or for tests ``local`` (each
array task a subprocess on this machine; no throttle) and ``debug`` (in this process, one task after another, when
the results are collected: a debug submission only runs when waited for).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dabench.errors import SpecError
from dabench.run.claims import ClaimTable
from dabench.run.executors import Executor, ResultCallback
from dabench.run.resources import Resources, SweepResources
from dabench.run.store import ResultStore
from dabench.run.worker import WorkOptions, WorkResult, run_specs
from dabench.runspec import RunSpec

CLUSTERS = ("slurm", "local", "debug")
RESULT_GRACE_S = 15.0  # how long a finished SLURM task's result file may take to appear on a network filesystem
INSTALL_HINT = "the slurm executor needs submitit: install dabench[slurm] (pip install 'dabench[slurm]')"


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise SpecError(f"{INSTALL_HINT}, or use --executor pool or dask.") from None
    return submitit


@dataclass
class JobArray:
    """One submitted job array: its resources, the spec indices of each array task, and submitit's jobs."""

    resources: Resources
    chunks: list[list[int]]
    jobs: list[Any]
    cluster: str = "slurm"
    retry: bool = False

    @property
    def job_ids(self) -> list[str]:
        return [str(job.job_id) for job in self.jobs]

    @property
    def array_id(self) -> str:
        """SLURM's array job id (``12345`` of ``12345_0``); the first task's id on the test backends."""
        ids = self.job_ids
        heads = {i.split("_")[0] for i in ids}
        return heads.pop() if self.cluster == "slurm" and len(heads) == 1 else ids[0]


@dataclass
class Submission:
    """What :meth:`SlurmExecutor.submit` did: ``skipped`` (spec index -> the ``cached``/``busy`` result found
    before submission) and the submitted ``arrays``."""

    skipped: dict[int, WorkResult] = field(default_factory=dict)
    arrays: list[JobArray] = field(default_factory=list)

    @property
    def submitted(self) -> int:
        return sum(len(chunk) for array in self.arrays for chunk in array.chunks)


class SlurmExecutor(Executor):
    """Runs specs as SLURM job arrays through ``submitit.AutoExecutor`` (see the module docstring)."""

    name = "slurm"

    def __init__(
        self,
        *,
        folder: Path | str,
        cluster: str = "slurm",
        resources: SweepResources | None = None,
        command_line: Resources | None = None,
        max_concurrent: int | None = None,
        chunk: int = 1,
        job_name: str = "dabench",
        poll_s: float = 2.0,
        on_submit: Callable[[JobArray], None] | None = None,
    ) -> None:
        self.submitit = _submitit()
        if cluster not in CLUSTERS:
            raise SpecError(f"unknown submitit cluster {cluster!r}; valid: {', '.join(CLUSTERS)}.")
        missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
        if cluster == "slurm" and missing:
            raise SpecError(
                f"--executor slurm needs SLURM's {' and '.join(missing)} on PATH (run dabench on a SLURM login "
                "node); on one machine use --jobs N or --executor dask."
            )
        if chunk < 1:
            raise SpecError(f"--chunk must be an integer >= 1 (specs per array task); got {chunk}.")
        if max_concurrent is not None and max_concurrent < 1:
            raise SpecError(f"--max-concurrent must be an integer >= 1 (array tasks at once); got {max_concurrent}.")
        self.folder = Path(folder).expanduser().absolute()
        self.cluster = cluster
        self.resources = resources if resources is not None else SweepResources()
        self.command_line = command_line if command_line is not None else Resources()
        self.max_concurrent = max_concurrent
        self.chunk = chunk
        self.job_name = job_name
        self.poll_s = poll_s
        self.on_submit = on_submit
        self.submissions: list[Submission] = []

    @property
    def parallelism(self) -> int:
        if self.cluster == "debug":
            return 1
        return self.max_concurrent or 256  # submitit's default array throttle

    def resources_of(self, spec: RunSpec) -> Resources:
        """The resources one spec's array task asks for."""
        return self.resources.for_method(spec.method.name, self.command_line)

    # ------------------------------------------------------------------------------------------- submission

    def submit(self, specs: Sequence[RunSpec], options: WorkOptions) -> Submission:
        """Skip completed and live-claimed keys, then submit the rest as one job array per resource group."""
        options = absolute(options)
        store, claims = ResultStore(options.store), ClaimTable(Path(options.store))
        submission = Submission()
        groups: dict[Resources, list[int]] = {}
        for index, spec in enumerate(specs):
            key = spec.key()
            if not options.force and store.completed(key) is not None:
                submission.skipped[index] = WorkResult(key, "cached")
            elif claims.live_holder(key) is not None:
                submission.skipped[index] = WorkResult(key, "busy")
            else:
                groups.setdefault(self.resources_of(spec), []).append(index)
        for resources, indices in groups.items():
            chunks = [indices[i : i + self.chunk] for i in range(0, len(indices), self.chunk)]
            submission.arrays.append(self._submit_array(specs, chunks, resources, options))
        self.submissions.append(submission)
        return submission

    def _submit_array(
        self,
        specs: Sequence[RunSpec],
        chunks: list[list[int]],
        resources: Resources,
        options: WorkOptions,
        *,
        retry: bool = False,
    ) -> JobArray:
        executor = self.submitit.AutoExecutor(folder=self.folder / "%j", cluster=self.cluster)
        executor.update_parameters(**self.parameters(resources, len(chunks)))
        # torch threads = the CPUs asked for; the in-process debug backend leaves this process's threads alone
        threads = options.threads if self.cluster == "debug" else resources.cpus_per_task
        work = replace(options, threads=threads)
        payload = [[specs[i].canonical() for i in chunk] for chunk in chunks]
        try:
            jobs = executor.map_array(run_specs, payload, [work] * len(payload))
        except self.submitit.core.utils.FailedSubmissionError as exc:
            raise SpecError(f"SLURM refused the job array ({resources.describe()}): {exc}".strip()) from None
        array = JobArray(resources, chunks, list(jobs), self.cluster, retry)
        if self.on_submit is not None:
            self.on_submit(array)
        return array

    def parameters(self, resources: Resources, tasks: int) -> dict[str, Any]:
        """submitit parameters of one array (None values are dropped by submitit)."""
        gpus = resources.gpus_per_task or 0
        params: dict[str, Any] = {
            "name": self.job_name,
            "timeout_min": resources.time,
            "mem_gb": resources.mem,
            "cpus_per_task": resources.cpus_per_task,
            "tasks_per_node": 1,
            "slurm_partition": resources.partition,
            "slurm_array_parallelism": min(self.max_concurrent or tasks, tasks),
        }
        if gpus and self.cluster == "slurm":
            params["slurm_gpus_per_task"] = gpus
        elif gpus:
            params["gpus_per_node"] = gpus
        return params

    # ------------------------------------------------------------------------------------------- collection

    def run(
        self, specs: Sequence[RunSpec], options: WorkOptions, on_result: ResultCallback | None = None
    ) -> list[WorkResult]:
        """Submit, then wait for every array task; results reach ``on_result`` as their tasks finish."""
        submission = self.submit(specs, options)
        results: dict[int, WorkResult] = {}

        def deliver(index: int, result: WorkResult) -> None:
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        for index, result in sorted(submission.skipped.items()):
            deliver(index, result)
        self.wait(submission, specs, absolute(options), deliver)
        return [results[i] for i in range(len(specs))]

    def wait(
        self, submission: Submission, specs: Sequence[RunSpec], options: WorkOptions, deliver: ResultCallback
    ) -> None:
        """Poll the submitted tasks until all are done, delivering each spec's result; lost chunks are retried."""
        pending = [_Task(a, job, chunk) for a in submission.arrays for job, chunk in zip(a.jobs, a.chunks, strict=True)]
        store, claims = ResultStore(options.store), ClaimTable(Path(options.store))
        while pending:
            still: list[_Task] = []
            for task in pending:
                if not task.job.done():
                    still.append(task)
                    continue
                lost = self._missing_result(task)
                if lost is None:
                    still.append(task)  # finished; its result file may still be on its way (network filesystem)
                    continue
                if lost:
                    still.extend(self._lost(task, specs, options, (store, claims), lost, deliver))
                    continue
                try:
                    outcome: list[WorkResult] = task.job.result()
                except Exception as exc:  # noqa: BLE001 - run_specs itself raised: report it for the chunk's specs
                    error = first_line(exc)
                    for index in task.chunk:
                        deliver(index, WorkResult(specs[index].key(), "failed", f"its array task failed: {error}"))
                    continue
                for index, result in zip(task.chunk, outcome, strict=True):
                    deliver(index, result)
            if len(still) == len(pending):
                time.sleep(self.poll_s)
            pending = still

    def _missing_result(self, task: _Task) -> str | None:
        """For a finished task: ``""`` when its result is there, None while waiting a grace period for it, else
        why it is lost (the task died without one: killed, timed out, its node failed)."""
        if self.cluster == "debug" or task.job.paths.result_pickle.exists():
            return ""
        now = time.monotonic()
        task.missing_since = task.missing_since if task.missing_since is not None else now
        if now - task.missing_since < (RESULT_GRACE_S if self.cluster == "slurm" else 1.0):
            return None
        return f"array task {task.job.job_id} ended ({task.job.state}) without a result"

    def _lost(
        self,
        task: _Task,
        specs: Sequence[RunSpec],
        options: WorkOptions,
        where: tuple[ResultStore, ClaimTable],
        reason: str,
        deliver: ResultCallback,
    ) -> list[_Task]:
        """A task died: deliver what its chunk did store, resubmit the rest once, record it failed the second time."""
        from dabench.run.execution import record_worker_died

        store, claims = where
        missing = []
        for index in task.chunk:
            key = specs[index].key()
            if store.completed(key) is not None:
                deliver(index, WorkResult(key, "ok"))
            elif task.array.retry:
                died = record_worker_died(specs[index], store, claims, f"its array task died twice ({reason})")
                deliver(index, WorkResult(key, died.status, str(died.record.get("error") or "")))
            else:
                missing.append(index)
        if not missing:
            return []
        retry = self._submit_array(specs, [missing], task.array.resources, options, retry=True)
        return [_Task(retry, retry.jobs[0], missing)]


@dataclass
class _Task:
    """One submitted array task being waited for."""

    array: JobArray
    job: Any
    chunk: list[int]
    missing_since: float | None = None


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'no details'}"


def absolute(options: WorkOptions) -> WorkOptions:
    """``options`` with the store and data root as absolute paths (array tasks may start in another folder)."""
    data_root = str(Path(options.data_root).expanduser().absolute()) if options.data_root else None
    return replace(options, store=str(Path(options.store).expanduser().absolute()), data_root=data_root)
