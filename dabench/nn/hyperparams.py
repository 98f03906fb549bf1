"""Shared training hyperparameters of the built-in methods, so baselines and adaptation methods train alike, and the
declared valid range of a numeric method parameter (:class:`ParamRange`).

The SGD schedule is Ganin & Lempitsky (2015): ``lr_p = lr / (1 + alpha·p)^beta`` with training progress
``p`` in [0, 1] (``alpha = 10``, ``beta = 0.75``), momentum 0.9.

A method declares ``MethodSpec.param_ranges`` (name -> :class:`ParamRange`, or a ``(low, high)`` tuple of inclusive
bounds with ``None`` for unbounded); every resolved value is checked against it before anything runs, so
``--set batch_size=0`` is a clear error instead of a crash deep in training.

Segmentation runs (the U-Net) use :data:`SEGMENTATION_DEFAULTS` on top of the shared defaults and declare
:data:`SEGMENTATION_RANGES`; classification keeps exactly :data:`TRAINING_DEFAULTS` (run keys unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from dabench.errors import SpecError


@dataclass(frozen=True)
class ParamRange:
    """The valid interval of a numeric parameter: ``low``/``high`` (``None`` = unbounded), each inclusive unless
    ``low_open``/``high_open``. ``ParamRange(1)`` is ``>= 1``; ``ParamRange(0, low_open=True)`` is ``> 0``;
    ``ParamRange(0, 1, high_open=True)`` is ``[0, 1)``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise SpecError(f"parameter range {self.interval()} is empty: its low bound must not exceed its high.")

    @classmethod
    def of(cls, value: ParamRange | tuple[float | None, float | None]) -> ParamRange:
        """A :class:`ParamRange` as is, or one from a ``(low, high)`` tuple of inclusive bounds."""
        if isinstance(value, ParamRange):
            return value
        if not isinstance(value, tuple) or len(value) != 2:
            raise SpecError(f"a parameter range is a ParamRange or a (low, high) tuple; got {value!r}.")
        return cls(value[0], value[1])

    def contains(self, value: float) -> bool:
        """Whether ``value`` (a finite number) lies in the range."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def interval(self) -> str:
        """Interval notation, e.g. ``[1, inf)``, ``(0, inf)`` or ``[0, 1)``."""
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low is None or self.low_open else "["
        right = ")" if self.high is None or self.high_open else "]"
        return f"{left}{low}, {high}{right}"

    def describe(self, name: str) -> str:
        """The condition in words, e.g. ``lr > 0``, ``epochs >= 1`` or ``0 <= momentum < 1``."""
        if self.low is not None and self.high is None:
            return f"{name} {'>' if self.low_open else '>='} {self.low:g}"
        low = "" if self.low is None else f"{self.low:g} {'<' if self.low_open else '<='} "
        high = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high:g}"
        return f"{low}{name}{high}" if low or high else f"{name} is any finite number"

    def check(self, name: str, value: Any, *, owner: str = "") -> None:
        """Raise :class:`SpecError` naming the parameter, the value and the valid range when ``value`` is outside."""
        if self.contains(value):
            return
        whose = f" of {owner}" if owner else ""
        raise SpecError(
            f"parameter {name}={value!r}{whose} is out of range: it must satisfy {self.describe(name)} "
            f"(valid range {self.interval()})."
        )


TRAINING_DEFAULTS: MappingProxyType[str, Any] = MappingProxyType(
    {
        "epochs": 15,
        "batch_size": 64,
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "lr_alpha": 10.0,
        "lr_beta": 0.75,
        "width": 32,
        "hidden": 100,
        "backbone": "lenet",
        "backbone_weights": "",
    }
)

KEY_NEUTRAL: MappingProxyType[str, Any] = MappingProxyType({"backbone": "lenet", "backbone_weights": ""})
"""Parameters added after runs were published, at the values that reproduce those runs: a run spec leaves a
parameter out of its key while it has this value (``RunSpec.canonical``), so adding one moves no committed key.
``backbone``: the classification network of every method built on :func:`dabench.nn.training.build_classifier`
(``lenet``, or ``resnet18``: torchvision's ResNet-18 from scratch, :mod:`dabench.nn.resnet`); ``backbone_weights``:
a local state-dict file for it (nothing is downloaded)."""

PARAM_CHOICES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({"backbone": ("lenet", "resnet18")})
"""The valid values of the string parameters that have a fixed set of them."""

#: The valid range of every :data:`TRAINING_DEFAULTS` entry; methods built on the shared defaults declare these.
TRAINING_RANGES: MappingProxyType[str, ParamRange] = MappingProxyType(
    {
        "epochs": ParamRange(1),
        "batch_size": ParamRange(1),
        "lr": ParamRange(0, low_open=True),
        "momentum": ParamRange(0, 1, high_open=True),
        "weight_decay": ParamRange(0),
        "lr_alpha": ParamRange(0),
        "lr_beta": ParamRange(0),
        "width": ParamRange(1),
        "hidden": ParamRange(1),
    }
)


SEGMENTATION_DEFAULTS: MappingProxyType[str, Any] = MappingProxyType(
    {
        "width": 64,
        "depth": 4,
        "batch_size": 16,
        "lr": 0.05,
    }
)
"""What segmentation runs change in (or add to) :data:`TRAINING_DEFAULTS` (``MethodSpec.task_defaults``): the
paper's U-Net (base width 64, 4 downsamplings: 64…1024 channels; Ronneberger et al., 2015), batches of 16 images
(each a few thousand labelled pixels) and a base learning rate of 0.05: on Perlin 64×64 (2,000 images) the CPU
configuration (width 8, depth 3) reaches foreground Dice 0.991 after one epoch with it (0.985 with 0.01; 0.995 /
0.990 after two), and the paper-size U-Net trained no worse with it than with 0.01 in a short CPU check (20 steps).
The other entries (epochs, momentum, weight decay, the Ganin schedule) are shared; ``hidden`` is unused by the
U-Net."""

#: :data:`TRAINING_RANGES` plus the U-Net's ``depth`` (number of 2×2 poolings: 1 to 6).
SEGMENTATION_RANGES: MappingProxyType[str, ParamRange] = MappingProxyType(
    {**TRAINING_RANGES, "depth": ParamRange(1, 6)}
)


def checked_ranges(
    owner: str, defaults: Mapping[str, Any], ranges: Mapping[str, ParamRange | tuple[float | None, float | None]]
) -> MappingProxyType[str, ParamRange]:
    """Normalise a spec's declared ranges: each must name a numeric parameter of ``defaults`` whose default is in
    range (a plugin bug otherwise, reported when the plugin registers)."""
    checked: dict[str, ParamRange] = {}
    for name, value in ranges.items():
        if name not in defaults:
            raise SpecError(f"{owner}: param_ranges names {name!r}, which is not one of its defaults.")
        default = defaults[name]
        if isinstance(default, bool) or not isinstance(default, int | float):
            raise SpecError(f"{owner}: param_ranges[{name!r}] is given for a non-numeric default {default!r}.")
        checked[name] = ParamRange.of(value)
        if not checked[name].contains(default):
            raise SpecError(f"{owner}: default {name}={default!r} is outside its own range {checked[name].interval()}.")
    return MappingProxyType(checked)
