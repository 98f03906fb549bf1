"""Model selection over checkpoints: score every kept checkpoint in the run, pick one per rule from the record.

In the run (``RunSpec.checkpoint_every = k``): every k-th epoch's model the method offered
(:mod:`dabench.nn.checkpoints`) and the final predictor (``final``, what ``last`` selects) are scored on every
test domain but ``source``: each metric on a seeded subsample of at most :data:`MAX_SAMPLES` test images (the same
images for every checkpoint, with a :data:`SELECTION_BOOTSTRAP`-replicate interval), and every validator on the
domain's unlabelled images — the task's unlabelled split of that name (``uda``: the target adaptation split) when
there is one, else the domain's test images without labels — plus ``ensv``: agreement of the checkpoint's
predictions with the ensemble (mean softmax) of all checkpoints, after EnsV (the ensemble as the role model). One
training gives every rule's result; the record's ``checkpoints`` keeps them all.

Rules (:func:`select`): ``last`` (the final model), any validator name (the best non-collapsed checkpoint by that
validator's direction; all collapsed → ``last``, with a note), ``ensv``, and ``oracle`` — the best checkpoint by
the target labels, which no deployment has: always labelled as such and never a headline.

References
----------
Musgrave K, Belongie S, Lim S-N. Benchmarking Validation Methods for Unsupervised Domain Adaptation. 2022
(validators choose collapsed models; the collapse guard). Saito K et al. Tune it the Right Way: Unsupervised
Validation of Domain Adaptation via Soft Neighborhood Density. ICCV 2021 (SND). Hu D, Luo M, Liang J, Foo C-S.
Towards Reliable Model Selection for Unsupervised Domain Adaptation: An Empirical Study and A Certified Baseline.
NeurIPS 2024 Datasets and Benchmarks (EnsV: the ensemble of the candidates as the role model).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dabench.data import AdaptationTask, LabeledSplit
from dabench.registry import Registry
from dabench.runspec import RunSpec
from dabench.seeding import Seeds, subsample
from dabench.stats.bootstrap import bootstrap

MAX_SAMPLES = 200
"""Test images (and unlabelled images) per domain a checkpoint is scored on: two passes over 200 images per
checkpoint and domain keep the scoring of 5 candidates near 10 % of a 10,000-image evaluation
(``tools/bench/checkpoint_selection.py``); an accuracy near 0.8 is then known to about ±3 pp (one standard error),
which the per-checkpoint intervals show."""
SELECTION_BOOTSTRAP = 200
FINAL = "final"
ORACLE = "oracle"
LAST = "last"
ENSV = "ensv"


@dataclass
class CheckpointScoring:
    """Scores the run's checkpoints on each test domain as the evaluation builds it (:meth:`on_split`)."""

    spec: RunSpec
    registry: Registry
    task: AdaptationTask
    seeds: Seeds
    candidates: list[tuple[str, int, Any]]
    """(label, epoch, predictor): the kept checkpoints and ``final``."""
    domains: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def on_split(self, domain: str, split: LabeledSplit) -> None:
        """Score every candidate on ``domain`` (not ``source``: selection is about the target domains)."""
        from dabench.run.runner import predict, run_validators

        if domain == "source":
            return
        started = time.perf_counter()
        idx = subsample(self.seeds, len(split), MAX_SAMPLES, f"checkpoints/{domain}")
        x, y = split.images[idx], split.labels[idx].numpy()
        unlabeled = self.task.unlabeled
        pool = unlabeled[domain].images if domain in unlabeled else None
        pool = None if pool is None else pool[subsample(self.seeds, len(pool), MAX_SAMPLES, f"checkpoints/u/{domain}")]
        n_boot = min(self.spec.n_bootstrap, SELECTION_BOOTSTRAP)
        seed = self.seeds.int(f"checkpoints/bootstrap/{domain}")
        rows: list[dict[str, Any]] = []
        pool_probs: list[np.ndarray] = []
        for _label, _epoch, predictor in self.candidates:
            for_domain = getattr(predictor, "for_domain", None)
            scorer = for_domain(domain, x) if callable(for_domain) else predictor
            logits, features = predict(scorer, x)
            probs = torch.softmax(logits.double(), dim=1).numpy()
            metrics = {
                ref.name: bootstrap(
                    self.registry.metrics.get(ref.name), y, probs, n_boot=n_boot, seed=seed, interval=self.spec.interval
                ).as_dict()
                for ref in self.spec.metrics
            }
            if pool is not None:
                pool_logits, pool_features = predict(scorer, pool)
                probs_u, features_u = torch.softmax(pool_logits.double(), dim=1).numpy(), pool_features
            else:
                probs_u, features_u = probs, features
            rows.append({"metrics": metrics, "validators": run_validators(probs_u, features_u, self.registry)})
            pool_probs.append(probs_u)
        if pool_probs and pool_probs[0].ndim == 2:
            consensus = np.mean(pool_probs, axis=0).argmax(axis=1)
            for row, probs_u in zip(rows, pool_probs, strict=True):
                row["validators"][ENSV] = float(np.mean(probs_u.argmax(axis=1) == consensus))
        self.domains[domain] = rows
        self.seconds += time.perf_counter() - started

    def record(self) -> dict[str, Any]:
        """The record's ``checkpoints``: the scoring settings and one entry per candidate."""
        entries = []
        for i, (label, epoch, _) in enumerate(self.candidates):
            domains = {d: rows[i] for d, rows in self.domains.items()}
            entries.append({"label": label, "epoch": epoch, "domains": domains})
        return {
            "samples": MAX_SAMPLES,
            "n_bootstrap": min(self.spec.n_bootstrap, SELECTION_BOOTSTRAP),
            "entries": entries,
        }


