"""The :class:`RunSpec` a run is a pure function of, its components (:class:`ComponentRef`, :class:`ShiftStep`) and
its content key: sha256 of the canonical JSON. Paths, device and store location are absent by design.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2

# -------------------------------------------------------------------------------------------------- runs


@dataclass(frozen=True, kw_only=True)
class ComponentRef:
    """A component by name and version, as recorded in a run, with its provider: ``plugin`` is the distribution
    and version (``"dabench 0.1.0"``, ``"(explicit)"``) and ``code`` a source hash for local installs (see
    ``docs/design.md``, "What enters the run key"). Both are empty in records of schema 1."""

    name: str
    version: str
    domain: str | None = None
    plugin: str = ""
    code: str = ""

    def label(self) -> str:
        return f"{self.name}:{self.domain}" if self.domain else self.name


@dataclass(frozen=True, kw_only=True)
class ShiftStep:
    """One shift of a (possibly composed) shift chain, at an intensity, with its non-default options."""

    name: str
    version: str
    intensity: float
    options: Mapping[str, Any] = field(default_factory=dict)
    plugin: str = ""
    code: str = ""

    def label(self) -> str:
        extra = "".join(f",{k}={self.options[k]}" for k in sorted(self.options))
        return f"{self.name}:{self.intensity:g}{extra}"

    def canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "intensity": self.intensity}
        if self.options:
            out["options"] = {k: self.options[k] for k in sorted(self.options)}
        return out | _provider(self.plugin, self.code)


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """Everything that determines a run's numbers. ``key()`` is its content address.

    Paths, device and store location are deliberately absent: they must not change results.
    """

    method: ComponentRef
    dataset: ComponentRef
    target: ComponentRef | None
    shift: tuple[ShiftStep, ...]
    metrics: tuple[ComponentRef, ...]
    params: Mapping[str, Any]
    protocol: str = "uda"
    protocol_version: str = "1"
    seed: int = 0
    n_bootstrap: int = 1000
    da_dataset: ComponentRef | None = None
    da_shift: tuple[ShiftStep, ...] = ()
    test_intensities: tuple[float, ...] = ()
    interval: str = "percentile"
    predictors: tuple[ComponentRef, ...] = ()
    """Benefit predictors computed in the run (``benefit_predictors`` of the record); in the key only when set."""
    checkpoint_every: int = 0
    """Keep the model of every k-th epoch for model selection (``checkpoints`` of the record); 0: none. In the key
    only when set."""

    def canonical(self) -> dict[str, Any]:
        """The JSON-able dict that is hashed into the key (and stored in the record).

        The generic protocol inputs (``da_dataset``, ``da_shift``, ``test_intensities``; see :class:`ProtocolSpec`)
        appear only when set, so plain UDA keys do not depend on them."""
        extra: dict[str, Any] = {}
        if self.da_dataset is not None or self.da_shift or self.test_intensities:
            extra = {
                "da_dataset": _ref(self.da_dataset) if self.da_dataset else None,
                "da_shift": [s.canonical() for s in self.da_shift],
                "test_intensities": list(self.test_intensities),
            }
        if self.interval != "percentile":
            extra["interval"] = self.interval
        if self.predictors:
            extra["predictors"] = [_ref(p) for p in self.predictors]
        if self.checkpoint_every:
            extra["checkpoint_every"] = self.checkpoint_every
        if self.protocol_version != "1":  # a protocol whose data handling changed gets new keys (v1 keys unchanged)
            extra["protocol_version"] = self.protocol_version
        return extra | {
            "schema": SCHEMA_VERSION,
            "method": _ref(self.method),
            "dataset": _ref(self.dataset),
            "target": _ref(self.target) if self.target else None,
            "shift": [s.canonical() for s in self.shift],
            "metrics": [_ref(m) for m in self.metrics],
            "params": {k: self.params[k] for k in sorted(self.params) if not _neutral(k, self.params[k])},
            "protocol": self.protocol,
            "seed": self.seed,
            "n_bootstrap": self.n_bootstrap,
        }

    def key(self) -> str:
        """sha256 of the canonical JSON (sorted keys, no whitespace)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def shift_label(self) -> str:
        return "+".join(s.label() for s in self.shift) if self.shift else "none"

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> RunSpec:
        """Rebuild a spec from :meth:`canonical` output (as stored in a record).

        Reads schema 2 (round-trips exactly) and schema 1 (no ``plugin``/``code`` fields: they load empty, and the
        rebuilt spec's :meth:`key` is a schema-2 key, which no resolved run shares)."""

        def ref(d: Mapping[str, Any] | None) -> ComponentRef | None:
            if not d:
                return None
            return ComponentRef(
                name=d["name"],
                version=d["version"],
                domain=d.get("domain"),
                plugin=d.get("plugin", ""),
                code=d.get("code", ""),
            )

        def step(s: Mapping[str, Any]) -> ShiftStep:
            return ShiftStep(
                name=s["name"],
                version=s["version"],
                intensity=s["intensity"],
                options=s.get("options", {}),
                plugin=s.get("plugin", ""),
                code=s.get("code", ""),
            )

        method, dataset = ref(data["method"]), ref(data["dataset"])
        assert method is not None and dataset is not None
        return cls(
            method=method,
            dataset=dataset,
            target=ref(data.get("target")),
            shift=tuple(step(s) for s in data["shift"]),
            metrics=tuple(r for r in (ref(m) for m in data["metrics"]) if r is not None),
            params=dict(data["params"]),
            protocol=data["protocol"],
            protocol_version=str(data.get("protocol_version", "1")),
            seed=data["seed"],
            da_dataset=ref(data.get("da_dataset")),
            da_shift=tuple(step(s) for s in data.get("da_shift", [])),
            test_intensities=tuple(data.get("test_intensities", ())),
            interval=data.get("interval", "percentile"),
            predictors=tuple(r for r in (ref(p) for p in data.get("predictors", ())) if r is not None),
            checkpoint_every=int(data.get("checkpoint_every", 0)),
            n_bootstrap=data.get("n_bootstrap", 1000),
        )


def _neutral(name: str, value: Any) -> bool:
    """Whether ``name=value`` is a key-neutral default (:data:`dabench.nn.hyperparams.KEY_NEUTRAL`)."""
    from dabench.nn.hyperparams import KEY_NEUTRAL

    return name in KEY_NEUTRAL and value == KEY_NEUTRAL[name]


def _ref(ref: ComponentRef) -> dict[str, Any]:
    out: dict[str, Any] = {"name": ref.name, "version": ref.version}
    if ref.domain:
        out["domain"] = ref.domain
    return out | _provider(ref.plugin, ref.code)


def _provider(plugin: str, code: str) -> dict[str, str]:
    """The provider fields of a canonical component (absent when unknown, as in schema-1 records)."""
    return ({"plugin": plugin} if plugin else {}) | ({"code": code} if code else {})
