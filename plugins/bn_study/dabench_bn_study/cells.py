"""Per source setting × target domain: Dice without and with BatchNorm adaptation, the paired gain, the predicted
foreground fractions, the shift diagnostics and the flags the paper's figures show.

Flags (computed from the seed means, thresholds below):

- ``all white``: the unadapted model predicts foreground almost everywhere (foreground fraction ≥ 0.9);
- ``all black``: it predicts almost no foreground (≤ 0.1);
- ``recovered``: the adapted Dice is ≥ 0.9;
- ``not improved``: the gain's interval includes 0 or lies below it (without an interval: a gain ≤ 0).

References
----------
Stenger A et al. (shared/papers/batchnorm-adaptation-fibsem-segmentation.txt): "U-Net WITHOUT BN adaptation …
source dark, target bright → all white; source bright, target dark → all black"; "in some cases it does not
improve the performance".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dabench_bn_study.records import (
    PERLIN,
    SOURCE_DOMAIN,
    Setting,
    cell_name,
    cell_of,
    diagnostic,
    domains,
    estimate,
    intensity_of,
)
from dabench_bn_study.summary import EMPTY, Summary, summarise, summarise_gain

PRIMARY = "dice"
FOREGROUND = "foreground_fraction"
WHITE, BLACK, RECOVERED = 0.9, 0.1, 0.9
ALL_WHITE, ALL_BLACK, IS_RECOVERED, NOT_IMPROVED = "all white", "all black", "recovered", "not improved"
FLAGS = (ALL_WHITE, ALL_BLACK, IS_RECOVERED, NOT_IMPROVED)
PREDICTORS = (
    "latent_bhattacharyya",
    "latent_w2_gaussian",
    "latent_sliced_w2",
    "latent_mmd",
    "pixel_mean_diff",
    "pixel_std_diff",
    "entropy",
)
"""The diagnostics the predictor table uses: four latent distances, then the three baselines."""


@dataclass(frozen=True)
class CellRow:
    """One target domain of one source setting. ``position`` is (μ1, μ2) for a Perlin cell, (intensity,) for a
    shift-grid domain."""

    domain: str
    position: tuple[float, ...]
    unadapted: Summary
    adapted: Summary
    gain: Summary
    fg_unadapted: Summary
    fg_adapted: Summary
    diagnostics: Mapping[str, float]
    flags: tuple[str, ...]
    is_source: bool = False


@dataclass(frozen=True)
class SourceTable:
    """A source setting's rows: ``in_domain`` is the unadapted Dice on the source test split, ``source_cell`` the
    target cell equal to the source (None when the grid does not contain it)."""

    setting: Setting
    in_domain: Summary
    in_domain_adapted: Summary
    rows: tuple[CellRow, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def source_cell(self) -> CellRow | None:
        return next((r for r in self.rows if r.is_source), None)

    @property
    def targets(self) -> tuple[CellRow, ...]:
        """The rows of real targets (the cell equal to the source left out)."""
        return tuple(r for r in self.rows if not r.is_source)


def flags_of(unadapted_fg: float, adapted_dice: float, gain: Summary) -> tuple[str, ...]:
    """The flags of a row (module docstring)."""
    out = []
    if math.isfinite(unadapted_fg) and unadapted_fg >= WHITE:
        out.append(ALL_WHITE)
    if math.isfinite(unadapted_fg) and unadapted_fg <= BLACK:
        out.append(ALL_BLACK)
    if math.isfinite(adapted_dice) and adapted_dice >= RECOVERED:
        out.append(IS_RECOVERED)
    if math.isfinite(gain.low):
        if gain.low <= 0:
            out.append(NOT_IMPROVED)
    elif math.isfinite(gain.value) and gain.value <= 0:
        out.append(NOT_IMPROVED)
    return tuple(out)


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _diagnostics(setting: Setting, domain: str) -> dict[str, float]:
    """Seed means of the unadapted model's diagnostics (the unadapted record's, else the adapted one's: both come
    from the same source model); a predictor no seed has is left out."""
    out: dict[str, float] = {}
    for name in PREDICTORS:
        per_seed = []
        for unadapted, adapted in setting.pairs.values():
            value = diagnostic(unadapted, domain, name)
            per_seed.append(value if math.isfinite(value) else diagnostic(adapted, domain, name))
        mean = _mean(per_seed)
        if math.isfinite(mean):
            out[name] = mean
    return out


def _pairs(setting: Setting, domain: str, metric: str) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    out = []
    for seed in setting.seeds:
        unadapted, adapted = setting.pairs[seed]
        u, a = estimate(unadapted, domain, metric), estimate(adapted, domain, metric)
        if u is not None and a is not None:
            out.append((u, a))
    return out


def row(setting: Setting, domain: str, *, metric: str, bounds: tuple[float, float]) -> CellRow:
    """The row of one target domain."""
    pairs = _pairs(setting, domain, metric)
    fg = _pairs(setting, domain, FOREGROUND)
    unadapted, adapted = summarise([u for u, _ in pairs], bounds), summarise([a for _, a in pairs], bounds)
    gain = summarise_gain(pairs, bounds)
    fg_u = summarise([u for u, _ in fg], (0.0, 1.0)) if fg else EMPTY
    fg_a = summarise([a for _, a in fg], (0.0, 1.0)) if fg else EMPTY
    if setting.protocol == PERLIN:
        position: tuple[float, ...] = cell_of(domain) or ()
        is_source = isinstance(setting.source, tuple) and cell_name(*setting.source) == domain
    else:
        position, is_source = (intensity_of(domain) or 0.0,), False
    return CellRow(
        domain=domain,
        position=position,
        unadapted=unadapted,
        adapted=adapted,
        gain=gain,
        fg_unadapted=fg_u,
        fg_adapted=fg_a,
        diagnostics=_diagnostics(setting, domain),
        flags=flags_of(fg_u.value, adapted.value, gain),
        is_source=is_source,
    )


def source_table(setting: Setting, *, metric: str = PRIMARY, bounds: tuple[float, float] = (0.0, 1.0)) -> SourceTable:
    """Every target domain of ``setting``, in grid order."""
    pairs = _pairs(setting, SOURCE_DOMAIN, metric)
    rows = tuple(row(setting, d, metric=metric, bounds=bounds) for d in domains(setting))
    notes = []
    if setting.unpaired:
        notes.append(
            f"{setting.unpaired} {setting.arm.label} record(s) of {setting.source_label} had no source_only partner of "
            "the same seed (or repeated a seed) and were left out"
        )
    if rows and not any(r.fg_unadapted.n for r in rows):
        notes.append(f"no {FOREGROUND} in the records: the all-white / all-black flags cannot be computed")
    return SourceTable(
        setting=setting,
        in_domain=summarise([u for u, _ in pairs], bounds),
        in_domain_adapted=summarise([a for _, a in pairs], bounds),
        rows=rows,
        notes=tuple(notes),
    )