# ------------------------------------------------------------------------------------------ rules on records


@dataclass(frozen=True)
class Selected:
    """What a rule picked for one record and domain: the entry's label and epoch, its estimate of the metric (a
    dict with ``value``, ``low``, ``high``) and a note when the rule fell back."""

    rule: str
    label: str
    epoch: int
    estimate: Mapping[str, Any]
    note: str = ""


def rules_valid(rules: Sequence[str], validators: Mapping[str, bool]) -> None:
    """Raise a clear :class:`~dabench.errors.SpecError` for a rule that is not last, oracle, ensv or a validator."""
    from dabench.errors import SpecError

    valid = [LAST, ORACLE, ENSV, *sorted(validators)]
    for rule in rules:
        if rule not in valid:
            raise SpecError(f"unknown selection rule {rule!r}; valid rules: {', '.join(valid)}.")


def select(
    record: Mapping[str, Any],
    rule: str,
    *,
    validators: Mapping[str, bool],
    domain: str = "target",
    metric: str | None = None,
    higher_is_better: bool = True,
) -> Selected | None:
    """The checkpoint ``rule`` picks in ``record`` for ``domain`` (None when the record kept no checkpoints for it).
    ``validators`` maps validator names to ``higher_is_better``; ``metric`` defaults to the run's primary metric."""
    entries = (record.get("checkpoints") or {}).get("entries") or []
    scored = [e for e in entries if domain in e["domains"]]
    if not scored:
        return None
    name = metric or record["spec"]["metrics"][0]["name"]

    def value(entry: Mapping[str, Any]) -> float:
        v = entry["domains"][domain]["metrics"][name]["value"]
        return -np.inf if v is None else float(v) if higher_is_better else -float(v)

    final = next((e for e in scored if e["label"] == FINAL), scored[-1])
    note = ""
    if rule == LAST:
        chosen = final
    elif rule == ORACLE:
        chosen = max(scored, key=value)
    else:
        up = True if rule == ENSV else validators[rule]
        alive = [e for e in scored if not e["domains"][domain]["validators"].get("collapsed")]
        ranked = [e for e in alive if rule in e["domains"][domain]["validators"]]
        if not ranked:
            chosen, note = final, f"{rule}: every checkpoint collapsed or unscored; fell back to last"
        else:
            sign = 1.0 if up else -1.0
            chosen = max(ranked, key=lambda e: sign * float(e["domains"][domain]["validators"][rule]))
    estimate = chosen["domains"][domain]["metrics"][name]
    return Selected(rule=rule, label=chosen["label"], epoch=int(chosen["epoch"]), estimate=estimate, note=note)
