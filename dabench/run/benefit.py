"""Benefit predictors inside a run: the source-trained model's outputs on labelled source validation data and on each
target domain's *unlabelled* images, handed to every predictor the spec names (``RunSpec.predictors``).

* They ride on the evaluation's forward passes (:meth:`BenefitRun.forward` replaces the runner's ``predict`` for each
  test domain, one pass giving logits, the validators' features and the latent features), so a source-only run
  pays for its predictors no second pass over its data.
* Source validation data: the run's ``source`` test split (held out from training; labelled).
* Target data of a domain: that test domain's images, labels dropped — the unlabelled images whose score the
  predictors estimate (the standard label-free accuracy-estimation protocol); the predictor never sees a label.
* The model is the *unadapted* one (:func:`dabench.run.diagnostics.unadapted`): for a method that adapts (AdaBN),
  one more pass of its source model over the subsample. Latent features are taken before the non-linearity: a
  U-Net's bottleneck (its ``latent_layer``) averaged over space; a classifier's last hidden layer, at the input of
  the head's last activation (the LeNet: the 100-unit BatchNorm output before its ReLU).
* At most :data:`MAX_IMAGES` images per side (a seeded subsample), so the cost is bounded whatever the split sizes.
* Predictors that need a peer (``needs_peer``: agreement between seeds) get a second source model: the same method
  fitted again with the seed stream ``peer`` — the one costly part, timed apart (``timings.predictors_peer_fit_s``).

The record's ``benefit_predictors``: ``source`` (``metric``, ``score`` on the source validation data, and
``values`` of the accuracy-like quantity that calibrated estimators estimate: ``accuracy``, or ``pixel_accuracy``
for segmentation), ``estimates`` (that quantity's name), ``domains`` (domain -> predictor -> ``target_score`` /
``shift_score``) and ``skipped`` (predictor -> why it gave nothing).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dabench.benefitspecs import BenefitInputs, BenefitPredictorSpec, PeerOutputs, SourceOutputs, TargetOutputs
from dabench.data import AdaptationTask, LabeledSplit
from dabench.errors import DabenchError
from dabench.registry import Registry
from dabench.run.diagnostics import unadapted
from dabench.runspec import RunSpec
from dabench.seeding import Seeds, subsample
from dabench.specs import Predictor

MAX_IMAGES = {"classification": 2000, "segmentation": 200}
"""Images per side (source validation, each target domain) a predictor sees at most: 2000 classification images
give an accuracy estimate to about ±1 pp; 200 segmentation images are millions of pixels."""

ACCURACY_LIKE = {"classification": "accuracy", "segmentation": "pixel_accuracy"}


def _last_activation(head: torch.nn.Module) -> torch.nn.Module | None:
    from dabench.nn.features import _is_activation

    found = [m for m in head.modules() if _is_activation(m)]
    return found[-1] if found else None


def outputs(model: Any, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """``(logits, latent)`` of ``model`` on ``images`` from one forward pass (see the module docstring for the
    latent layer); float64 numpy, latent None when the model exposes none."""
    logits, _, latent = _one_pass(model, images)
    return logits.double().numpy(), latent


def _one_pass(model: Any, images: torch.Tensor) -> tuple[torch.Tensor, np.ndarray | None, np.ndarray | None]:
    """Logits, the validators' features (as the runner's ``predict``) and the latent features, in one pass."""
    from dabench.run.runner import predict

    net = getattr(model, "model", None)
    head = getattr(net, "classifier", None)
    activation = _last_activation(head) if isinstance(head, torch.nn.Module) else None
    if activation is None or isinstance(getattr(net, "latent_layer", None), str):
        from dabench.run.diagnostics import latent_and_logits

        latent, logits = latent_and_logits(model, images)
        return logits, None, latent
    captured: list[torch.Tensor] = []

    def hook(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        captured.append(inputs[0].detach().float().flatten(1).cpu())

    handle = activation.register_forward_pre_hook(hook)
    try:
        logits, features = predict(model, images)
    finally:
        handle.remove()
    return logits, features, torch.cat(captured).double().numpy() if captured else None


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class BenefitRun:
    """Computes a spec's benefit predictors during one run: :meth:`prepare` once (the peer model if needed),
    :meth:`forward` per test domain (the evaluation's forward pass), :meth:`record` at the end."""

    spec: RunSpec
    registry: Registry
    predictor: Predictor
    task: AdaptationTask
    seeds: Seeds
    fit_peer: Callable[[], Predictor]
    specs: list[BenefitPredictorSpec] = field(default_factory=list)
    domains: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    """Time the evaluation's passes spent on predictors (extra outputs, the predictors; not the peer's training)."""
    peer_fit_s: float = 0.0
    evaluation_s: float = 0.0
    """Time of the evaluation's own forward passes made here (with the latent hook), which the runner counts as
    evaluation."""
    _source: SourceOutputs | None = None
    _pending: dict[str, tuple[TargetOutputs, np.ndarray | None]] = field(default_factory=dict)
    _peer: Any = None
    _peer_source: np.ndarray | None = None
    _score: float = math.nan
    _accuracy: float = math.nan

    @property
    def cap(self) -> int:
        return MAX_IMAGES[self.task.task_type]

    def prepare(self) -> None:
        """Resolve the predictors and, when one needs it, fit the peer model."""
        self.specs = [self.registry.benefit_predictors.get(ref.name) for ref in self.spec.predictors]
        if any(p.needs_peer for p in self.specs):
            fit_started = time.perf_counter()
            self._peer = self.fit_peer()
            self.peer_fit_s = time.perf_counter() - fit_started

    def forward(self, domain: str, scorer: Predictor, split: LabeledSplit) -> tuple[torch.Tensor, np.ndarray | None]:
        """The evaluation's forward pass over ``split`` with ``scorer`` — ``(logits, features)`` as the runner's
        ``predict`` gives them — keeping the unadapted model's outputs on a subsample for the predictors (labels
        only for ``source``). The predictors run on a domain as soon as the source outputs exist."""
        from dabench.run.runner import predict

        images = split.images
        model = unadapted(self.predictor, images)
        idx = subsample(self.seeds, len(images), self.cap, f"predictors/{domain}")
        evaluation_started = time.perf_counter()  # the evaluation's own pass is not the predictors' cost
        if scorer is model:
            logits, features, latent = _one_pass(model, images)
            started = time.perf_counter()
            mine, latent = logits[idx].double().numpy(), None if latent is None else latent[idx]
        else:
            logits, features = predict(scorer, images)
            started = time.perf_counter()
            mine, latent = outputs(model, images[idx])
        self.evaluation_s += started - evaluation_started
        kept = images[idx]
        probs = _softmax(mine)
        peer = None if self._peer is None else _softmax(outputs(unadapted(self._peer, kept), kept)[0])
        if domain == "source":
            y = split.labels[idx].numpy()
            self._source = SourceOutputs(probs=probs, logits=mine, features=latent, images=kept.numpy(), labels=y)
            self._peer_source = peer
            self._score = float(self.registry.metrics.get(self.spec.metrics[0].name).fn(y, probs))
            self._accuracy = float(np.mean(probs.argmax(axis=1) == y))
        else:
            target = TargetOutputs(probs=probs, logits=mine, features=latent, images=kept.numpy())
            self._pending[domain] = (target, peer)
        if self._source is not None:
            for name in list(self._pending):
                self._predict(name, *self._pending.pop(name))
        self.seconds += time.perf_counter() - started
        return logits, features

    def _predict(self, domain: str, target: TargetOutputs, peer_target: np.ndarray | None) -> None:
        assert self._source is not None
        peer = None
        if peer_target is not None and self._peer_source is not None:
            peer = PeerOutputs(source_probs=self._peer_source, target_probs=peer_target)
        inputs = BenefitInputs(
            task_type=self.task.task_type,
            num_classes=self.task.num_classes,
            source=self._source,
            target=target,
            metric=self.spec.metrics[0].name,
            source_score=self._score,
            seed=self.seeds.int(f"predictors/{domain}/seed"),
            peer=peer,
        )
        values: dict[str, dict[str, float]] = {}
        for spec in self.specs:
            reason = self._cannot(spec, inputs)
            if reason:
                self.skipped.setdefault(spec.name, reason)
                continue
            try:
                out = spec.fn(inputs).as_dict()
            except DabenchError as exc:
                self.skipped.setdefault(spec.name, f"{type(exc).__name__}: {exc}")
                continue
            if out:
                values[spec.name] = out
        self.domains[domain] = values

    def _cannot(self, spec: BenefitPredictorSpec, inputs: BenefitInputs) -> str:
        if spec.needs_features and (inputs.source.features is None or inputs.target.features is None):
            return "the model exposes no latent features"
        if spec.needs_peer and inputs.peer is None:
            return "no peer model"
        return ""

    def record(self) -> dict[str, Any]:
        """The record's ``benefit_predictors`` (see the module docstring)."""
        estimates = ACCURACY_LIKE[self.task.task_type]
        return {
            "source": {
                "metric": self.spec.metrics[0].name,
                "score": self._score,
                "values": {estimates: self._accuracy},
                "n": 0 if self._source is None else len(self._source),
            },
            "estimates": estimates,
            "domains": self.domains,
            "skipped": dict(sorted(self.skipped.items())),
        }


def timings(run: BenefitRun) -> Mapping[str, float]:
    out = {"predictors_s": run.seconds}
    if run.peer_fit_s:
        out["predictors_peer_fit_s"] = run.peer_fit_s
    return out
