"""Reading the BN-adaptation study's run records: which runs pair up, source settings, target cells and arms.

A record is one training (a method, one configuration, one source setting, one seed) evaluated on every target
domain of its protocol: ``perlin_grid`` (domains ``mu1=<v>,mu2=<v>``, one per Perlin target cell, and ``source``)
or ``shift_grid`` (domains ``test@<i>``, one per shift intensity, and ``source``). ``source_only`` is the unadapted
arm; every other method configuration is an adapted arm (``adabn``, or ``adabn[estimator=running]`` when several
configurations of one method are present). An adapted record pairs with the ``source_only`` record of the same
*study* (dataset, its non-(μ1, μ2) options, the training parameters both methods share), the same source setting and
the same seed: the same source model before adaptation, evaluated on the same test images.

References
----------
Stenger A et al., "Exploring deep learning domain adaptation performance: from covariate shift to Wasserstein and
beyond" (shared/papers/batchnorm-adaptation-fibsem-segmentation.txt): a U-Net trained on a source (μ1, μ2) Perlin
setting, evaluated on each target cell without and with BatchNorm adaptation.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BASELINE = "source_only"
PERLIN = "perlin_grid"
SHIFT = "shift_grid"
PROTOCOLS = (PERLIN, SHIFT)
SOURCE_DOMAIN = "source"
SHIFT_PREFIX = "test@"
PERLIN_DEFAULTS = {"mu1": 0.7, "mu2": 0.3}
"""The Perlin dataset's defaults for an option a domain string leaves out."""
_CELL = re.compile(r"^mu1=(?P<mu1>[^,]+),mu2=(?P<mu2>[^,]+)$")

Record = Mapping[str, Any]


def ok_records(records: Iterable[Record], protocol: str) -> list[Record]:
    """The completed records of ``protocol``."""
    return [r for r in records if r.get("status") == "ok" and (r.get("spec") or {}).get("protocol") == protocol]


def options_of(domain: str | None) -> dict[str, str]:
    """``{"mu1": "0.7", "n_train": "1000"}`` of a dataset domain string ``mu1=0.7,n_train=1000``."""
    out: dict[str, str] = {}
    for part in (domain or "").split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def cell_of(domain: str) -> tuple[float, float] | None:
    """(μ1, μ2) of a Perlin target domain ``mu1=0.1,mu2=0.3``; None for any other name."""
    match = _CELL.match(domain)
    if match is None:
        return None
    try:
        return round(float(match["mu1"]), 9), round(float(match["mu2"]), 9)
    except ValueError:
        return None


def cell_name(mu1: float, mu2: float) -> str:
    """The domain name of a Perlin cell (``:g`` formatting, as the protocol names it)."""
    return f"mu1={mu1:g},mu2={mu2:g}"


def intensity_of(domain: str) -> float | None:
    """0.3 of ``test@0.3`` (rounded to 9 decimals); None for any other name."""
    if not domain.startswith(SHIFT_PREFIX):
        return None
    try:
        return round(float(domain[len(SHIFT_PREFIX) :]), 9)
    except ValueError:
        return None


def source_setting(record: Record) -> tuple[float, float]:
    """(μ1, μ2) of a ``perlin_grid`` record's source dataset (the Perlin defaults for an option left out)."""
    options = options_of((record["spec"].get("dataset") or {}).get("domain"))
    return tuple(round(float(options.get(k, PERLIN_DEFAULTS[k])), 9) for k in ("mu1", "mu2"))  # type: ignore[return-value]


def shift_label(record: Record) -> str:
    """``brightness`` or ``gamma[mode=x]``: the record's shift chain without intensities (they are the grid)."""

    def one(step: Mapping[str, Any]) -> str:
        options = step.get("options") or {}
        extra = ",".join(f"{k}={options[k]}" for k in sorted(options))
        return f"{step['name']}[{extra}]" if extra else str(step["name"])

    return "+".join(one(s) for s in record["spec"].get("shift") or []) or "none"


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _dataset_label(record: Record, drop_mu: bool) -> str:
    dataset = record["spec"].get("dataset") or {}
    options = options_of(dataset.get("domain"))
    if drop_mu:
        options = {k: v for k, v in options.items() if k not in PERLIN_DEFAULTS}
    extra = ",".join(f"{k}={options[k]}" for k in sorted(options))
    return f"{dataset.get('name', '?')}:{extra}" if extra else str(dataset.get("name", "?"))


@dataclass(frozen=True)
class Arm:
    """An adapted configuration: a method and what distinguishes it from the method's other configurations."""

    method: str
    variant: str = ""

    @property
    def label(self) -> str:
        return f"{self.method}[{self.variant}]" if self.variant else self.method


@dataclass
class Setting:
    """One study × adapted arm × source setting: the paired records by seed, ``pairs[seed] = (unadapted,
    adapted)``. ``source`` is (μ1, μ2) for ``perlin_grid`` and the shift label for ``shift_grid``."""

    protocol: str
    study: str
    arm: Arm
    source: tuple[float, float] | str
    pairs: dict[int, tuple[Record, Record]] = field(default_factory=dict)
    unpaired: int = 0

    @property
    def source_label(self) -> str:
        if isinstance(self.source, tuple):
            return cell_name(*self.source)
        return self.source

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(sorted(self.pairs))


