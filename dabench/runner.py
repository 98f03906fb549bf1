"""``run(spec)``: a pure function of a :class:`RunSpec` — load, align, shift, fit, evaluate. No printing, no writing.

Protocol ``uda`` (plain unsupervised domain adaptation): the method sees the labelled source train split and the
*unlabelled* target train split (shifted); the runner keeps the test labels and evaluates every metric on the
``source`` test split (clean) and the ``target`` test split (shifted). With no ``--target`` the target is the
source dataset itself, so the shift alone is the domain gap (the DANN study's set-up).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dabench import alignment, provenance
from dabench.bootstrap import Estimate, bootstrap
from dabench.builtins.validators import is_collapsed
from dabench.data import AdaptationTask, DatasetSplits, LabeledSplit
from dabench.errors import DataError
from dabench.registry import Registry
from dabench.seeding import Seeds
from dabench.shiftrandom import ShiftRandom
from dabench.specs import ComponentRef, DatasetSpec, LoadContext, Predictor, RunSpec, ShiftContext, ShiftStep

SHIFT_CHUNK_BYTES = 24 * 2**20  # keep temporaries under glibc's 32 MiB mmap threshold (DESIGN §7)


@dataclass
class RunResult:
    """The outcome of one run; ``to_record()`` is what the store writes."""

    key: str
    spec: RunSpec
    status: str = "ok"
    metrics: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    validators: dict[str, dict[str, float]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def to_record(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "spec": self.spec.canonical(),
            "metrics": {d: {m: e.as_dict() for m, e in ms.items()} for d, ms in self.metrics.items()},
            "validators": self.validators,
            "sizes": self.sizes,
            "timings": self.timings,
            "provenance": self.provenance,
            "error": self.error,
            "created": self.created,
        }


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    from dabench.errors import SpecError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SpecError("--device cuda was requested but no CUDA device is available; use --device cpu or auto.")
    if name != "cpu" and not name.startswith("cuda"):
        raise SpecError(f"unknown device {name!r}: use auto, cpu or cuda[:N].")
    return torch.device(name)


@contextlib.contextmanager
def deterministic() -> Iterator[bool]:
    """Turn on deterministic algorithms for the run (restored after); yields whether they are enabled."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)


class DataSource:
    """Loads (and caches, per run) datasets by ``name`` or ``name:domain`` from the data root."""

    def __init__(self, registry: Registry, data_root: Path | None, seeds: Seeds) -> None:
        self.registry, self.data_root, self.seeds = registry, data_root, seeds
        self._cache: dict[str, DatasetSplits] = {}

    def load(self, ref: ComponentRef | str) -> DatasetSplits:
        text = ref.label() if isinstance(ref, ComponentRef) else ref
        if text not in self._cache:
            name, _, domain = text.partition(":")
            spec = self.registry.datasets.get(name)
            if spec.needs_data_root and self.data_root is None:
                raise DataError(
                    f"dataset {name!r} reads files from a data root, but none is set: pass --data-root DIR or set "
                    f"DABENCH_DATA (expected folder: DIR/{spec.folder or name}; see 'dabench data list')."
                )
            ctx = LoadContext(root=self.data_root, rng=self.seeds.numpy(f"data/{text}"), domain=domain or None)
            self._cache[text] = spec.load(ctx)
        return self._cache[text]


def to_float(split: LabeledSplit) -> LabeledSplit:
    return LabeledSplit(images=split.images.float().div_(255.0), labels=split.labels, groups=split.groups)


