"""``run(spec)``: a pure function of a :class:`RunSpec` — load, align, shift, fit, evaluate. No printing, no writing.

The protocol (a registered :class:`~dabench.specs.ProtocolSpec`: the core's ``uda``, or a plugin's) decides what the
method sees and which labelled test domains the runner keeps; it builds them from a
:class:`~dabench.run.protocols.ProtocolContext`.

Non-finite outputs (logits) on any test domain raise :class:`~dabench.errors.RunDiverged`, so a method whose own
loop does not guard against divergence is still recorded as a failed, diverged run, never ``ok`` with NaN metrics.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dabench.builtins.validators import is_collapsed
from dabench.data import LabeledSplit
from dabench.errors import RunDiverged
from dabench.nn.training import fast_path_usage
from dabench.registry import Registry
from dabench.run import protocols, provenance, threads
from dabench.run.datasource import DataSource
from dabench.run.protocols import TestDomains
from dabench.runspec import RunSpec
from dabench.seeding import Seeds
from dabench.specs import Predictor
from dabench.stats.bootstrap import Estimate, bootstrap


@dataclass
class Examples:
    """The first test images of one domain with their masks and each predictor's arg-max masks (segmentation)."""

    domain: str
    images: np.ndarray
    masks: np.ndarray
    predictions: dict[str, np.ndarray]


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
    diagnostics: dict[str, dict[str, float]] = field(default_factory=dict)
    benefit_predictors: dict[str, Any] = field(default_factory=dict)
    """Benefit predictors' outputs (:mod:`dabench.run.benefit`) when the spec names any."""
    checkpoints: dict[str, Any] = field(default_factory=dict)
    """Every kept checkpoint scored for model selection (:mod:`dabench.run.selection`) when the spec asks."""
    examples: Examples | None = None
    """Not recorded: a few test images, masks and predictions for a picture (``run(..., examples=k)``)."""
    training: dict[str, Any] = field(default_factory=dict)
    """What the method reports about its training (its predictor's ``training_report()``: JSON-able numbers,
    e.g. a GAN's loss history), recorded as ``training``."""
    figures: dict[str, bytes] = field(default_factory=dict)
    """PNG pictures the method drew (its predictor's ``figures()``, e.g. StarGAN's translation grid); the store
    writes them next to the record (:meth:`~dabench.run.store.ResultStore.put_figure`), the record lists them."""
    error: str | None = None
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def to_record(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"diagnostics": self.diagnostics} if self.diagnostics else {}
        if self.benefit_predictors:
            extra["benefit_predictors"] = self.benefit_predictors
        if self.checkpoints:
            extra["checkpoints"] = self.checkpoints
        if self.figures:
            extra["figures"] = sorted(self.figures)
        if self.training:
            extra["training"] = self.training
        return {
            **extra,
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


def example_domain(tests: TestDomains) -> str:
    """The domain a prediction picture shows: ``target`` when there is one, else the first domain but ``source``."""
    names = list(tests)
    return "target" if "target" in names else next((n for n in names if n != "source"), names[0])


def collect_examples(
    predictor: Predictor, scorer: Predictor, domain: str, images: torch.Tensor, masks: torch.Tensor, count: int
) -> Examples:
    """``count`` images of ``domain`` with the unadapted model's and (when it differs) the domain's predictor's
    arg-max masks."""
    from dabench.run.diagnostics import unadapted

    x = images[:count]
    base = unadapted(predictor, x)
    columns = {"unadapted": base, "adapted": scorer} if base is not scorer else {"prediction": scorer}
    predictions = {name: p.predict(x).argmax(dim=1).numpy() for name, p in columns.items()}
    return Examples(domain=domain, images=x.numpy(), masks=masks[:count].numpy(), predictions=predictions)


def evaluate(
    predictor: Predictor,
    tests: TestDomains,
    spec: RunSpec,
    registry: Registry,
    seeds: Seeds,
    *,
    examples: int = 0,
    forward: Callable[[str, Predictor, LabeledSplit], tuple[torch.Tensor, np.ndarray | None]] | None = None,
    on_split: Callable[[str, LabeledSplit], None] | None = None,
) -> tuple[dict[str, dict[str, Estimate]], dict[str, dict[str, float]], dict[str, int], Examples | None]:
    """Every metric (with its bootstrap interval) and every validator on every test domain; test domains are built
    one at a time, so a grid of shifted test sets never sits in memory at once. The primary metric (the spec's
    first) also keeps its replicates on the per-sample stream (``Estimate.paired``): the seed depends on the run
    seed and the domain only, so runs of other methods with that seed share those resamples (paired ranking).
    A predictor with ``for_domain`` (:class:`~dabench.specs.DomainPredictor`, e.g. AdaBN's per-domain statistics)
    scores each domain with ``predictor.for_domain(domain, images)``; it sees the domain's images, never labels.
    With ``examples`` > 0 (segmentation), the first images of :func:`example_domain` are kept for a picture.
    ``forward(domain, scorer, split)``, when given, replaces :func:`predict` for each test split (the run's benefit
    predictors ride on the evaluation's forward passes); ``on_split(domain, split)`` sees each test split once built
    (the run's checkpoint scoring)."""
    metrics: dict[str, dict[str, Estimate]] = {}
    shown: Examples | None = None
    shown_domain = example_domain(tests) if examples > 0 else None
    validators: dict[str, dict[str, float]] = {}
    sizes: dict[str, int] = {}
    for domain, make in tests.items():
        split = make()
        sizes[f"test_{domain}"] = len(split)
        if on_split is not None:
            on_split(domain, split)
        for_domain = getattr(predictor, "for_domain", None)
        scorer: Predictor = for_domain(domain, split.images) if callable(for_domain) else predictor
        logits, features = predict(scorer, split.images) if forward is None else forward(domain, scorer, split)
        if not bool(torch.isfinite(logits).all()):  # backstop for methods whose training loop does not check
            raise RunDiverged(f"non-finite outputs on test domain {domain!r}")
        if domain == shown_domain and logits.ndim == 4:
            shown = collect_examples(predictor, scorer, domain, split.images, split.labels, examples)
        probs = torch.softmax(logits.double(), dim=1).numpy()
        y_true = split.labels.numpy()
        groups = split.groups.numpy() if split.groups is not None else None
        seed = seeds.int(f"bootstrap/{domain}")
        metrics[domain] = {
            ref.name: bootstrap(
                registry.metrics.get(ref.name),
                y_true,
                probs,
                n_boot=spec.n_bootstrap,
                seed=seed,
                groups=groups,
                interval=spec.interval,
                paired=index == 0,  # the primary metric keeps its per-sample-stream replicates for paired ranking
            )
            for index, ref in enumerate(spec.metrics)
        }
        validators[domain] = run_validators(probs, features, registry)
    return metrics, validators, sizes, shown


def predict(predictor: Predictor, images: torch.Tensor) -> tuple[torch.Tensor, np.ndarray | None]:
    """Logits, and features when the predictor exposes them (in one forward pass when it can)."""
    both = getattr(predictor, "predict_with_features", None)
    if both is not None:
        logits, features = both(images)
        return logits, None if features is None else features.double().numpy()
    features_fn = getattr(predictor, "features", None)
    features = features_fn(images).double().numpy() if features_fn is not None else None
    return predictor.predict(images), features


def run_validators(probs: np.ndarray, features: np.ndarray | None, registry: Registry) -> dict[str, float]:
    """Unsupervised validator scores (they see predictions and features, never labels), plus ``collapsed`` (1.0
    when one class takes almost all predictions: validators are known to favour such models)."""
    if probs.ndim != 2:
        return {}
    scores: dict[str, float] = {"collapsed": float(is_collapsed(probs))}
    for validator in registry.validators:
        if validator.needs_features and features is None:
            continue
        scores[validator.name] = float(validator.fn(probs, features if validator.needs_features else None))
    return scores


def _collecting(every: int) -> contextlib.AbstractContextManager[Any]:
    from dabench.nn.checkpoints import collecting

    return collecting(every) if every > 0 else contextlib.nullcontext()


def _scoring(spec: RunSpec, registry: Registry, task: Any, seeds: Seeds, kept: Any, predictor: Predictor) -> Any:
    """The run's :class:`~dabench.run.selection.CheckpointScoring` (None when the spec keeps no checkpoints)."""
    if spec.checkpoint_every <= 0:
        return None
    from dabench.run.selection import FINAL, CheckpointScoring

    convert = getattr(predictor, "from_checkpoint", None)
    epochs = spec.params.get("epochs")
    offered = [c for c in kept.items if c.epoch != epochs]  # the last epoch's copy is the final model: scored once
    if callable(convert):  # a method whose model is more than the trained network (AdaBN: + per-domain statistics)
        items = [(c.epoch, convert(c.predictor)) for c in offered]
    elif callable(getattr(predictor, "source_predictor", None)):
        items = []  # its checkpoints would be unadapted source models, not this method's: score only the final one
    else:
        items = [(c.epoch, c.predictor) for c in offered]
    candidates = [(f"epoch {epoch}", epoch, checkpoint) for epoch, checkpoint in items]
    last_epoch = max((epoch for epoch, _ in items), default=0)
    candidates.append((FINAL, int(spec.params.get("epochs", last_epoch)), predictor))
    return CheckpointScoring(
        spec=spec, registry=registry, task=task, seeds=seeds.child("selection"), candidates=candidates
    )


def _benefit(
    spec: RunSpec,
    registry: Registry,
    predictor: Predictor,
    task: Any,
    tests: TestDomains,
    seeds: Seeds,
    device: torch.device,
) -> Any:
    """The run's :class:`~dabench.run.benefit.BenefitRun`, prepared (None when the spec names no predictors)."""
    if not spec.predictors:
        return None
    from dabench.run.benefit import BenefitRun

    def fit_peer() -> Predictor:
        method = registry.methods.get(spec.method.name).build(spec.params)
        return method.fit(task, seeds=seeds.child("peer"), device=device)

    benefit = BenefitRun(
        spec=spec, registry=registry, predictor=predictor, task=task, seeds=seeds.child("predictors"), fit_peer=fit_peer
    )
    if "source" not in tests:
        benefit.skipped = {ref.name: "the protocol has no 'source' test domain" for ref in spec.predictors}
        return benefit
    benefit.prepare()
    return benefit


def method_figures(predictor: Predictor) -> dict[str, bytes]:
    """The predictor's ``figures()`` (name -> PNG bytes) when it has any; names must be ``[a-z0-9_]+``."""
    draw = getattr(predictor, "figures", None)
    if not callable(draw):
        return {}
    figures = dict(draw())
    for name, data in figures.items():
        if not re.fullmatch(r"[a-z0-9_]+", name) or not isinstance(data, bytes) or not data.startswith(PNG):
            raise TypeError(f"figures() must map names [a-z0-9_]+ to PNG bytes; got {name!r}: {type(data).__name__}")
    return figures


PNG = b"\x89PNG\r\n\x1a\n"


def run(
    spec: RunSpec, registry: Registry, *, data_root: Path | None = None, device: str = "cpu", examples: int = 0
) -> RunResult:
    """Execute ``spec`` and return its :class:`RunResult`. Raises on any error (the caller records failures).
    ``examples``: keep that many test images with predictions (segmentation) in ``RunResult.examples``."""
    started = time.perf_counter()
    torch_device = resolve_device(device)
    thread_choice = threads.ensure_threads()  # dabench's thread rule, once per process (--threads etc. win)
    seeds = Seeds(spec.seed)
    data = DataSource(registry, data_root, seeds)
    result = RunResult(key=spec.key(), spec=spec)
    with deterministic() as det, fast_path_usage() as fast_path:
        protocol = registry.protocols.get(spec.protocol)  # "uda" (core) or a plugin's (register_protocols)
        context = protocols.ProtocolContext(registry=registry, data=data, seeds=seeds, device=torch_device)
        task, tests = protocol.build(spec, context)
        result.timings["prepare_s"] = time.perf_counter() - started
        method = registry.methods.get(spec.method.name).build(spec.params)
        fit_started = time.perf_counter()
        with _collecting(spec.checkpoint_every) as kept:
            predictor = method.fit(task, seeds=seeds.child("method"), device=torch_device)
        result.timings["fit_s"] = time.perf_counter() - fit_started
        scoring = _scoring(spec, registry, task, seeds, kept, predictor)
        benefit = _benefit(spec, registry, predictor, task, tests, seeds, torch_device)
        eval_started = time.perf_counter()
        result.metrics, result.validators, test_sizes, result.examples = evaluate(
            predictor,
            tests,
            spec,
            registry,
            seeds,
            examples=examples,
            forward=benefit and benefit.forward,
            on_split=scoring and scoring.on_split,
        )
        result.timings["evaluate_s"] = time.perf_counter() - eval_started
        if benefit is not None:
            from dabench.run.benefit import timings as benefit_timings

            result.benefit_predictors = benefit.record()
            result.timings.update(benefit_timings(benefit))
            result.timings["evaluate_s"] -= benefit.seconds  # its forward passes ran inside evaluate
        if scoring is not None:
            result.checkpoints = scoring.record()
            result.timings["checkpoints_s"] = scoring.seconds
            result.timings["evaluate_s"] -= scoring.seconds
        if protocol.diagnostics and "source" in tests:
            from dabench.run.diagnostics import diagnose

            diagnostics_started = time.perf_counter()
            source_images = tests["source"]().images
            domains = list(tests)
            result.diagnostics = diagnose(predictor, source_images, task.unlabeled, domains, seeds.child("diagnostics"))
            result.timings["diagnostics_s"] = time.perf_counter() - diagnostics_started
    result.figures = method_figures(predictor)
    report = getattr(predictor, "training_report", None)
    result.training = dict(report()) if callable(report) else {}
    result.sizes = {"source_train": len(task.source), **test_sizes}
    result.sizes.update({f"unlabeled_{d}": len(s) for d, s in task.unlabeled.items()})
    result.timings["total_s"] = time.perf_counter() - started
    result.provenance = {
        **provenance.collect(torch_device, registry.plugin_versions()),
        "deterministic": det,
        **provenance.execution(thread_choice, fast_path),
    }
    return result
