"""Score vs test-shift intensity, one curve per DA group plus the no-DA (``source_only``) curve per setting: the
data of the paper's Fig. 5a and 7a.

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt), Fig. 5a and 7a
(p. 5): "For each curve, DA is trained with a different dataset. The noise intensity in DA is the same as in the
test dataset."
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np

from dabench_dann_study.decomposition import Decomposition
from dabench_dann_study.records import ADVERSARIAL_METHOD, BASELINE

Curve = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
DaChoice = float | Literal["best", "matched"]
DEFAULT_DA: DaChoice = "matched"
"""The paper's convention (Fig. 5a, 7a): the DA intensity equal to the test intensity."""


def accuracy_curves(
    decompositions: Sequence[Decomposition], *, da_intensity: DaChoice = DEFAULT_DA
) -> dict[str, Curve]:
    """``label -> (test intensities, mean, low, high)``.

    ``da_intensity``: ``"matched"`` (default, the paper's convention) takes at each test intensity the DA model
    trained at the same DA intensity (points without a matching DA run are left out); ``"best"`` the DA intensity
    with the largest mean gain (averaged over test intensities) per group; a number that DA intensity. Labels name
    the method, DA dataset and DA intensity, prefixed with the dataset and test shift when there are several.
    """
    settings = sorted({(d.dataset, d.test_shift) for d in decompositions})
    curves: dict[str, Curve] = {}
    for setting in settings:
        prefix = f"{setting[0]}, {setting[1]}: " if len(settings) > 1 else ""
        group = [d for d in decompositions if (d.dataset, d.test_shift) == setting]
        base = group[0].baseline
        curves[f"{prefix}no DA ({BASELINE})"] = (group[0].test_intensities, base.value, base.low, base.high)
        for d in group:
            label, curve = da_curve(d, da_intensity)
            if curve is not None:
                curves[f"{prefix}{label}"] = curve
    return curves


def curve_name(d: Decomposition) -> str:
    """``DA on fashion_mnist`` for DANN, ``adabn, DA on mnist`` for other methods; variant and control marked."""
    method = "" if d.method == ADVERSARIAL_METHOD and not d.variant else f"{d.method_label}, "
    if d.method == ADVERSARIAL_METHOD and d.control and not d.variant:
        method = "control (adversarial term off), "
    return f"{method}DA on {d.da_dataset}"


def da_curve(d: Decomposition, da_intensity: DaChoice) -> tuple[str, Curve | None]:
    """One group's curve (see :func:`accuracy_curves`); ``None`` when the choice has no points."""
    name = curve_name(d)
    acc, js = d.accuracy, d.da_intensities
    if da_intensity == "matched":
        pairs = [
            (a, int(np.flatnonzero(np.isclose(js, i))[0]))
            for a, i in enumerate(d.test_intensities)
            if np.isclose(js, i).any()
        ]
        if not pairs:
            return name, None
        rows, cols = (np.array(v) for v in zip(*pairs, strict=True))
        curve = (d.test_intensities[rows], acc.value[rows, cols], acc.low[rows, cols], acc.high[rows, cols])
        return f"{name} (DA intensity = test intensity)", curve
    if da_intensity == "best":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_gain = np.nanmean(d.gain.value, axis=0)
        col = int(np.nanargmax(mean_gain)) if np.isfinite(mean_gain).any() else 0
    else:
        match = np.flatnonzero(np.isclose(js, float(da_intensity)))
        if not match.size:
            return name, None
        col = int(match[0])
    return f"{name} ({d.da_shift} {js[col]:g})", (
        d.test_intensities,
        acc.value[:, col],
        acc.low[:, col],
        acc.high[:, col],
    )
