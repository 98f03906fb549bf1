"""``dabench run`` and ``dabench sweep``: execute specs through the result store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dabench.registry import Registry
    from dabench.run.execution import Outcome
    from dabench.run.executors import Executor
    from dabench.run.runner import Examples, RunResult
    from dabench.run.store import ResultStore
    from dabench.runspec import RunSpec

from dabench.cli.common import count, err, load_registry, number, numbers, out, resolve_data_root
from dabench.cli.progress import add_quiet_flag, add_threads_flag, apply_threads, run_progress, sweep_progress
from dabench.cli.sweep_cluster import cluster_args, cluster_executor, remote_device, submit_without_waiting
from dabench.errors import SpecError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``run`` and ``sweep``."""
    run = sub.add_parser("run", help="run one method on one dataset (cached by spec)")
    run.add_argument("--method", required=True)
    run.add_argument("--dataset", required=True, help="NAME or NAME:DOMAIN")
    run.add_argument("--target", help="target dataset (NAME or NAME:DOMAIN); default: the dataset itself")
    run.add_argument("--shift", help="shift chain applied to the target, e.g. noise:0.8 or noise:0.8+blur:3")
    run.add_argument("--intensity", type=number, help="intensity for a single --shift given without ':X'")
    run.add_argument("--seed", type=count, default=0, help="random seed, an integer >= 0 (default: 0)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a method parameter")
    run.add_argument("--metrics", help="comma-separated metric names (default: all for the task type)")
    run.add_argument("--n-bootstrap", type=count, default=1000, help="bootstrap replicates for intervals (0: none)")
    run.add_argument("--interval", default="percentile", choices=["percentile", "bca"], help="bootstrap interval")
    run.add_argument(
        "--protocol",
        default="uda",
        help="uda (default) or a study's protocol (dabench list protocols: dann4, perlin_grid, shift_grid, ...)",
    )
    run.add_argument("--da-dataset", help="dann4: dataset the DA sets C and D come from (default: --dataset)")
    run.add_argument("--da-shift", help="dann4: shift chain that makes D from C, e.g. noise:0.5")
    run.add_argument(
        "--test-intensities",
        help="dann4 / shift_grid: comma-separated test-shift intensities (dann4 default: the paper's); perlin_grid: "
        "the mu values of the target grid",
    )
    run.add_argument(
        "--examples",
        type=Path,
        metavar="PNG",
        help="segmentation: write a PNG grid of test images, ground truth and predictions (unadapted and adapted)",
    )
    run.add_argument("--examples-count", type=positive, default=4, help="images in the --examples grid (default 4)")
    run.add_argument(
        "--checkpoint-every",
        type=count,
        default=0,
        metavar="K",
        help="keep every K-th epoch's model and score it for model selection (record 'checkpoints'; 0: none)",
    )
    run.add_argument(
        "--predictors",
        help="benefit predictors to compute in this run, comma-separated, or 'all' (dabench list benefit_predictors)",
    )
    common_run_args(run)
    add_quiet_flag(run)
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", help="run a grid of runs from a TOML sweep file (resumable)")
    sweep.add_argument("file", type=Path)
    common_run_args(sweep)
    sweep_flags(sweep)
    cluster_args(sweep)
    sweep.set_defaults(func=cmd_sweep)


