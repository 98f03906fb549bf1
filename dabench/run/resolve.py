"""Turn a user's request (CLI flags, a sweep entry) into a fully resolved, validated :class:`RunSpec`.

Parameters resolve as ``method defaults ← dataset overrides ← user values`` (``--set k=v``); every resolved value
goes into the run key. Shift chains are written ``name:intensity[,option=value...]`` joined by ``+``
(e.g. ``noise:0.8+blur:3`` or ``reinhard:1,reference=wbc_zheng:lab1#0``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dabench.errors import SpecError, did_you_mean
from dabench.nn.hyperparams import PARAM_CHOICES, ParamRange
from dabench.registry import Registry
from dabench.runspec import ComponentRef, RunSpec, ShiftStep
from dabench.specs import DatasetSpec, MethodSpec
from dabench.studyspecs import PROTOCOL_INPUTS, ProtocolInputs, ProtocolRequest, ProtocolSpec, ResolveContext

"""Compatibility for sweep-file checks made before a registry lookup (``dabench.run.sweepfile``); :func:`resolve`
takes the valid protocols from the registry (``registry.protocols``, hook ``register_protocols``)."""


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What a user asked for, before validation. ``params`` values may be strings (from ``--set``) or typed."""

    method: str
    dataset: str
    target: str | None = None
    shift: str | None = None
    intensity: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    protocol: str = "uda"
    metrics: tuple[str, ...] | None = None
    n_bootstrap: int = 1000
    da_dataset: str | None = None
    da_shift: str | None = None
    test_intensities: tuple[float, ...] | None = None
    interval: str = "percentile"
    predictors: tuple[str, ...] = ()
    """Benefit predictors to compute in the run: names, or ``("all",)`` for every one of the task type."""
    checkpoint_every: int = 0
    """Keep every k-th epoch's model for model selection (0: none)."""


def parse_set(pairs: Iterable[str]) -> dict[str, str]:
    """``["lr=0.1", "epochs=3"]`` -> dict; a malformed pair raises :class:`SpecError`."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"malformed --set {pair!r}: write key=value, e.g. --set epochs=5.")
        out[key.strip()] = value.strip()
    return out


def coerce(name: str, value: Any, default: Any) -> Any:
    """Convert ``value`` to the type of ``default`` (bool, int, float or str), or raise a clear SpecError."""
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if kind is int:
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, bool) or float(number) != int(number):
                raise ValueError(value)
            return int(number)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            result = float(value)
            if result != result or result in (float("inf"), float("-inf")):
                raise ValueError(value)
            return result
        if isinstance(default, list | tuple | dict) and isinstance(value, str):
            return json.loads(value)
        return value if kind is not str else str(value)
    except (TypeError, ValueError, OverflowError, json.JSONDecodeError):
        raise SpecError(f"parameter {name}={value!r} is not a valid {kind.__name__} (default {default!r}).") from None


def check_param(method: MethodSpec, key: str, value: Any) -> Any:
    """``value`` for parameter ``key`` of ``method``, typed like its default and inside its declared range; an unknown
    name, a wrong type or an out-of-range value raises :class:`SpecError`."""
    defaults = method.all_defaults
    if key not in defaults:
        valid = ", ".join(sorted(defaults)) or "(none)"
        raise SpecError(
            f"method {method.name!r} has no parameter {key!r}.{did_you_mean(key, defaults)} Valid parameters: {valid}."
        )
    typed = coerce(key, value, defaults[key])
    check_range(method, key, typed)
    return typed


def check_range(method: MethodSpec, key: str, value: Any) -> None:
    """Raise :class:`SpecError` when ``value`` is outside ``method``'s declared range for ``key`` (if any)."""
    declared = method.param_ranges.get(key)
    if declared is not None:
        ParamRange.of(declared).check(key, value, owner=f"method {method.name!r}")


def resolve_params(
    method: str,
    defaults: Mapping[str, Any],
    dataset: DatasetSpec,
    user: Mapping[str, Any],
    spec: MethodSpec | None = None,
) -> dict[str, Any]:
    """``defaults ← dataset.param_overrides["*"] ← dataset.param_overrides[method] ← user``, typed and validated;
    with ``spec``, every resolved value must also lie in the method's declared ``param_ranges``."""
    resolved = dict(defaults)
    for layer in (dataset.param_overrides.get("*", {}), dataset.param_overrides.get(method, {})):
        resolved.update({k: v for k, v in layer.items() if k in defaults})
    for key, value in user.items():
        if key not in defaults:
            valid = ", ".join(sorted(defaults)) or "(none)"
            other = spec is not None and key in spec.all_defaults
            why = f" for {dataset.task_type} runs (it applies to another task type)" if other else ""
            raise SpecError(
                f"method {method!r} has no parameter {key!r}{why}.{did_you_mean(key, defaults)} "
                f"Valid parameters: {valid}."
            )
        resolved[key] = coerce(key, value, defaults[key])
    for key, choices in PARAM_CHOICES.items():
        if key in resolved and resolved[key] not in choices:
            raise SpecError(
                f"method {method!r}: {key}={resolved[key]!r} is not valid; use one of {', '.join(choices)} "
                f"(e.g. --set {key}={choices[-1]})."
            )
    if resolved.get("backbone_weights") and not Path(str(resolved["backbone_weights"])).is_file():
        raise SpecError(
            f"backbone_weights={resolved['backbone_weights']!r} is not a file: give the path of a local state dict "
            "(torchvision's resnet18 key names); nothing is downloaded."
        )
    if spec is not None:
        for key, value in resolved.items():
            check_range(spec, key, value)
    return resolved


