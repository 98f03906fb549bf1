"""Re-run stored records and compare their metrics: is a published number reproducible here?

Runs are bit-identical on one machine and build; on another CPU, thread count or torch build the last bits of
floating-point sums differ and training amplifies them, so a re-run is expected to be *statistically* consistent, not
identical. :func:`reproduce` re-runs a deterministic sample of a store's ``ok`` records into a temporary store (the
original store is never written) and classifies every metric value on every domain:

- ``identical``: the re-run value is bitwise the stored float;
- ``within``: it lies inside the stored record's interval ``[low, high]``;
- ``outside``: anything else (a reproducibility finding).

A record is ``not comparable`` when its components are not installed here at the recorded versions (or its data is
missing), and ``failed`` when its re-run crashed. This module returns data; ``dabench reproduce`` prints it.
"""

from __future__ import annotations

import hashlib
import math
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dabench.errors import DabenchError, SpecError, StoreError
from dabench.registry import Registry
from dabench.runspec import ComponentRef, RunSpec, ShiftStep

IDENTICAL, WITHIN, OUTSIDE = "identical", "within", "outside"
NOT_COMPARABLE, FAILED = "not comparable", "failed"
#: record statuses from best to worst; a record's status is the worst of its values
ORDER = (IDENTICAL, WITHIN, OUTSIDE, FAILED, NOT_COMPARABLE)


@dataclass(frozen=True)
class ValueCheck:
    """One metric on one domain: the stored value and interval, the re-run value, the status and ``|Δ|``."""

    domain: str
    metric: str
    stored: float
    low: float
    high: float
    new: float | None
    status: str

    @property
    def delta(self) -> float:
        if self.new is None:
            return math.inf
        if self.status == IDENTICAL:
            return 0.0
        return abs(self.new - self.stored)


@dataclass(frozen=True)
class RecordCheck:
    """The outcome for one stored record. ``reason`` explains ``not comparable`` and ``failed``."""

    key: str
    method: str
    setting: str
    seed: int
    status: str
    values: tuple[ValueCheck, ...] = ()
    reason: str = ""
    stored_hardware: Mapping[str, Any] | None = None
    stored_device: str = ""
    new_hardware: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def max_delta(self) -> float | None:
        """Largest ``|Δ|`` over the compared values (None when nothing was compared)."""
        return max((v.delta for v in self.values), default=None)


@dataclass(frozen=True)
class ReproduceReport:
    """Every record checked, with the counts and hardware fingerprints of both sides."""

    store: Path
    n_ok: int
    hardware_now: Mapping[str, Any]
    checks: tuple[RecordCheck, ...] = field(default_factory=tuple)

    def record_counts(self) -> dict[str, int]:
        return {status: sum(c.status == status for c in self.checks) for status in ORDER}

    def value_counts(self) -> dict[str, int]:
        return {s: sum(v.status == s for c in self.checks for v in c.values) for s in (IDENTICAL, WITHIN, OUTSIDE)}

    def stored_hardware(self) -> dict[str, Mapping[str, Any] | None]:
        """The stored records' hardware by fingerprint id (``not recorded`` -> None for records made before
        fingerprints were recorded)."""
        found: dict[str, Mapping[str, Any] | None] = {}
        for check in self.checks:
            hw = check.stored_hardware
            found[str(hw["fingerprint"]) if hw and "fingerprint" in hw else "not recorded"] = hw or None
        return dict(sorted(found.items()))

    def same_machine(self) -> bool:
        """True when every checked record was made on this machine's fingerprint."""
        return list(self.stored_hardware()) == [self.hardware_now.get("fingerprint")]

    @property
    def exit_code(self) -> int:
        """0 when nothing is outside its interval (and no re-run failed), 1 otherwise."""
        counts = self.record_counts()
        return 1 if counts[OUTSIDE] or counts[FAILED] else 0


# ---------------------------------------------------------------------------------------------- sampling


def sample_keys(keys: Iterable[str], n: int | None, seed: int = 0) -> list[str]:
    """``n`` of ``keys`` (all when ``n`` is None or at least their count), in key order.

    The sample ranks keys by ``sha256(f"{seed}:{key}")``: deterministic on every platform and Python version, and a
    key's rank does not depend on which other records are in the store."""
    ordered = sorted(set(keys))
    if n is None or n >= len(ordered):
        return ordered
    if n < 1:
        raise SpecError(f"--sample {n} selects nothing: pass a positive number of records (or leave it out for all).")
    ranked = sorted(ordered, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())
    return sorted(ranked[:n])


# -------------------------------------------------------------------------------------------- comparison


def _bitwise_equal(a: float, b: float) -> bool:
    return struct.pack("<d", float(a)) == struct.pack("<d", float(b))


