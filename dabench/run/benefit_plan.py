"""A sweep's benefit-predictor plan (its ``[predictors]`` table), declared before anything runs.

::

    [predictors]
    compute = ["all"]                  # benefit predictors computed in the runs of `on` ("all" or names)
    on = ["source_only"]               # optional; the non-adapting runs that compute them; default source_only
    method = ["adabn", "dann"]         # the adaptation methods whose benefit is predicted (each in a grid)
    validation = ["leave_one_shift_family_out"]   # held-out schemes (below)
    fit_on = ["leaderboards/pred_digits"]         # stores whose units fit the maps, for validation "external"
    epsilon = 0.01                     # "benefit > epsilon" is a benefit worth adapting for (metric units)

Validation schemes: ``leave_one_shift_family_out`` (fit on every other shift family, score the held-out one),
``leave_one_dataset_out`` (the same over datasets), ``external`` (fit on the ``fit_on`` stores' units, score this
store's: natural shifts never used for fitting). ``dabench sweep`` writes the plan into the store
(:data:`PLAN_FILE`) before the first run and refuses a store whose plan differs, so the held-out protocol cannot be
chosen after the results are seen; ``dabench predictors evaluate`` reads it from there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dabench.errors import SpecError, StoreError

PLAN_FILE = "benefit_plan.json"
VALIDATIONS = ("leave_one_shift_family_out", "leave_one_dataset_out", "external")
KEYS = ("compute", "on", "method", "validation", "fit_on", "epsilon")


@dataclass(frozen=True)
class BenefitPlan:
    """What a sweep declares about its benefit predictors (see the module docstring)."""

    compute: tuple[str, ...]
    methods: tuple[str, ...]
    validation: tuple[str, ...]
    on: tuple[str, ...] = ("source_only",)
    fit_on: tuple[str, ...] = ()
    epsilon: float = 0.01

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BenefitPlan:
        return cls(
            compute=tuple(data["compute"]),
            methods=tuple(data["methods"]),
            validation=tuple(data["validation"]),
            on=tuple(data.get("on", ("source_only",))),
            fit_on=tuple(data.get("fit_on", ())),
            epsilon=float(data.get("epsilon", 0.01)),
        )


def _strings(table: Mapping[str, Any], key: str, example: str, *, required: bool) -> tuple[str, ...]:
    value = table.get(key)
    if value is None:
        if required:
            raise SpecError(f"predictors.{key} is required, e.g. {key} = [{example}].")
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"predictors.{key} must be a non-empty list of strings, e.g. {key} = [{example}].")
    return tuple(dict.fromkeys(value))


def parse_plan(table: Mapping[str, Any], grid_methods: Sequence[str]) -> BenefitPlan:
    """Validate a ``[predictors]`` table; method names must be in the sweep's grids."""
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise SpecError(f"predictors has unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(KEYS)}.")
    compute = _strings(table, "compute", '"all"', required=True)
    on = _strings(table, "on", '"source_only"', required=False) or ("source_only",)
    methods = _strings(table, "method", '"adabn"', required=True)
    validation = _strings(table, "validation", '"leave_one_shift_family_out"', required=True)
    fit_on = _strings(table, "fit_on", '"leaderboards/pred_digits"', required=False)
    for name in (*on, *methods):
        if name not in grid_methods:
            raise SpecError(
                f"predictors names method {name!r}, which no grid runs; methods in the grids: "
                f"{', '.join(grid_methods)}."
            )
    for scheme in validation:
        if scheme not in VALIDATIONS:
            raise SpecError(f"predictors.validation {scheme!r} is not one of {', '.join(VALIDATIONS)}.")
    if ("external" in validation) != bool(fit_on):
        raise SpecError(
            'predictors: validation "external" and fit_on go together: name the stores whose units fit the maps '
            '(fit_on = ["leaderboards/pred_digits"]) when, and only when, validation is external.'
        )
    epsilon = table.get("epsilon", 0.01)
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not math.isfinite(epsilon) or epsilon < 0:
        raise SpecError(f"predictors.epsilon must be a number >= 0 (metric units), e.g. 0.01; got {epsilon!r}.")
    return BenefitPlan(
        compute=compute, methods=methods, validation=validation, on=on, fit_on=fit_on, epsilon=float(epsilon)
    )


def declare(store_root: Path, plan: BenefitPlan) -> Path:
    """Write ``plan`` into the store before anything runs; an existing, different plan is a :class:`StoreError`."""
    path = store_root / PLAN_FILE
    text = json.dumps(plan.to_json(), indent=1, sort_keys=True) + "\n"
    if path.exists():
        if read_plan(store_root) != plan:
            raise StoreError(
                f"store {store_root} already declares another benefit-predictor plan ({path}); the held-out protocol "
                "is fixed before the first run. Use a new --store, or restore the sweep file's [predictors] table."
            )
        return path
    store_root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def read_plan(store_root: Path) -> BenefitPlan | None:
    """The store's declared plan, or None when it has none."""
    path = store_root / PLAN_FILE
    if not path.exists():
        return None
    try:
        return BenefitPlan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"{path} is not a valid benefit-predictor plan ({exc}); restore it from the sweep file."
        ) from None