def apply_shifts(
    images: torch.Tensor,
    steps: tuple[ShiftStep, ...],
    registry: Registry,
    states: list[Any],
    seed: int,
    device: torch.device,
) -> torch.Tensor:
    """Apply a shift chain to float images in chunks on ``device``; sample ``i`` always gets the same noise."""
    if not steps:
        return images
    per_image = max(1, images[0].numel() * 4 * 8)
    chunk = max(1, SHIFT_CHUNK_BYTES // per_image)
    out = torch.empty_like(images)
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(device)
        random = ShiftRandom.for_range(seed, start, start + len(x), device)
        for i, (step, state) in enumerate(zip(steps, states, strict=True)):
            x = registry.shifts.get(step.name).apply(x, step.intensity, random.stream(i), state)
        out[start : start + len(x)] = x.clamp(0.0, 1.0).to(out.device)
    return out


def shift_states(spec: RunSpec, registry: Registry, data: DataSource) -> list[Any]:
    """Run each shift's ``prepare`` once (e.g. Reinhard reference statistics); default state: the options."""
    ctx = ShiftContext(data_root=data.data_root, load_dataset=data.load)
    states = []
    for step in spec.shift:
        shift = registry.shifts.get(step.name)
        options = {**shift.defaults, **step.options}
        states.append(shift.prepare(options, ctx) if shift.prepare else options)
    return states


def classes_of(spec: DatasetSpec, splits: DatasetSplits) -> tuple[str, ...]:
    return splits.class_names or spec.class_names


def aligned_splits(spec: RunSpec, registry: Registry, data: DataSource) -> tuple[DatasetSplits, DatasetSplits, int]:
    """Source and target splits with one image shape (the source's, as loaded) and one label space."""
    source_spec: DatasetSpec = registry.datasets.get(spec.dataset.name)
    source = data.load(spec.dataset)
    source_names = classes_of(source_spec, source)
    num_classes = len(source_names) or source_spec.num_classes
    if spec.target is None:
        return source, source, num_classes
    target_spec: DatasetSpec = registry.datasets.get(spec.target.name)
    target = data.load(spec.target)
    target_names = classes_of(target_spec, target)
    segmentation = source_spec.task_type == "segmentation"
    shape: tuple[int, int, int] = tuple(source.train.images.shape[1:])  # type: ignore[assignment]
    if source_names and target_names and source_names != target_names:
        keep = alignment.shared_classes(source_names, target_names)
        source = alignment.restrict_splits(source, source_names, keep)
        target = alignment.restrict_splits(target, target_names, keep)
        num_classes = len(keep)
    elif (len(target_names) or target_spec.num_classes) != num_classes:
        raise DataError(
            f"{spec.dataset.label()} has {num_classes} classes and {spec.target.label()} {target_spec.num_classes}; "
            "declare class_names on both datasets so dabench can align their label spaces."
        )
    target = DatasetSplits(
        train=alignment.harmonize_split(target.train, shape, segmentation),
        test=alignment.harmonize_split(target.test, shape, segmentation),
    )
    return source, target, num_classes


def build_uda(
    spec: RunSpec, registry: Registry, data: DataSource, seeds: Seeds, device: torch.device
) -> tuple[AdaptationTask, dict[str, LabeledSplit]]:
    """The ``uda`` protocol: (task for the method, labelled test domains kept by the runner)."""
    source, target, num_classes = aligned_splits(spec, registry, data)
    states = shift_states(spec, registry, data)
    target_train = to_float(target.train)
    target_test = to_float(target.test)
    shifted_train = apply_shifts(target_train.images, spec.shift, registry, states, seeds.int("shift/train"), device)
    shifted_test = apply_shifts(target_test.images, spec.shift, registry, states, seeds.int("shift/test"), device)
    source_spec = registry.datasets.get(spec.dataset.name)
    task = AdaptationTask(
        source=to_float(source.train),
        unlabeled={"target": LabeledSplit(images=shifted_train, labels=target_train.labels).without_labels()},
        num_classes=num_classes,
        input_shape=tuple(source.train.images.shape[1:]),  # type: ignore[arg-type]
        task_type=source_spec.task_type,
    )
    tests = {
        "source": to_float(source.test),
        "target": LabeledSplit(images=shifted_test, labels=target_test.labels, groups=target_test.groups),
    }
    return task, tests


def evaluate(
    predictor: Predictor, tests: Mapping[str, LabeledSplit], spec: RunSpec, registry: Registry, seeds: Seeds
) -> tuple[dict[str, dict[str, Estimate]], dict[str, dict[str, float]]]:
    """Every metric (with its bootstrap interval) and every validator on every test domain."""
    metrics: dict[str, dict[str, Estimate]] = {}
    validators: dict[str, dict[str, float]] = {}
    for domain, split in tests.items():
        logits = predictor.predict(split.images)
        probs = torch.softmax(logits.double(), dim=1).numpy()
        y_true = split.labels.numpy()
        groups = split.groups.numpy() if split.groups is not None else None
        seed = seeds.int(f"bootstrap/{domain}")
        metrics[domain] = {
            ref.name: bootstrap(
                registry.metrics.get(ref.name), y_true, probs, n_boot=spec.n_bootstrap, seed=seed, groups=groups
            )
            for ref in spec.metrics
        }
        validators[domain] = run_validators(predictor, split, probs, registry)
    return metrics, validators


def run_validators(
    predictor: Predictor, split: LabeledSplit, probs: np.ndarray, registry: Registry
) -> dict[str, float]:
    """Unsupervised validator scores (they see predictions and features, never labels), plus ``collapsed`` (1.0
    when one class takes almost all predictions: validators are known to favour such models)."""
    if probs.ndim != 2:
        return {}
    features_fn = getattr(predictor, "features", None)
    features = None
    scores: dict[str, float] = {"collapsed": float(is_collapsed(probs))}
    for validator in registry.validators:
        if validator.needs_features:
            if features_fn is None:
                continue
            if features is None:
                features = features_fn(split.images).double().numpy()
        scores[validator.name] = float(validator.fn(probs, features if validator.needs_features else None))
    return scores


def run(spec: RunSpec, registry: Registry, *, data_root: Path | None = None, device: str = "cpu") -> RunResult:
    """Execute ``spec`` and return its :class:`RunResult`. Raises on any error (the caller records failures)."""
    started = time.perf_counter()
    torch_device = resolve_device(device)
    seeds = Seeds(spec.seed)
    data = DataSource(registry, data_root, seeds)
    result = RunResult(key=spec.key(), spec=spec)
    with deterministic() as det:
        task, tests = build_uda(spec, registry, data, seeds, torch_device)
        result.timings["prepare_s"] = time.perf_counter() - started
        method = registry.methods.get(spec.method.name).build(spec.params)
        fit_started = time.perf_counter()
        predictor = method.fit(task, seeds=seeds.child("method"), device=torch_device)
        result.timings["fit_s"] = time.perf_counter() - fit_started
        eval_started = time.perf_counter()
        result.metrics, result.validators = evaluate(predictor, tests, spec, registry, seeds)
        result.timings["evaluate_s"] = time.perf_counter() - eval_started
    result.sizes = {"source_train": len(task.source), **{f"test_{d}": len(s) for d, s in tests.items()}}
    result.sizes.update({f"unlabeled_{d}": len(s) for d, s in task.unlabeled.items()})
    result.timings["total_s"] = time.perf_counter() - started
    result.provenance = {**provenance.collect(torch_device, registry.plugin_versions()), "deterministic": det}
    return result
