"""The StarGAN study's protocols (paper 001, §5.3): every domain a multi-domain translator may use, and the global
model's per-domain test.

* ``digit_pairs`` — source ``--dataset digits3:<a>``, target ``--target digits3:<b>``: the labelled source train split;
  unlabelled train images of the target (``target``, the domain adapted to) and of every other ``digits3`` domain
  (under their names, e.g. ``mnist_m``) — one StarGAN serves all domain pairs; test domains ``source`` (the source
  test split: the *internal* test) and ``target`` (the target test split: *external* before adaptation, *adapted*
  after). ``--target`` = ``--dataset`` is the *bespoke* / ceiling model of that domain.
* ``digit_global`` — ``--dataset digits3:pooled[,fraction=F]``: the global model trained on every domain's train
  split (or a share of it), tested on each domain's test split (test domains ``mnist``, ``usps``, ``mnist_m``; and
  ``pooled``, their union: the paper's global test set): the paper's *global* deployment and its domain spread.
  There is no other domain to adapt to: the task's unlabelled ``target`` is the global model's own train images
  (StarGAN with ``gan_iters = 0`` — stage 1 alone — needs one to exist and never uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import dabench
from dabench_digits3.loader import DOMAINS, parse

if TYPE_CHECKING:
    from dabench.run.protocols import ProtocolContext

Tests = Mapping[str, Callable[[], dabench.LabeledSplit]]


def _domain(ref: dabench.ComponentRef | None, protocol: str, flag: str) -> str:
    if ref is None or ref.name != "digits3":
        shown = ref.label() if ref is not None else "(none)"
        raise dabench.SpecError(
            f"protocol {protocol} needs {flag} digits3:<domain> (domains {', '.join(DOMAINS)}); got {shown}. "
            "E.g. --dataset digits3:mnist --target digits3:usps."
        )
    return parse(ref.domain)[0]


def build_digit_pairs(spec: dabench.RunSpec, ctx: ProtocolContext) -> tuple[dabench.AdaptationTask, Tests]:
    """See the module docstring."""
    source_name = _domain(spec.dataset, "digit_pairs", "--dataset")
    target_name = _domain(spec.target, "digit_pairs", "--target")
    if "pooled" in (source_name, target_name):
        raise dabench.SpecError("protocol digit_pairs takes single domains; the pooled set is for digit_global.")
    source, target, num_classes = ctx.splits(spec)
    if source.test is None or target.test is None:
        raise dabench.DataError("digits3 domains always have a test split; this data has none.")
    unlabeled = {"target": ctx.to_float(target.train).without_labels()}
    for other in DOMAINS:
        if other not in (source_name, target_name):
            unlabeled[other] = ctx.to_float(ctx.load(f"digits3:{other}").train).without_labels()
    task = dabench.AdaptationTask(
        source=ctx.to_float(source.train),
        unlabeled=unlabeled,
        num_classes=num_classes,
        input_shape=tuple(source.train.images.shape[1:]),  # type: ignore[arg-type]
        info={"protocol": "digit_pairs", "source": source_name, "target": target_name},
    )
    source_test, target_test = ctx.to_float(source.test), ctx.to_float(target.test)
    return task, {"source": lambda: source_test, "target": lambda: target_test}


def build_digit_global(spec: dabench.RunSpec, ctx: ProtocolContext) -> tuple[dabench.AdaptationTask, Tests]:
    """See the module docstring."""
    if _domain(spec.dataset, "digit_global", "--dataset") != "pooled" or spec.target is not None:
        raise dabench.SpecError(
            "protocol digit_global trains the global model: --dataset digits3:pooled[,fraction=F] and no --target."
        )
    pooled = ctx.load(spec.dataset)
    source = ctx.to_float(pooled.train)
    task = dabench.AdaptationTask(
        source=source,
        unlabeled={"target": source.without_labels()},  # no other domain: the global model's own (pooled) images
        num_classes=10,
        input_shape=tuple(pooled.train.images.shape[1:]),  # type: ignore[arg-type]
        info={"protocol": "digit_global"},
    )

    def test_of(domain: str) -> Callable[[], dabench.LabeledSplit]:
        def make() -> dabench.LabeledSplit:
            test = ctx.load(f"digits3:{domain}").test
            assert test is not None
            return ctx.to_float(test)

        return make

    pooled_test = pooled.test
    assert pooled_test is not None
    tests = {domain: test_of(domain) for domain in DOMAINS}
    return task, {**tests, "pooled": lambda: ctx.to_float(pooled_test)}
