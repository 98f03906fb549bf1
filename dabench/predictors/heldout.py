"""Held-out evaluation of benefit predictors: maps fitted on some shift families (or datasets), scored on others.

A predictor's *signal* on a unit is its predicted degradation ``source_value - target_score`` when it gives a
target score, else its ``shift_score``. Two maps turn the signal into predictions, both fitted on the training
folds only, never on the unit being predicted:

- the *predicted target score*: the predictor's ``target_score`` itself when it estimates the run's primary metric
  quantity (``estimates`` set and the unit's ``estimates == metric``: accuracy-primary classification,
  pixel-accuracy-primary segmentation), else a least-squares line from signal to the realised score;
- the *predicted benefit*: a ``linear`` or ``gaussian`` map of the signal (paper 000's gain as a Gaussian bump of
  the degradation), falling back to linear when the Gaussian fit fails.

Scores pooled over the held-out units of every fold: MAE of the target score (pp), Spearman ρ of predicted vs
realised benefit with a cluster-bootstrap interval (cells resampled: seeds of one cell are not independent),
AUROC of ``benefit > epsilon`` and decision regret of adapting when the predicted benefit exceeds ``epsilon``.

References
----------
Garg S et al. Leveraging unlabeled data to predict out-of-distribution performance. ICLR 2022 (held-out shift
families as the test of an accuracy estimator). Field CA, Welsh AH. Bootstrapping clustered data. JRSS B 69(3), 2007.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from dabench.errors import SpecError
from dabench.predictors.evaluation import (
    QUANTILES,
    ControlResult,
    Evaluation,
    FinalFit,
    Fit,
    HeldOut,
    Prediction,
    PredictorInfo,
    PredictorResult,
    predict,
)
from dabench.predictors.maps import FittedMap, fit_map, linear_map, signal_of
from dabench.predictors.units import Unit

__all__ = [
    "CONTROLS",
    "EXTERNAL",
    "MIN_TRAIN_CELLS",
    "SCHEMES",
    "ControlResult",
    "Evaluation",
    "FinalFit",
    "Fit",
    "FittedMap",
    "HeldOut",
    "Prediction",
    "PredictorInfo",
    "PredictorResult",
    "evaluate",
    "evaluate_external",
    "fit_map",
    "fold_groups",
    "predict",
    "signal_of",
]

SCHEMES = ("leave_one_shift_family_out", "leave_one_dataset_out")
EXTERNAL = "external"
MIN_TRAIN_CELLS = 3
"""A fold is skipped (and counted) when its training units span fewer distinct cells."""
CONTROLS = ("always_adapt", "never_adapt")


def _group_of(scheme: str) -> Callable[[Unit], str]:
    if scheme == "leave_one_shift_family_out":
        return lambda u: u.family
    if scheme == "leave_one_dataset_out":
        return lambda u: u.dataset
    raise SpecError(f"validation scheme {scheme!r} is not one of {', '.join(SCHEMES)}.")


def fold_groups(units: Iterable[Unit], scheme: str) -> dict[str, list[Unit]]:
    """The units of each group (shift family or dataset) that one fold holds out, by group name."""
    group_of = _group_of(scheme)
    groups: dict[str, list[Unit]] = {}
    for unit in units:
        groups.setdefault(group_of(unit), []).append(unit)
    return dict(sorted(groups.items()))


def _signal(unit: Unit, name: str) -> float | None:
    values = unit.predictions.get(name)
    return None if values is None else signal_of(values, unit.source_value)


def _direct(info: PredictorInfo, units: Sequence[Unit], name: str) -> bool:
    return bool(info.estimates) and all(
        u.estimates == u.metric and "target_score" in u.predictions[name] for u in units
    )


def _fit(info: PredictorInfo, name: str, train: Sequence[Unit], direct: bool) -> Fit:
    s = np.asarray([_signal(u, name) for u in train], dtype=float)
    benefit, note = fit_map(info.benefit_map, s, [u.benefit for u in train])
    calibration = None if direct else linear_map(s, np.asarray([u.realised_score for u in train]))
    return Fit(direct, calibration, benefit, note)


SCORE_BOUNDS = (0.0, 1.0)
"""Predicted target scores are clipped to these bounds and benefits to ±their width: every primary metric the
predictor studies rank by (accuracy, Dice) lies in [0, 1], and a line fitted on other shift families must not
extrapolate a held-out unit to an accuracy of 16 (MNIST's pixel-mean line, fitted on blur, applied to noise)."""


def _clip(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high)) if math.isfinite(value) else value