def dataset_ref(registry: Registry, text: str) -> tuple[DatasetSpec, ComponentRef]:
    """``name`` or ``name:domain`` -> (spec, ref). A domain's leading bare name must be one the dataset declares;
    ``key=value`` options after it (``wbc_zheng:lab1,size=64``) are checked by the dataset's loader."""
    name, _, domain = text.partition(":")
    spec = registry.datasets.get(name)
    head = domain.split(",")[0].strip()
    if head and "=" not in head and spec.domains and head not in spec.domains:
        options = ", ".join(spec.domains)
        raise SpecError(
            f"dataset {name!r} has no domain {head!r}.{did_you_mean(head, spec.domains)} Valid domains: {options}."
        )
    return spec, registry.ref("dataset", name, domain or None)


def parse_shift_chain(registry: Registry, text: str, intensity: float | None = None) -> tuple[ShiftStep, ...]:
    """Parse ``noise:0.8+blur:3`` (or ``noise`` with ``intensity``) into validated :class:`ShiftStep` objects."""
    if not text or text == "none":
        if intensity is not None:
            raise SpecError(
                f"--intensity {intensity:g} needs a --shift to apply to: name one shift without ':X', e.g. "
                f"--shift noise --intensity {intensity:g} (see 'dabench list shifts')."
            )
        return ()
    parts = text.split("+")
    if intensity is not None and (len(parts) != 1 or ":" in parts[0]):
        raise SpecError(f"--intensity applies to a single shift without ':'; got --shift {text!r}.")
    steps = []
    for part in parts:
        head, *options_text = part.split(",")
        name, sep, value = head.partition(":")
        spec = registry.shifts.get(name.strip())
        if sep:
            try:
                level = float(value)
            except ValueError:
                raise SpecError(f"shift intensity {value!r} in {part!r} is not a number (e.g. noise:0.8).") from None
        elif intensity is not None:
            level = float(intensity)
        else:
            raise SpecError(f"shift {name!r} needs an intensity: write {name}:X or pass --intensity X.")
        spec.check_intensity(level)
        options: dict[str, Any] = {}
        for item in options_text:
            key, eq, val = item.partition("=")
            if not eq:
                raise SpecError(f"shift option {item!r} in {part!r} must be key=value.")
            if key not in spec.defaults:
                valid = ", ".join(sorted(spec.defaults)) or "(none)"
                raise SpecError(f"shift {spec.name!r} has no option {key!r}. Valid options: {valid}.")
            options[key] = coerce(key, val, spec.defaults[key])
        steps.append(registry.shift_step(spec.name, level, options))
    return tuple(steps)


def resolve(request: RunRequest, registry: Registry) -> RunSpec:
    """Validate every name and value of ``request`` against ``registry`` and return the :class:`RunSpec`."""
    method = registry.methods.get(request.method)
    dataset, dataset_component = dataset_ref(registry, request.dataset)
    target_component = dataset_ref(registry, request.target)[1] if request.target else None
    if dataset.task_type not in method.task_types:
        raise SpecError(
            f"method {method.name!r} handles {', '.join(method.task_types)} tasks; dataset {dataset.name!r} is "
            f"{dataset.task_type}."
        )
    protocol = registry.protocols.get(request.protocol)  # unknown: "did you mean", valid names from the registry
    if request.interval not in ("percentile", "bca"):
        raise SpecError(f"unknown interval {request.interval!r}: use percentile or bca.")
    if request.seed < 0:
        raise SpecError(f"seed {request.seed} is negative: a seed is an integer >= 0 (e.g. --seed 0).")
    if request.n_bootstrap < 0:
        raise SpecError(
            f"n_bootstrap {request.n_bootstrap} is negative: give the number of bootstrap replicates, 0 (no "
            "intervals) or more (e.g. --n-bootstrap 1000)."
        )
    if request.checkpoint_every < 0:
        raise SpecError(
            f"checkpoint_every {request.checkpoint_every} is negative: give k >= 1 to keep every k-th epoch's model "
            "for model selection (e.g. --checkpoint-every 5), or 0 for none."
        )
    inputs = resolve_protocol(protocol, request, registry)
    check_task_types(registry, dataset, request.metrics or (), request.target)
    metric_names = request.metrics or registry.default_metrics(dataset.task_type)
    metrics = tuple(registry.ref("metric", m) for m in metric_names)
    if metrics and registry.metrics.get(metrics[0].name).diagnostic:
        scores = [m for m in metric_names if not registry.metrics.get(m).diagnostic]
        order = ",".join(dict.fromkeys([*scores[:1], *metric_names]))
        raise SpecError(
            f"metric {metrics[0].name!r} is a diagnostic, not a score, so it cannot come first (the first metric "
            f"ranks runs and keeps paired replicates): put a score first, e.g. --metrics {order}."
        )
    return RunSpec(
        method=registry.ref("method", method.name),
        dataset=dataset_component,
        target=target_component,
        shift=inputs.shift,
        metrics=metrics,
        params=resolve_params(method.name, method.defaults_for(dataset.task_type), dataset, request.params, method),
        protocol=request.protocol,
        protocol_version=protocol.version,
        seed=request.seed,
        n_bootstrap=request.n_bootstrap,
        interval=request.interval,
        da_dataset=inputs.da_dataset,
        da_shift=inputs.da_shift,
        test_intensities=inputs.test_intensities,
        predictors=tuple(registry.ref("benefit_predictor", n) for n in benefit_names(registry, request, dataset)),
        checkpoint_every=request.checkpoint_every,
    )