def _number(value: Any) -> float:
    """A stored estimate field as a float; ``null`` (an undefined value in a strict-JSON record) is NaN."""
    return math.nan if value is None else float(value)


def classify(stored: Mapping[str, Any], new: float | None) -> str:
    """``identical``, ``within`` or ``outside`` for a re-run value against a stored estimate ``{value, low, high}``."""
    if stored.get("value") is None:  # undefined when recorded (e.g. AUC with one class): it must stay undefined
        return IDENTICAL if new is None or math.isnan(new) else OUTSIDE
    if new is None:
        return OUTSIDE
    if _bitwise_equal(stored["value"], new):
        return IDENTICAL
    low, high = _number(stored.get("low")), _number(stored.get("high"))
    return WITHIN if low <= new <= high else OUTSIDE


def compare_metrics(stored: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[ValueCheck]:
    """Every stored metric value on every stored domain against the re-run's (a value missing there is outside)."""
    checks = []
    for domain in sorted(stored):
        for metric in sorted(stored[domain]):
            est = stored[domain][metric]
            value = new.get(domain, {}).get(metric, {}).get("value")
            value = None if value is None else float(value)
            checks.append(
                ValueCheck(
                    domain=domain,
                    metric=metric,
                    stored=_number(est.get("value")),
                    low=_number(est.get("low")),
                    high=_number(est.get("high")),
                    new=value,
                    status=classify(est, value),
                )
            )
    return checks


def _components(spec: RunSpec) -> list[tuple[str, ComponentRef | ShiftStep]]:
    refs: list[tuple[str, ComponentRef | ShiftStep]] = [("method", spec.method), ("dataset", spec.dataset)]
    refs += [("dataset", r) for r in (spec.target, spec.da_dataset) if r is not None]
    refs += [("shift", s) for s in (*spec.shift, *spec.da_shift)]
    refs += [("metric", m) for m in spec.metrics]
    return refs


def incomparable_reason(spec: RunSpec, registry: Registry) -> str:
    """Why ``spec`` cannot be re-run as recorded here (a component missing, at another version or from another
    plugin version), or ``""`` when every component matches. A changed source hash is a note, not a reason
    (:func:`code_notes`)."""
    if spec.protocol not in registry.protocols:
        return f"protocol {spec.protocol!r} is not available here"
    installed_protocol = registry.protocols.get(spec.protocol).version
    if installed_protocol != spec.protocol_version:
        return f"protocol {spec.protocol!r} is version {installed_protocol} here, {spec.protocol_version} in the record"
    reasons = []
    for kind, ref in _components(spec):
        table = registry.table(kind)
        if ref.name not in table:
            reasons.append(f"{kind} {ref.name!r} is not installed")
            continue
        installed = table.get(ref.name).version
        if installed != ref.version:
            reasons.append(f"{kind} {ref.name!r} is version {installed} here, {ref.version} in the record")
            continue
        if ref.plugin or ref.code:
            origin = registry.origin(kind, ref.name)
            if ref.plugin and origin.plugin != ref.plugin:
                reasons.append(f"{kind} {ref.name!r} comes from {origin.plugin} here, {ref.plugin} in the record")
    return "; ".join(dict.fromkeys(reasons))


def code_notes(spec: RunSpec, registry: Registry) -> tuple[str, ...]:
    """Components whose source changed since the record (editable/local installs). The record is still re-run and
    compared — a changed source that changes the numbers shows up as ``outside`` — but the report says so."""
    notes = []
    for kind, ref in _components(spec):
        if ref.code and ref.name in registry.table(kind):
            origin = registry.origin(kind, ref.name)
            if origin.code != ref.code:
                notes.append(f"{kind} {ref.name!r}'s source changed since the record (code {ref.code} → {origin.code})")
    return tuple(dict.fromkeys(notes))


def _library_notes(stored: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    before, after = stored.get("libraries") or {}, new.get("libraries") or {}
    return tuple(
        f"{name} {before[name]} in the record, {after.get(name)} here"
        for name in sorted(before)
        if before.get(name) != after.get(name)
    )


def _setting(spec: RunSpec) -> str:
    dataset = spec.dataset.label()
    if spec.target is not None and spec.target.label() != dataset:
        dataset += f"→{spec.target.label()}"
    text = f"{dataset} / {spec.shift_label()}"
    if spec.protocol != "uda":
        da = spec.da_dataset.label() if spec.da_dataset else dataset
        da_shift = "+".join(s.label() for s in spec.da_shift) or "none"
        text += f" ({spec.protocol}, DA {da} / {da_shift})"
    return text


def _match_threads(provenance: Mapping[str, Any]) -> None:
    """Re-run with the record's torch thread count (the thread count changes floating-point sums, so a re-run under
    another count is at best *within*, never *identical*)."""
    from dabench.run.threads import ensure_threads

    threading = provenance.get("threading") or {}
    threads = threading.get("threads") or (provenance.get("hardware") or {}).get("threads")
    if isinstance(threads, int) and threads >= 1:
        ensure_threads(threads, rule="reproduce: the record's thread count")


def check_record(
    record: Mapping[str, Any],
    registry: Registry,
    *,
    data_root: Path | None = None,
    device: str = "cpu",
    workdir: Path,
) -> RecordCheck:
    """Re-run one stored ``ok`` record into a fresh store under ``workdir`` and compare its metrics."""
    from dabench.run.execution import execute
    from dabench.run.store import ResultStore

    stored_prov = record.get("provenance") or {}
    try:
        spec = RunSpec.from_canonical(record["spec"])
    except (KeyError, TypeError, ValueError) as exc:
        return RecordCheck(record.get("key", "?"), "?", "?", -1, NOT_COMPARABLE, reason=f"unreadable spec ({exc})")
    head: dict[str, Any] = {
        "key": str(record["key"]),
        "method": spec.method.name,
        "setting": _setting(spec),
        "seed": spec.seed,
        "stored_hardware": stored_prov.get("hardware"),
        "stored_device": str(stored_prov.get("device", "")),
    }
    reason = incomparable_reason(spec, registry)
    if reason:
        return RecordCheck(**head, status=NOT_COMPARABLE, reason=reason)
    _match_threads(stored_prov)
    started = time.perf_counter()
    try:
        outcome = execute(spec, registry, ResultStore(workdir), data_root=data_root, device=device, force=True)
    except DabenchError as exc:
        return RecordCheck(**head, status=NOT_COMPARABLE, reason=str(exc))
    seconds = time.perf_counter() - started
    new_prov = outcome.record.get("provenance") or {}
    if outcome.status != "ok":
        return RecordCheck(**head, status=FAILED, reason=str(outcome.record.get("error")), seconds=seconds)
    values = compare_metrics(record.get("metrics") or {}, outcome.record.get("metrics") or {})
    if not values:
        return RecordCheck(**head, status=NOT_COMPARABLE, reason="the record stores no metric values", seconds=seconds)
    worst = max(ORDER.index(v.status) for v in values)
    return RecordCheck(
        **head,
        status=ORDER[worst],
        values=tuple(values),
        new_hardware=new_prov.get("hardware"),
        notes=code_notes(spec, registry) + _library_notes(stored_prov, new_prov),
        seconds=seconds,
    )


def ok_records(store: Path) -> list[dict[str, Any]]:
    """The ``ok`` records of ``store`` in key order; :class:`StoreError` when the store is missing or has none."""
    from dabench.run.store import ResultStore

    if not (store / "records").is_dir():
        raise StoreError(
            f"result store {str(store)!r} does not exist or has no records/ folder: pass --store DIR of a store "
            "written by 'dabench run' or 'dabench sweep'."
        )
    records = [r for r in ResultStore(store).scan().records if r.get("status") == "ok"]
    if not records:
        raise StoreError(f"result store {str(store)!r} has no completed (ok) records to reproduce: run a sweep first.")
    return records


def reproduce(
    store: Path,
    registry: Registry,
    *,
    sample: int | None = None,
    seed: int = 0,
    data_root: Path | None = None,
    device: str = "cpu",
    on_start: Callable[[int, int], None] | None = None,
    on_check: Callable[[RecordCheck], None] | None = None,
) -> ReproduceReport:
    """Re-run ``sample`` ok records of ``store`` (all when None; chosen by :func:`sample_keys`) into a temporary
    store, and compare each with its stored record. For progress, ``on_start(n_chosen, n_ok)`` is called once
    before the first re-run and ``on_check(check)`` after each record."""
    from dabench.run.provenance import hardware
    from dabench.run.runner import resolve_device

    if sample is not None and sample < 1:
        raise SpecError(f"--sample {sample} selects nothing: pass a positive number of records (or leave it out).")
    torch_device = resolve_device(device)
    records = {str(r["key"]): r for r in ok_records(store)}
    chosen: Sequence[str] = sample_keys(records, sample, seed)
    if on_start is not None:
        on_start(len(chosen), len(records))
    checks = []
    with tempfile.TemporaryDirectory(prefix="dabench-reproduce-") as tmp:
        for key in chosen:
            check = check_record(records[key], registry, data_root=data_root, device=device, workdir=Path(tmp))
            checks.append(check)
            if on_check is not None:
                on_check(check)
    return ReproduceReport(store=store, n_ok=len(records), hardware_now=hardware(torch_device), checks=tuple(checks))