def _point(unit: Unit, name: str, fit: Fit, group: str) -> HeldOut:
    s = _signal(unit, name)
    assert s is not None
    low, high = SCORE_BOUNDS
    return HeldOut(
        unit.key,
        unit.domain,
        unit.cell,
        unit.family,
        group,
        s,
        _clip(fit.target(unit.predictions[name], s), low, high),
        unit.realised_score,
        _clip(float(fit.benefit(s)), low - high, high - low),
        unit.benefit,
        unit.adapted_score,
    )


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def _cluster_ci(
    x: np.ndarray, y: np.ndarray, cells: Sequence[str], n_boot: int, seed: int
) -> tuple[float, float] | None:
    names = sorted(set(cells))
    if len(names) < 2 or n_boot < 1:
        return None
    by_cell: dict[str, list[int]] = {c: [] for c in names}
    for i, c in enumerate(cells):
        by_cell[c].append(i)
    members = [np.asarray(by_cell[c]) for c in names]
    rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        rhos.append(_spearman(x[idx], y[idx]))
    finite = np.asarray([r for r in rhos if math.isfinite(r)])
    if finite.size == 0:
        return None
    return float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if labels.size == 0 or labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def _regret_pp(realised: np.ndarray, adapted: np.ndarray, adapt: np.ndarray) -> float | None:
    if realised.size == 0:
        return None
    chosen = np.where(adapt, adapted, realised)
    return float(np.mean(np.maximum(realised, adapted) - chosen) * 100.0)


def _quantiles(errors: np.ndarray) -> tuple[float, float] | None:
    errors = errors[np.isfinite(errors)]
    if errors.size == 0:
        return None
    q80, q95 = np.quantile(errors, QUANTILES)
    return float(q80), float(q95)


def _result(
    name: str,
    info: PredictorInfo,
    points: list[HeldOut],
    final: Fit | None,
    n_final: int,
    counts: tuple[int, int],
    fallbacks: list[str],
    epsilon: float,
    n_boot: int,
    seed: int,
) -> PredictorResult:
    def col(attr: str) -> np.ndarray:
        return np.asarray([getattr(p, attr) for p in points], dtype=float)

    pt, real, pb, ben, ad = (
        col(a) for a in ("predicted_target", "realised_score", "predicted_benefit", "benefit", "adapted_score")
    )
    target_err = np.abs(pt - real)
    mae = float(np.mean(target_err[np.isfinite(target_err)]) * 100.0) if np.isfinite(target_err).any() else None
    finals = None
    if final is not None:
        finals = FinalFit(final, n_final, _quantiles(target_err), _quantiles(np.abs(pb - ben)))
    return PredictorResult(
        name,
        info,
        mae,
        _finite(_spearman(pb, ben)),
        _cluster_ci(pb, ben, [p.cell for p in points], n_boot, seed),
        _auroc(ben > epsilon, pb),
        _regret_pp(real, ad, pb > epsilon),
        len(points),
        counts[0],
        counts[1],
        tuple(fallbacks),
        tuple(points),
        finals,
    )


def _control(name: str, units: Sequence[Unit], n_folds: int) -> ControlResult:
    real = np.asarray([u.realised_score for u in units])
    adapted = np.asarray([u.adapted_score for u in units])
    adapt = np.full(real.shape, name == "always_adapt")
    return ControlResult(name, _regret_pp(real, adapted, adapt), len(units), n_folds)


def _usable(units: Sequence[Unit], name: str) -> list[Unit]:
    return [u for u in units if _signal(u, name) is not None]


def _cells(units: Iterable[Unit]) -> int:
    return len({u.cell for u in units})


