"""The result of a benefit-predictor evaluation: per-predictor held-out scores and points, control rows, the
final maps fitted on all units, their JSON form, and :func:`predict`, which applies one predictor's final maps to a
new target with intervals from its held-out errors (what ``dabench advise`` prints).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dabench.errors import SpecError
from dabench.predictors.maps import FittedMap, signal_of

QUANTILES = (0.8, 0.95)
"""The held-out absolute-error quantiles stored for intervals."""


@dataclass(frozen=True)
class PredictorInfo:
    """What the evaluation needs to know of a predictor's spec (no registry): ``estimates`` (``""`` when its
    scores are uncalibrated), ``benefit_map`` (``linear`` or ``gaussian``) and a short citation of its paper."""

    estimates: str
    benefit_map: str
    paper: str


@dataclass(frozen=True)
class Fit:
    """One fold's maps for one predictor: ``calibration`` (signal -> target score; None when direct)."""

    direct: bool
    calibration: FittedMap | None
    benefit: FittedMap
    note: str = ""

    def target(self, values: Mapping[str, float], signal: float) -> float:
        """The predicted target score: the predictor's own when direct, else the calibration line at ``signal``."""
        if self.direct and "target_score" in values:
            return float(values["target_score"])
        return float(self.calibration(signal)) if self.calibration is not None else math.nan


@dataclass(frozen=True)
class HeldOut:
    """One unit's prediction by maps fitted without its group."""

    key: str
    domain: str
    cell: str
    family: str
    group: str
    signal: float
    predicted_target: float
    realised_score: float
    predicted_benefit: float
    benefit: float
    adapted_score: float


@dataclass(frozen=True)
class FinalFit:
    """The maps fitted on all units (what ``dabench advise`` applies) and the held-out absolute errors' 80 % and
    95 % quantiles (``target_error``, ``benefit_error``: None when nothing was held out)."""

    fit: Fit
    n_units: int
    target_error: tuple[float, float] | None
    benefit_error: tuple[float, float] | None


@dataclass(frozen=True)
class PredictorResult:
    """A predictor's held-out scores (None where undefined), its held-out points and its final fit."""

    name: str
    info: PredictorInfo
    mae_pp: float | None
    spearman: float | None
    spearman_ci: tuple[float, float] | None
    auroc: float | None
    regret_pp: float | None
    n_units: int
    n_folds: int
    skipped_folds: int
    fallbacks: tuple[str, ...]
    points: tuple[HeldOut, ...]
    final: FinalFit | None


@dataclass(frozen=True)
class ControlResult:
    """A decision rule that ignores the target (``always_adapt``, ``never_adapt``): regret only."""

    name: str
    regret_pp: float | None
    n_units: int
    n_folds: int


