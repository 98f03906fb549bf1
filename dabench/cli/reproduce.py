"""``dabench reproduce``: re-run a sample of a store's records in a temporary store and compare their metrics.

Exit codes: 0 nothing outside the stored intervals; 1 some value outside (or a re-run failed): a reproducibility
finding; 2 bad input (missing store, no ok records, ``--sample 0``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from dabench.cli.common import load_registry, out, resolve_data_root


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``reproduce``."""
    parser = sub.add_parser(
        "reproduce",
        help="re-run stored records (never touching the store) and check their metrics agree",
        description="Re-run a deterministic sample of a store's ok records into a temporary store and compare every "
        "metric value: identical (bitwise), within the stored interval, or outside it.",
    )
    parser.add_argument("--store", type=Path, required=True, help="result store whose records to reproduce")
    parser.add_argument("--sample", type=int, help="number of ok records to re-run (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    parser.add_argument("--data-root", help="folder with the datasets (default: $DABENCH_DATA)")
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda[:N] (default: cpu)")
    parser.add_argument("--details", action="store_true", help="list every value that is not bitwise identical")
    parser.set_defaults(func=cmd_reproduce)


def _delta(value: float | None) -> str:
    if value is None:
        return "–"
    return "missing" if math.isinf(value) else f"{value:.3g}"


def cmd_reproduce(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from dabench.run.provenance import describe_hardware, hardware_differences
    from dabench.run.reproduce import FAILED, IDENTICAL, NOT_COMPARABLE, ORDER, OUTSIDE, RecordCheck, reproduce

    registry = load_registry()
    data_root = resolve_data_root(args.data_root)
    counter = {"done": 0, "total": 0}

    def start(n: int, n_ok: int) -> None:
        counter["total"] = n
        out(f"reproduce: {n} of {n_ok} ok records of {args.store} (sample seed {args.seed}), into a temporary store")

    def progress(check: RecordCheck) -> None:
        counter["done"] += 1
        extra = check.reason if check.reason else f"max |Δ| {_delta(check.max_delta)}"
        out(
            f"[{counter['done']}/{counter['total']}] {check.key[:10]} {check.method} {check.setting} "
            f"seed={check.seed}: {check.status} ({extra}; {check.seconds:.1f} s)"
        )

    report = reproduce(
        args.store,
        registry,
        sample=args.sample,
        seed=args.seed,
        data_root=data_root,
        device=args.device,
        on_start=start,
        on_check=progress,
    )
    rows = [[c.key[:10], c.method, c.setting, str(c.seed), c.status, _delta(c.max_delta)] for c in report.checks]
    out()
    out(tabulate(rows, headers=["key", "method", "dataset / shift", "seed", "worst", "max |Δ|"], tablefmt="simple"))
    out()
    now = describe_hardware(report.hardware_now)
    if report.same_machine():
        out(f"hardware: same machine fingerprint {now}")
    else:
        for hw in report.stored_hardware().values():
            if hw is None:
                devices = sorted({c.stored_device for c in report.checks if not c.stored_hardware and c.stored_device})
                said = f" (the records say only: {'; '.join(devices)})" if devices else ""
                out(f"hardware stored: not recorded{said}")
            else:
                differs = ", ".join(hardware_differences(hw, report.hardware_now))
                out(f"hardware stored: {describe_hardware(hw)}" + (f" — differs in {differs}" if differs else ""))
        out(f"hardware now:    {now}")
    records, values = report.record_counts(), report.value_counts()
    out("records: " + ", ".join(f"{records[s]} {s}" for s in ORDER))
    out("metric values: " + ", ".join(f"{count} {s}" for s, count in values.items()))
    for check in report.checks:
        for v in check.values:
            if v.status == OUTSIDE or (args.details and v.status != IDENTICAL):
                new = "missing" if v.new is None else f"{v.new:.6g}"
                out(
                    f"{v.status}: {check.key[:10]} {v.domain} {v.metric}: stored {v.stored:.6g} "
                    f"[{v.low:.6g}, {v.high:.6g}], re-run {new}"
                )
        if check.status in (NOT_COMPARABLE, FAILED):
            out(f"{check.status}: {check.key[:10]}: {check.reason}")
        for note in check.notes:
            out(f"note: {check.key[:10]}: {note}")
    if report.exit_code:
        out("reproducibility finding: some values fall outside their stored intervals (or a re-run failed)")
    elif not sum(values.values()):
        out("nothing compared: no record could be re-run as recorded here (see 'not comparable' above)")
    else:
        out("consistent: every compared value is identical or within its stored interval")
    return report.exit_code