def _common_notes(units: Sequence[Unit]) -> list[str]:
    metrics = sorted({u.metric for u in units})
    return [f"units mix primary metrics ({', '.join(metrics)}): maps pool them."] if len(metrics) > 1 else []


def _records(units: Iterable[Unit]) -> int:
    return len({u.key for u in units} | {u.adapted_key for u in units if u.adapted_key})


def evaluate(
    units: Sequence[Unit],
    predictors: Mapping[str, PredictorInfo],
    *,
    scheme: str,
    epsilon: float = 0.01,
    n_boot: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Score every predictor by ``scheme`` (module docstring): each group in turn is held out and predicted by maps
    fitted on all other groups; a fold whose training units span fewer than 3 cells is skipped and counted. The
    final maps are fitted on all units."""
    groups = fold_groups(units, scheme)
    group_of = _group_of(scheme)
    results = []
    for name, info in sorted(predictors.items()):
        usable = _usable(units, name)
        direct = _direct(info, usable, name)
        points: list[HeldOut] = []
        used = skipped = 0
        fallbacks: list[str] = []
        for group in groups:
            test = [u for u in usable if group_of(u) == group]
            train = [u for u in usable if group_of(u) != group]
            if not test:
                continue
            if _cells(train) < MIN_TRAIN_CELLS:
                skipped += 1
                continue
            fit = _fit(info, name, train, direct)
            if fit.note:
                fallbacks.append(f"{group} held out: {fit.note}")
            points.extend(_point(u, name, fit, group) for u in test)
            used += 1
        final = _fit(info, name, usable, direct) if _cells(usable) >= MIN_TRAIN_CELLS else None
        if final is not None and final.note:
            fallbacks.append(f"final fit: {final.note}")
        results.append(
            _result(name, info, points, final, len(usable), (used, skipped), fallbacks, epsilon, n_boot, seed)
        )
    held = [g for g in groups if _cells(u for u in units if group_of(u) != g) >= MIN_TRAIN_CELLS]
    control_units = [u for g in held for u in groups[g]]
    controls = tuple(_control(c, control_units, len(held)) for c in CONTROLS)
    notes = _common_notes(units)
    if len(groups) < 2:
        notes.append(f"only {len(groups)} group(s) under {scheme}: nothing can be held out.")
    return Evaluation(
        scheme,
        epsilon,
        n_boot,
        seed,
        len(units),
        _records(units),
        tuple(groups),
        tuple(results),
        controls,
        tuple(notes),
    )


def evaluate_external(
    fit_units: Sequence[Unit],
    test_units: Sequence[Unit],
    predictors: Mapping[str, PredictorInfo],
    *,
    epsilon: float = 0.01,
    n_boot: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Maps fitted on ``fit_units`` (another store's units, e.g. synthetic shifts) and scored on ``test_units``
    (e.g. natural pairs, never used for fitting): one fold. The final fit is the one scored."""
    results = []
    for name, info in sorted(predictors.items()):
        train, test = _usable(fit_units, name), _usable(test_units, name)
        direct = _direct(info, [*train, *test], name)
        if _cells(train) < MIN_TRAIN_CELLS or not test:
            results.append(_result(name, info, [], None, len(train), (0, 1 if test else 0), [], epsilon, n_boot, seed))
            continue
        fit = _fit(info, name, train, direct)
        points = [_point(u, name, fit, EXTERNAL) for u in test]
        fallbacks = [f"fit: {fit.note}"] if fit.note else []
        results.append(_result(name, info, points, fit, len(train), (1, 0), fallbacks, epsilon, n_boot, seed))
    ok = _cells(fit_units) >= MIN_TRAIN_CELLS
    controls = tuple(_control(c, test_units if ok else [], int(ok)) for c in CONTROLS)
    notes = _common_notes([*fit_units, *test_units])
    notes.append(f"maps fitted on {len(fit_units)} units ({_cells(fit_units)} cells), scored on {len(test_units)}.")
    return Evaluation(
        EXTERNAL,
        epsilon,
        n_boot,
        seed,
        len(test_units),
        _records(test_units),
        (EXTERNAL,),
        tuple(results),
        controls,
        tuple(notes),
    )