def _study_key(record: Record, shared: Sequence[str]) -> str:
    spec = record["spec"]
    params = spec.get("params") or {}
    dataset = dict(spec.get("dataset") or {})
    if spec.get("protocol") == PERLIN:
        dataset["domain"] = _dataset_label(record, drop_mu=True)
    drop = ("plugin", "code")
    key = {
        "protocol": spec.get("protocol"),
        "protocol_version": spec.get("protocol_version", "1"),
        "dataset": {k: v for k, v in dataset.items() if k not in drop},
        "params": {k: params[k] for k in shared if k in params},
    }
    return json.dumps(key, sort_keys=True, default=str)


def _setting_of(record: Record) -> tuple[float, float] | str:
    return source_setting(record) if record["spec"].get("protocol") == PERLIN else shift_label(record)


def _arms(adapted: Sequence[Record], shared: Sequence[str]) -> dict[str, Arm]:
    """record key -> its arm: method plus the method's own parameters that differ between its records."""
    by_method: dict[str, list[Record]] = {}
    for record in adapted:
        by_method.setdefault(record["spec"]["method"]["name"], []).append(record)
    arms: dict[str, Arm] = {}
    for method, group in by_method.items():
        configs = [
            {"version": r["spec"]["method"].get("version", "?")}
            | {k: v for k, v in (r["spec"].get("params") or {}).items() if k not in shared}
            for r in group
        ]
        keys = sorted({k for c in configs for k in c})
        differing = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1]
        for record, config in zip(group, configs, strict=True):
            arms[str(record.get("key", id(record)))] = Arm(
                method, ",".join(f"{k}={_show(config.get(k))}" for k in differing)
            )
    return arms


def settings(records: Iterable[Record], protocol: str) -> list[Setting]:
    """The paired settings of ``protocol``'s completed records, in a stable order (study, arm, source).

    Records without a partner of the same study, source setting and seed are counted in ``unpaired``; of several
    records of one seed and arm the first by record key is used."""
    done = sorted(ok_records(records, protocol), key=lambda r: str(r.get("key", "")))
    baselines = [r for r in done if r["spec"]["method"]["name"] == BASELINE]
    adapted = [r for r in done if r["spec"]["method"]["name"] != BASELINE]
    shared = sorted({k for r in baselines for k in (r["spec"].get("params") or {})})
    base: dict[tuple[str, Any, int], Record] = {}
    for record in baselines:
        base.setdefault((_study_key(record, shared), _setting_of(record), int(record["spec"].get("seed", 0))), record)
    arms = _arms(adapted, shared)
    labels = _study_labels(done, shared)
    out: dict[tuple[str, str, str], Setting] = {}
    for record in adapted:
        study, source, seed = _study_key(record, shared), _setting_of(record), int(record["spec"].get("seed", 0))
        arm = arms[str(record.get("key", id(record)))]
        setting = out.setdefault((study, arm.label, json.dumps(source)), Setting(protocol, labels[study], arm, source))
        partner = base.get((study, source, seed))
        if partner is None or seed in setting.pairs:
            setting.unpaired += 1
            continue
        setting.pairs[seed] = (partner, record)
    ordered = sorted(out.items(), key=lambda kv: (kv[1].study, kv[0][1], _order(kv[1].source)))
    return [s for _, s in ordered if s.pairs]


def _order(source: tuple[float, float] | str) -> tuple[Any, ...]:
    return (0, *source) if isinstance(source, tuple) else (1, source)


def _study_labels(records: Sequence[Record], shared: Sequence[str]) -> dict[str, str]:
    """study key -> a readable label: the dataset (without μ1, μ2 for Perlin), numbered when two studies share it."""
    names: dict[str, str] = {}
    for record in records:
        names.setdefault(
            _study_key(record, shared), _dataset_label(record, drop_mu=record["spec"]["protocol"] == PERLIN)
        )
    by_name: dict[str, list[str]] = {}
    for key in sorted(names):
        by_name.setdefault(names[key], []).append(key)
    labels: dict[str, str] = {}
    for name, keys in by_name.items():
        for k, key in enumerate(keys, start=1):
            labels[key] = name if len(keys) == 1 else f"{name} (configuration {k})"
    return labels


def estimate(record: Record, domain: str, metric: str) -> Mapping[str, Any] | None:
    """The record's estimate dict of ``metric`` on ``domain`` (None when absent)."""
    found = ((record.get("metrics") or {}).get(domain) or {}).get(metric)
    return found if isinstance(found, Mapping) else None


def diagnostic(record: Record, domain: str, name: str) -> float:
    """The record's diagnostic ``name`` on ``domain``; NaN when absent or null."""
    value = ((record.get("diagnostics") or {}).get(domain) or {}).get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def domains(setting: Setting) -> list[str]:
    """The target domains some pair of ``setting`` evaluated (``source`` excluded), in grid order."""
    names = {d for pair in setting.pairs.values() for r in pair for d in (r.get("metrics") or {})}
    names.discard(SOURCE_DOMAIN)
    parse = cell_of if setting.protocol == PERLIN else intensity_of
    known = [d for d in names if parse(d) is not None]
    return sorted(known, key=lambda d: parse(d))  # type: ignore[arg-type,return-value]