@dataclass(frozen=True)
class Evaluation:
    """Held-out scores of every predictor, the control rows, and what was left out (``notes``)."""

    scheme: str
    epsilon: float
    n_boot: int
    seed: int
    n_units: int
    n_records: int
    groups: tuple[str, ...]
    predictors: tuple[PredictorResult, ...]
    controls: tuple[ControlResult, ...]
    notes: tuple[str, ...] = field(default=())

    def result(self, name: str) -> PredictorResult:
        """The result of predictor ``name``."""
        for r in self.predictors:
            if r.name == name:
                return r
        valid = ", ".join(r.name for r in self.predictors) or "(none)"
        raise SpecError(f"benefit predictor {name!r} was not evaluated; evaluated: {valid}.")

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (plain floats; NaN and infinities as None)."""
        return _clean(asdict(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        """The inverse of :meth:`to_json`."""
        try:
            return _evaluation(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(
                f"not a benefit-predictor evaluation ({type(exc).__name__}: {exc}); rerun "
                "'dabench predictors evaluate' to write it again."
            ) from None


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)


def _point(p: Mapping[str, Any]) -> HeldOut:
    key, domain, cell, family, group = (str(p[k]) for k in ("key", "domain", "cell", "family", "group"))
    s, pt, real, pb, ben, ad = (_nan(p[k]) for k in _FLOATS)
    return HeldOut(key, domain, cell, family, group, s, pt, real, pb, ben, ad)


def _pair(x: Any) -> tuple[float, float] | None:
    return None if x is None else (float(x[0]), float(x[1]))


def _map(d: Mapping[str, Any] | None) -> FittedMap | None:
    return None if d is None else FittedMap(str(d["kind"]), {k: float(v) for k, v in d["params"].items()})


def _final(d: Mapping[str, Any] | None) -> FinalFit | None:
    if d is None:
        return None
    f = d["fit"]
    benefit = _map(f["benefit"])
    assert benefit is not None
    fit = Fit(bool(f["direct"]), _map(f["calibration"]), benefit, str(f["note"]))
    return FinalFit(fit, int(d["n_units"]), _pair(d["target_error"]), _pair(d["benefit_error"]))


def _evaluation(d: Mapping[str, Any]) -> Evaluation:
    results = tuple(
        PredictorResult(
            r["name"],
            PredictorInfo(**r["info"]),
            _opt(r["mae_pp"]),
            _opt(r["spearman"]),
            _pair(r["spearman_ci"]),
            _opt(r["auroc"]),
            _opt(r["regret_pp"]),
            int(r["n_units"]),
            int(r["n_folds"]),
            int(r["skipped_folds"]),
            tuple(r["fallbacks"]),
            tuple(_point(p) for p in r["points"]),
            _final(r["final"]),
        )
        for r in d["predictors"]
    )
    controls = tuple(
        ControlResult(str(c["name"]), _opt(c["regret_pp"]), int(c["n_units"]), int(c["n_folds"])) for c in d["controls"]
    )
    return Evaluation(
        str(d["scheme"]),
        float(d["epsilon"]),
        int(d["n_boot"]),
        int(d["seed"]),
        int(d["n_units"]),
        int(d["n_records"]),
        tuple(d["groups"]),
        results,
        controls,
        tuple(d["notes"]),
    )


_FLOATS = ("signal", "predicted_target", "realised_score", "predicted_benefit", "benefit", "adapted_score")


@dataclass(frozen=True)
class Prediction:
    """One predictor's prediction for a new target: the target score and the benefit with 80 % and 95 % intervals
    (the held-out absolute errors' quantiles around the estimate, clipped to the metric's bounds; None when the
    predictor was never held out)."""

    signal: float
    target_score: float
    target_80: tuple[float, float] | None
    target_95: tuple[float, float] | None
    benefit: float
    benefit_80: tuple[float, float] | None
    benefit_95: tuple[float, float] | None


def _interval(centre: float, half: float | None, bounds: tuple[float, float]) -> tuple[float, float] | None:
    if half is None or not math.isfinite(centre):
        return None
    return max(bounds[0], centre - half), min(bounds[1], centre + half)


def predict(
    entry: PredictorResult,
    values: Mapping[str, float],
    source_value: float,
    *,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Prediction:
    """Apply ``entry``'s final fit to one new target: ``values`` are the predictor's record values
    (``target_score``/``shift_score``), ``source_value`` the source validation value of the quantity it
    estimates; ``bounds`` are the primary metric's (benefits lie within ``±(high - low)``)."""
    if entry.final is None:
        raise SpecError(
            f"benefit predictor {entry.name!r} has no fitted maps: its evaluation had fewer than "
            "3 cells with its values; evaluate it on a larger study store."
        )
    signal = signal_of(values, source_value)
    if signal is None:
        raise SpecError(
            f"benefit predictor {entry.name!r} gave no finite target_score or shift_score "
            f"({dict(values)}); nothing to predict from."
        )
    fit, final = entry.final.fit, entry.final
    spread = bounds[1] - bounds[0]
    target = min(max(fit.target(values, signal), bounds[0]), bounds[1])
    benefit = min(max(float(fit.benefit(signal)), -spread), spread)
    t_err, b_err = final.target_error or (None, None), final.benefit_error or (None, None)
    return Prediction(
        signal,
        target,
        _interval(target, t_err[0], bounds),
        _interval(target, t_err[1], bounds),
        benefit,
        _interval(benefit, b_err[0], (-spread, spread)),
        _interval(benefit, b_err[1], (-spread, spread)),
    )