def positive(text: str) -> int:
    """argparse type: an integer >= 1 (a number of workers)."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not >= 1; give a whole number >= 1")
    return value


def sweep_flags(parser: argparse.ArgumentParser) -> None:
    """How a sweep runs (executor, workers, GPUs) and what it shows (``--status``, ``--quiet``)."""
    parser.add_argument(
        "--jobs",
        type=positive,
        help="worker processes on this machine (default 1: in this process; with "
        "--runs-per-gpu: runs-per-gpu x GPUs); each gets cores/jobs torch threads",
    )
    parser.add_argument(
        "--executor", help="local (in this process), pool (worker processes; implied by --jobs > 1), slurm or dask"
    )
    parser.add_argument(
        "--runs-per-gpu", type=positive, metavar="K", help="K concurrent runs per visible GPU, each seeing one device"
    )
    parser.add_argument(
        "--status", action="store_true", help="show pending / running / done / failed specs and run nothing"
    )
    parser.add_argument("--quiet", action="store_true", help="print only failures, warnings and the summary")


def common_run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda[:N] (default: cpu)")
    parser.add_argument("--store", type=Path, default=Path("runs"), help="result store directory (default: runs)")
    parser.add_argument("--data-root", help="folder with the datasets (default: $DABENCH_DATA)")
    parser.add_argument("--force", action="store_true", help="re-run even when a completed record exists")
    add_threads_flag(parser)


def cmd_run(args: argparse.Namespace) -> int:
    from dabench.run.execution import execute
    from dabench.run.resolve import RunRequest, parse_set, resolve
    from dabench.run.store import ResultStore

    registry = load_registry()
    metrics = tuple(m.strip() for m in args.metrics.split(",")) if args.metrics else None
    request = RunRequest(
        protocol=args.protocol,
        interval=args.interval,
        da_dataset=args.da_dataset,
        da_shift=args.da_shift,
        test_intensities=numbers(args.test_intensities),
        method=args.method,
        dataset=args.dataset,
        target=args.target,
        shift=args.shift,
        intensity=args.intensity,
        params=parse_set(args.set),
        seed=args.seed,
        metrics=metrics,
        n_bootstrap=args.n_bootstrap,
        predictors=tuple(p.strip() for p in args.predictors.split(",") if p.strip()) if args.predictors else (),
        checkpoint_every=args.checkpoint_every,
    )
    spec = resolve(request, registry)
    data_root = resolve_data_root(args.data_root)
    store = ResultStore(args.store)
    store.ensure_writable()
    from dabench.run.runner import resolve_device

    resolve_device(args.device)
    apply_threads(args)
    options: dict[str, Any] = {"data_root": data_root, "device": args.device, "force": args.force}
    results: list[RunResult] = []
    picture = examples_options(args, registry.datasets.get(spec.dataset.name).task_type, store, spec.key())
    with run_progress(args):  # epochs on stderr when it is a terminal
        outcome = execute(spec, registry, store, **options, **picture, on_result=results.append)
    if outcome.status == "busy":
        outcome = wait_for_other(spec, outcome, registry, store, **options)
    warn_notes(outcome)
    if outcome.status == "cached":
        how = "was just completed by another process" if outcome.waited else "already completed"
        out(f"cache hit: {spec.key()[:12]} {how} in {args.store} (skipped; --force re-runs it)")
    print_record(outcome.record)
    if outcome.status == "failed":
        path = store.path(spec.key())
        if outcome.record.get("failure") == "diverged":
            err(diverged_message(outcome.record, path))
            return 2
        err(f"error: run failed: {outcome.record['error']} (recorded as failed in {path})")
        return 1
    out(f"record: {store.path(spec.key())}")
    for name in outcome.record.get("figures", []):
        out(f"figure: {store.figure_path(spec.key(), name)}")
    if args.examples is not None and results and results[0].examples is not None:
        out(f"examples: {write_examples(args.examples, results[0].examples, spec)}")
    return 0


def examples_options(args: argparse.Namespace, task_type: str, store: ResultStore, key: str) -> dict[str, Any]:
    """``execute`` options for ``--examples``; a clear error where no picture can be made."""
    if args.examples is None:
        return {}
    if task_type != "segmentation":
        raise SpecError(f"--examples draws segmentation masks; dataset task type is {task_type}. Drop --examples.")
    if not args.force and store.completed(key) is not None:
        raise SpecError(
            "--examples needs the trained model, but this run is already in the store (models are not kept): add "
            "--force to re-run it, or use another --store."
        )
    if args.examples.suffix.lower() != ".png":
        raise SpecError(f"--examples {args.examples} must name a .png file.")
    return {"examples": args.examples_count}


def write_examples(path: Path, examples: Examples, spec: RunSpec) -> Path:
    from dabench.report.segmentation_grid import write_prediction_grid

    path.parent.mkdir(parents=True, exist_ok=True)
    where = f"{spec.dataset.label()} → {spec.target.label()}" if spec.target is not None else spec.dataset.label()
    title = f"{spec.method.name} · {where} · test domain {examples.domain} · seed {spec.seed}"
    return write_prediction_grid(path, examples.images, examples.masks, examples.predictions, title=title)


def wait_for_other(spec: RunSpec, busy: Outcome, registry: Registry, store: ResultStore, **options: Any) -> Outcome:
    """A single run whose key another process is running: wait for that process (or take over its claim when
    it dies) instead of running the key twice."""
    from dabench.run.claims import ClaimTable
    from dabench.run.execution import wait_for_busy

    holder = busy.holder.describe() if busy.holder is not None else "another process"
    out(f"waiting: {spec.key()[:12]} is being run by {holder}; waiting for it instead of running it twice")
    claims = ClaimTable(store.root)
    pending = {1: (spec, busy)}
    for _, outcome in wait_for_busy(pending, registry, store, claims=claims, **options):
        return outcome
    raise AssertionError("wait_for_busy ended without an outcome")


def warn_notes(outcome: Outcome) -> None:
    for note in outcome.notes:
        err(f"warning: {note}")


def diverged_message(record: dict[str, Any], path: Path) -> str:
    """The one-line error of a diverged run, with what to try."""
    info = record.get("divergence") or {}
    where = f" at step {info['step']} of {info['total']}" if info.get("step") is not None else ""
    detail = info.get("detail") or record.get("error", "")
    lr = record.get("spec", {}).get("params", {}).get("lr")
    lr_hint = f"; it is {lr}" if lr is not None else ""
    return (
        f"error: run diverged{where} ({detail}); recorded as failed in {path}. Lower the learning rate "
        f"(--set lr=...{lr_hint}) or the loss weights, or check the data for extreme values."
    )


def print_record(record: dict[str, Any]) -> None:
    from tabulate import tabulate

    from dabench.report.leaderboard import setting_of

    protocol, dataset, target, shift = setting_of(record)
    spec = record["spec"]
    out(
        f"{spec['method']['name']} on {dataset} → {target if target != '-' else dataset} (shift {shift}, "
        f"protocol {protocol}, seed {spec['seed']})"
    )
    if record.get("status") != "ok":
        return
    rows = []

    def num(value: float | None) -> str:  # null in a record means undefined (it was non-finite)
        return "–" if value is None else f"{value:.4f}"

    for domain, metrics in record["metrics"].items():
        for name, est in metrics.items():
            rows.append([domain, name, num(est["value"]), f"[{num(est['low'])}, {num(est['high'])}]"])
        for name, value in record.get("validators", {}).get(domain, {}).items():
            rows.append([domain, f"{name} (validator)", num(value), ""])
    out(tabulate(rows, headers=["domain", "metric", "value", "95% CI"], tablefmt="github", disable_numparse=True))
    benefit = record.get("benefit_predictors", {})
    rows = [
        [domain, name, num(v.get("target_score")), num(v.get("shift_score"))]
        for domain, values in benefit.get("domains", {}).items()
        for name, v in values.items()
    ]
    if rows:
        headers = ["domain", "benefit predictor", f"target {benefit.get('estimates', 'score')}", "shift score"]
        out(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    timings = record.get("timings", {})
    out(f"time: {timings.get('total_s') or 0:.1f} s (fit {timings.get('fit_s') or 0:.1f} s)")


def sweep_status(args: argparse.Namespace, registry: Registry) -> int:
    """``dabench sweep FILE --status``: where each spec stands, from the store and its claims; runs nothing."""
    from dabench.run.store import ResultStore
    from dabench.run.sweep import load_sweep
    from dabench.run.sweep_status import sweep_status as status_of

    status = status_of(load_sweep(args.file, registry), ResultStore(args.store))
    out(f"{status.summary()} ({args.store})")
    out(status.table())
    return 0


def sweep_executor(args: argparse.Namespace, registry: Registry) -> Executor:
    """The executor ``--executor`` / ``--jobs`` / ``--runs-per-gpu`` ask for (in-process when none is given)."""
    from dabench.run.executors import executor_class
    from dabench.run.executors.local import LocalExecutor
    from dabench.run.executors.pool import PoolExecutor

    pooled = (args.jobs or 1) > 1 or args.runs_per_gpu is not None
    name = args.executor or ("pool" if pooled else "local")
    if name == "local":
        if pooled:
            raise SpecError(
                "--executor local runs in this process; --jobs > 1 and --runs-per-gpu need --executor pool."
            )
        return LocalExecutor(registry)
    if name == "pool":
        return PoolExecutor(args.jobs, runs_per_gpu=args.runs_per_gpu, threads=getattr(args, "threads", None))
    return executor_class(name)()


def cmd_sweep(args: argparse.Namespace) -> int:
    from dabench.run.runner import resolve_device
    from dabench.run.store import ResultStore
    from dabench.run.sweep import Progress, count_outcomes, load_sweep, run_sweep

    registry = load_registry()
    if args.status:
        return sweep_status(args, registry)
    sweep = load_sweep(args.file, registry)
    data_root = resolve_data_root(args.data_root)
    store = ResultStore(args.store)
    store.ensure_writable()
    if not remote_device(args):
        resolve_device(args.device)
    out(f"sweep {sweep.name}: {len(sweep.specs)} runs → {args.store}")
    if sweep.predictors is not None:
        from dabench.run.benefit_plan import declare

        out(f"benefit-predictor plan declared in {declare(store.root, sweep.predictors)}")

    def report(p: Progress) -> None:
        acc = p.outcome.record.get("metrics", {}).get("target", {}).get("accuracy", {}).get("value")
        extra = f" target acc {acc:.3f}" if acc is not None else ""
        if p.outcome.status == "failed":
            extra = f" FAILED: {p.outcome.record.get('error', '')[:200]}"
        if p.outcome.status == "busy":
            holder = p.outcome.holder.describe() if p.outcome.holder is not None else "another process"
            extra = f" claimed by {holder}; waiting for it after the rest"
        if p.outcome.waited:
            extra += " (run by another process)"
        warn_notes(p.outcome)
        if args.quiet and p.outcome.status != "failed":
            return
        spec = p.spec
        out(
            f"[{p.index}/{p.total}] {p.outcome.status:6s} {spec.method.name} {spec.dataset.label()} "
            f"{spec.shift_label()} seed={spec.seed}{extra} | elapsed {p.elapsed_s:.0f}s, ETA {p.eta_s:.0f}s"
        )

    executor = cluster_executor(args, sweep, store) or sweep_executor(args, registry)
    submitted = submit_without_waiting(args, executor, sweep, store, data_root)
    if submitted is not None:
        return submitted
    apply_threads(args)
    parallelism = getattr(executor, "parallelism", 1)
    with executor, sweep_progress(args, len(sweep.specs), report, parallelism) as on_progress:
        outcomes = run_sweep(
            sweep,
            registry,
            store,
            data_root=data_root,
            device=args.device,
            force=args.force,
            on_progress=on_progress,
            executor=executor,
        )
    counts = count_outcomes(outcomes)
    out(f"done: {counts.summary()}")
    return 1 if counts.failed else 0
