"""``dabench sweep`` on clusters: the flags and set-up of ``--executor slurm`` (submitit job arrays) and
``--executor dask`` (dask.distributed), for :mod:`dabench.cli.run`.

``--executor slurm`` without ``--wait`` submits and returns: it prints what it skipped (completed keys, keys another
process holds), the job ids of each array and how to follow them; with ``--wait`` (implied by the test backends
``--slurm-cluster local|debug``) it runs under the sweep driver and prints results as ``dabench sweep`` does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dabench.cli.common import count, number, out
from dabench.errors import SpecError

if TYPE_CHECKING:
    from dabench.run.executors import Executor
    from dabench.run.executors.slurm import JobArray, SlurmExecutor
    from dabench.run.store import ResultStore
    from dabench.run.sweepfile import Sweep
    from dabench.run.worker import WorkOptions

SLURM_FLAGS = {
    "partition": "--partition",
    "time": "--time",
    "mem": "--mem",
    "gpus_per_task": "--gpus-per-task",
    "cpus_per_task": "--cpus-per-task",
    "max_concurrent": "--max-concurrent",
    "chunk": "--chunk",
    "slurm_folder": "--slurm-folder",
    "slurm_cluster": "--slurm-cluster",
    "wait": "--wait",
}
DASK_FLAGS = {"scheduler": "--scheduler"}


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive; give a whole number >= 1")
    return value


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive; give a number > 0")
    return value


def cluster_args(parser: argparse.ArgumentParser) -> None:
    """The ``--executor slurm`` and ``--executor dask`` flags of ``dabench sweep``."""
    slurm = parser.add_argument_group("--executor slurm (SLURM job arrays through submitit; dabench[slurm])")
    slurm.add_argument("--partition", help="SLURM partition (default: the sweep file's [resources], else SLURM's)")
    slurm.add_argument(
        "--time", type=positive, metavar="MINUTES", help="time limit per array task (default: [resources], else 60)"
    )
    slurm.add_argument(
        "--mem", type=positive_number, metavar="GB", help="memory per array task (default: [resources], else 8)"
    )
    slurm.add_argument(
        "--gpus-per-task", type=count, metavar="N", help="GPUs per array task (default: [resources], else 0)"
    )
    slurm.add_argument(
        "--cpus-per-task",
        type=positive,
        metavar="N",
        help="CPUs and torch threads per task (default: [resources], else 1)",
    )
    slurm.add_argument("--max-concurrent", type=positive, metavar="N", help="array throttle: tasks running at once")
    slurm.add_argument("--chunk", type=positive, default=1, metavar="N", help="specs per array task (default 1)")
    slurm.add_argument(
        "--slurm-folder", type=Path, metavar="DIR", help="submitit logs and pickles (default STORE/slurm)"
    )
    slurm.add_argument("--wait", action="store_true", help="wait for the jobs and print the results")
    slurm.add_argument(
        "--slurm-cluster",
        choices=("slurm", "local", "debug"),
        default="slurm",
        help="for testing without SLURM: submitit's 'local' (subprocesses) or 'debug' (in this process) backend",
    )
    dask = parser.add_argument_group("--executor dask (dask.distributed; dabench[dask])")
    dask.add_argument(
        "--scheduler", metavar="ADDRESS", help="dask scheduler, e.g. tcp://host:8786 (default: a local cluster)"
    )


def check_cluster_flags(args: argparse.Namespace, executor: str) -> None:
    """Flags of one cluster executor given with another executor are a usage mistake, not silently ignored."""
    defaults = {"chunk": 1, "slurm_cluster": "slurm", "wait": False}
    for flags, owner in ((SLURM_FLAGS, "slurm"), (DASK_FLAGS, "dask")):
        if executor == owner:
            continue
        given = [flag for dest, flag in flags.items() if getattr(args, dest, None) not in (None, defaults.get(dest))]
        if given:
            raise SpecError(f"{', '.join(given)}: for --executor {owner} only (got --executor {executor}).")


def cluster_executor(args: argparse.Namespace, sweep: Sweep, store: ResultStore) -> Executor | None:
    """The slurm or dask executor ``--executor`` names; None for the others (after refusing cluster flags there)."""
    name = args.executor or "local"
    check_cluster_flags(args, name)
    if name not in ("slurm", "dask"):
        return None
    if args.runs_per_gpu is not None:
        raise SpecError(f"--runs-per-gpu applies to --executor pool; with {name}, ask for GPUs per task instead.")
    if name == "dask":
        return dask_executor(args, args.jobs)
    if args.jobs is not None:
        raise SpecError("--jobs applies to pool and dask; with --executor slurm use --max-concurrent (array throttle).")
    return slurm_executor(args, sweep, store)


def remote_device(args: argparse.Namespace) -> bool:
    """Whether the workers' device is checked where they run (SLURM nodes), not here."""
    if args.executor != "slurm":
        return False
    if args.device not in ("auto", "cpu") and not args.device.startswith("cuda"):
        raise SpecError(f"unknown device {args.device!r}: use auto, cpu or cuda[:N].")
    return True


