"""``analysis.json``: the study's tables and predictor evaluation as JSON, at the declared precision
(:data:`dabench.stats.precision.SIGNIFICANT_DIGITS` significant digits; NaN and infinities become ``null``).
``analysis.md`` and the paper comparison are generated from this document, so they cannot drift from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dabench.stats.precision import round_json
from dabench_bn_study import cells as C
from dabench_bn_study.predictors import TARGET_RHO, PredictorStudy
from dabench_bn_study.predictors import as_dict as predictors_dict
from dabench_bn_study.records import BASELINE
from dabench_bn_study.summary import BASES, LEVEL, Summary

ANALYSIS = "bn_adaptation"


@dataclass(frozen=True)
class PerlinGroup:
    """One study × adapted arm of ``perlin_grid``: its source tables and predictor evaluation."""

    study: str
    arm: str
    tables: tuple[C.SourceTable, ...]
    predictors: PredictorStudy


@dataclass(frozen=True)
class ShiftGroup:
    """One study × adapted arm of ``shift_grid``: one table per shift."""

    study: str
    arm: str
    tables: tuple[C.SourceTable, ...]


def jsonable(obj: Any) -> Any:
    """Non-finite floats to None, tuples to lists, recursively."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def _summary(s: Summary) -> dict[str, Any]:
    return s.as_dict()


def _row(row: C.CellRow, perlin: bool) -> dict[str, Any]:
    where = {"mu1": row.position[0], "mu2": row.position[1]} if perlin else {"intensity": row.position[0]}
    return {
        "domain": row.domain,
        **where,
        "is_source": row.is_source,
        "unadapted": _summary(row.unadapted),
        "adapted": _summary(row.adapted),
        "gain": _summary(row.gain),
        "fg_unadapted": _summary(row.fg_unadapted),
        "fg_adapted": _summary(row.fg_adapted),
        "flags": list(row.flags),
        "diagnostics": dict(sorted(row.diagnostics.items())),
    }


def _table(table: C.SourceTable, perlin: bool) -> dict[str, Any]:
    setting = table.setting
    where: dict[str, Any] = (
        {"mu1": setting.source[0], "mu2": setting.source[1]} if isinstance(setting.source, tuple) else {}
    )
    cell = table.source_cell
    return {
        "source": setting.source_label,
        **where,
        "seeds": list(setting.seeds),
        "in_domain": _summary(table.in_domain),
        "in_domain_adapted": _summary(table.in_domain_adapted),
        "source_cell": cell.domain if cell is not None else None,
        "notes": list(table.notes),
        "rows": [_row(r, perlin) for r in table.rows],
    }


def to_json(
    perlin: Sequence[PerlinGroup], shifts: Sequence[ShiftGroup], *, metric: str, notes: Sequence[str] = ()
) -> dict[str, Any]:
    """The whole document, rounded."""
    doc = {
        "analysis": ANALYSIS,
        "metric": metric,
        "baseline": BASELINE,
        "level": LEVEL,
        "thresholds": {"all_white": C.WHITE, "all_black": C.BLACK, "recovered": C.RECOVERED, "target_rho": TARGET_RHO},
        "bases": dict(BASES),
        "perlin": [
            {
                "study": g.study,
                "arm": g.arm,
                "sources": [_table(t, perlin=True) for t in g.tables],
                "predictors": predictors_dict(g.predictors),
            }
            for g in perlin
        ],
        "shift_grid": [
            {"study": g.study, "arm": g.arm, "shifts": [_table(t, perlin=False) for t in g.tables]} for g in shifts
        ],
        "notes": list(notes),
    }
    return round_json(jsonable(doc))