def benefit_names(registry: Registry, request: RunRequest, dataset: DatasetSpec) -> tuple[str, ...]:
    """The benefit predictors a request names, checked against the dataset's task type; ``all`` expands to every
    installed one of that type (sorted), so the run key lists exactly what was computed."""
    names = list(dict.fromkeys(request.predictors))
    task_type = dataset.task_type
    valid = [p.name for p in registry.benefit_predictors if task_type in p.task_types]
    if "all" in names:
        others = [n for n in names if n != "all"]
        if others:
            raise SpecError(f"predictors 'all' already names every predictor; drop {', '.join(others)}.")
        return tuple(valid)
    for name in names:
        spec = registry.benefit_predictors.get(name)  # unknown: "did you mean", valid names
        if task_type not in spec.task_types:
            raise SpecError(
                f"benefit predictor {name!r} is for {', '.join(spec.task_types)} tasks; dataset {dataset.name!r} is "
                f"{task_type}. Predictors for {task_type}: {', '.join(valid) or '(none)'}."
            )
    return tuple(sorted(names))


def check_task_types(registry: Registry, dataset: DatasetSpec, metrics: Iterable[str], target: str | None) -> None:
    """The target dataset and every requested metric must be registered and of the dataset's task type."""
    if target:
        target_spec = dataset_ref(registry, target)[0]
        if target_spec.task_type != dataset.task_type:
            raise SpecError(
                f"target {target_spec.name!r} is a {target_spec.task_type} dataset; source {dataset.name!r} is "
                f"{dataset.task_type}: pick a target of the same task type (see 'dabench list datasets')."
            )
    for name in metrics:
        metric = registry.metrics.get(name)
        if metric.task_type != dataset.task_type:
            valid = ", ".join(m.name for m in registry.metrics if m.task_type == dataset.task_type)
            raise SpecError(
                f"metric {name!r} is for {metric.task_type} tasks; dataset {dataset.name!r} is "
                f"{dataset.task_type}. Metrics for {dataset.task_type}: {valid}."
            )


def resolve_protocol(protocol: ProtocolSpec, request: RunRequest, registry: Registry) -> ProtocolInputs:
    """The protocol's inputs of ``request``: a generic input (``--da-dataset``, ``--da-shift``,
    ``--test-intensities``) the protocol does not take is an error naming the protocols that do; the rest is
    validated and normalised by the protocol's own ``resolve`` (default: the test shift chain as written)."""
    for name in PROTOCOL_INPUTS:
        if getattr(request, name) and name not in protocol.takes:
            takers = registry.protocols_taking(name)
            flag = "--" + name.replace("_", "-")
            raise SpecError(
                f"{flag} does not apply to --protocol {protocol.name}; protocols that take it: "
                f"{', '.join(takers) or '(none installed)'} (see 'dabench list protocols')."
            )
    fields = ProtocolRequest(
        dataset=request.dataset,
        target=request.target,
        shift=request.shift,
        intensity=request.intensity,
        da_dataset=request.da_dataset,
        da_shift=request.da_shift,
        test_intensities=request.test_intensities,
    )
    context = ResolveContext(
        shift_chain=lambda text, intensity=None: parse_shift_chain(registry, text, intensity),
        dataset_ref=lambda text: dataset_ref(registry, text)[1],
        shift=registry.shifts.get,
    )
    inputs = protocol.resolve(fields, context)
    if not isinstance(inputs, ProtocolInputs):
        raise SpecError(
            f"protocol {protocol.name!r}: resolve returned {type(inputs).__name__}, expected dabench.ProtocolInputs "
            "(a bug in the plugin that provides it; see 'dabench plugins')."
        )
    return inputs