def submit_without_waiting(
    args: argparse.Namespace, executor: Executor, sweep: Sweep, store: ResultStore, data_root: Path | None
) -> int | None:
    """``--executor slurm`` without ``--wait``: submit and return the exit code; None when the sweep waits."""
    from dabench.run.executors.slurm import SlurmExecutor
    from dabench.run.worker import WorkOptions

    if not isinstance(executor, SlurmExecutor) or waits(args):
        return None
    data = str(data_root) if data_root is not None else None
    options = WorkOptions(store=str(store.root), data_root=data, device=args.device, force=args.force)
    return submit_only(executor, sweep, options, args, store)


def slurm_executor(args: argparse.Namespace, sweep: Sweep, store: ResultStore) -> SlurmExecutor:
    """The :class:`~dabench.run.executors.slurm.SlurmExecutor` of the command line."""
    from dabench.run.executors.slurm import SlurmExecutor
    from dabench.run.resources import Resources

    folder = args.slurm_folder if args.slurm_folder is not None else store.root / "slurm"
    command_line = Resources(
        partition=args.partition,
        time=args.time,
        mem=args.mem,
        gpus_per_task=args.gpus_per_task,
        cpus_per_task=args.cpus_per_task,
    )
    return SlurmExecutor(
        folder=Path(folder).expanduser().absolute(),
        cluster=args.slurm_cluster,
        resources=sweep.resources,
        command_line=command_line,
        max_concurrent=args.max_concurrent,
        chunk=args.chunk,
        job_name=f"dabench-{sweep.name}",
        on_submit=lambda array: out(describe_array(array, args.slurm_cluster)),
        poll_s=0.2 if args.slurm_cluster != "slurm" else 5.0,
    )


def dask_executor(args: argparse.Namespace, jobs: int | None) -> Executor:
    """The :class:`~dabench.run.executors.dask.DaskExecutor` of the command line (``jobs``: local workers)."""
    from dabench.run.executors.dask import DaskExecutor

    executor = DaskExecutor(scheduler=args.scheduler, workers=jobs)
    where = args.scheduler or f"a local cluster of {executor.parallelism} worker processes"
    out(f"dask: running on {where}")
    return executor


def waits(args: argparse.Namespace) -> bool:
    """Whether a slurm sweep waits for its jobs: with ``--wait``, and always on the test backends (``debug`` runs
    in this process only when waited for; ``local`` tasks are this process's children)."""
    return bool(args.wait) or args.slurm_cluster != "slurm"


def describe_array(array: JobArray, cluster: str) -> str:
    specs = sum(len(chunk) for chunk in array.chunks)
    tasks = len(array.chunks)
    kind = "retry of" if array.retry else "job array"
    what = f"{specs} run{'s' if specs != 1 else ''} in {tasks} task{'s' if tasks != 1 else ''}"
    return f"submitted {kind} {array.array_id} ({cluster}): {what}; {array.resources.describe()}"


def submit_only(
    executor: SlurmExecutor, sweep: Sweep, options: WorkOptions, args: argparse.Namespace, store: ResultStore
) -> int:
    """Submit, print what was skipped, the job ids and how to follow them; 0."""
    submission = executor.submit(sweep.specs, options)
    cached = sum(r.status == "cached" for r in submission.skipped.values())
    busy = sum(r.status == "busy" for r in submission.skipped.values())
    out(f"skipped before submission: {cached} completed, {busy} running elsewhere (live claim)")
    if not submission.arrays:
        out("nothing to submit: every run is completed or being run by another process")
        return 0
    root = Path(options.store).expanduser().absolute()
    ids = list(dict.fromkeys(a.array_id for a in submission.arrays))
    out(f"submitted {submission.submitted} runs as {len(submission.arrays)} job array(s): {' '.join(ids)}")
    out(f"follow: dabench sweep {args.file} --status --store {root}   (or squeue -j {','.join(ids)})")
    out(f"logs: {executor.folder}; records: {root / 'records'}")
    return 0
