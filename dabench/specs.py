"""Frozen component specs that plugins contribute (datasets, shifts, methods, metrics, validators; runs are in
:mod:`dabench.runspec`, protocols and analyses in :mod:`dabench.studyspecs`).

Plugins contribute *data* (these specs), never control flow: the core runner, store and leaderboards consume them,
so every published number is produced the same way (see ``docs/design.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from dabench.errors import SpecError
from dabench.nn.hyperparams import ParamRange, checked_ranges

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import torch

    from dabench.data import AdaptationTask, DatasetSplits
    from dabench.seeding import Seeds
    from dabench.shiftrandom import ShiftRandom

TaskType = Literal["classification", "segmentation"]
TASK_TYPES: tuple[TaskType, ...] = ("classification", "segmentation")
"""2: components carry their provider (``plugin``, and ``code`` for local installs); 1: name and version only."""
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise SpecError(
            f"{kind} name {name!r} is invalid: use lowercase letters, digits and '_' (e.g. 'mnist_m', 'dann')."
        )


def _check_task_type(kind: str, name: str, task_type: str) -> None:
    if task_type not in TASK_TYPES:
        raise SpecError(f"{kind} {name!r}: task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}.")


@dataclass(frozen=True, kw_only=True)
class Citation:
    """The paper a component implements."""

    authors: str
    title: str
    year: int
    venue: str = ""
    url: str = ""

    def short(self) -> str:
        """``First author et al. (year)`` style label."""
        first = self.authors.split(",")[0].split(" and ")[0].strip()
        more = " et al." if ("," in self.authors or " and " in self.authors) else ""
        return f"{first}{more} ({self.year})"


# --------------------------------------------------------------------------------------------- datasets


@dataclass(frozen=True, kw_only=True)
class DataFile:
    """One official file of a dataset, relative to the dataset's folder under the data root.

    ``sha256`` and ``url`` are set where the publisher gives them; ``dabench data verify`` / ``fetch`` use them.
    """

    path: str
    sha256: str = ""
    url: str = ""
    size: int | None = None
    optional: bool = False


@dataclass(frozen=True, kw_only=True)
class LoadContext:
    """Everything a dataset loader may use: the data root, a seeded generator and the requested domain."""

    root: Path | None
    rng: np.random.Generator
    domain: str | None = None


class DatasetLoader(Protocol):
    def __call__(self, ctx: LoadContext, /) -> DatasetSplits: ...


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """A dataset: how to read its original published files, and what comes out.

    ``load(ctx)`` returns :class:`~dabench.data.DatasetSplits` with uint8 NCHW images and int64 labels (``[N]`` for
    classification, ``[N, H, W]`` masks for segmentation). ``domains`` lists the sub-domains selectable as
    ``name:domain`` (e.g. ``wbc_zheng:lab1``); ``needs_data_root`` says whether files must be present.
    ``folder`` is the dataset's directory under the data root and ``files`` its official files (for
    ``dabench data list/verify/fetch``). ``param_overrides`` maps a method name (or ``"*"``) to parameter
    defaults suited to this dataset.
    """

    name: str
    load: DatasetLoader
    num_classes: int
    input_shape: tuple[int, int, int]
    task_type: TaskType = "classification"
    license: str
    homepage: str
    version: str = "1"
    description: str = ""
    needs_data_root: bool = False
    domains: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    folder: str = ""
    files: tuple[DataFile, ...] = ()
    param_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("dataset", self.name)
        _check_task_type("dataset", self.name, self.task_type)
        if self.num_classes < 1 or len(self.input_shape) != 3:
            raise SpecError(f"dataset {self.name!r}: num_classes must be >= 1 and input_shape (C, H, W).")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise SpecError(
                f"dataset {self.name!r}: {len(self.class_names)} class_names for {self.num_classes} classes."
            )


# ----------------------------------------------------------------------------------------------- shifts


class ShiftFn(Protocol):
    def __call__(self, images: torch.Tensor, intensity: float, random: ShiftRandom, state: Any, /) -> torch.Tensor: ...


class LabelShiftFn(Protocol):
    def __call__(self, masks: torch.Tensor, intensity: float, random: ShiftRandom, state: Any, /) -> torch.Tensor: ...


@dataclass(frozen=True, kw_only=True)
class ShiftContext:
    """What a shift's ``prepare`` may use to resolve its options (e.g. Reinhard reference images)."""

    data_root: Path | None
    load_dataset: Callable[[str], DatasetSplits]
    """``load_dataset("name")`` or ``load_dataset("name:domain")`` -> the dataset's uint8 splits."""


@dataclass(frozen=True, kw_only=True)
class ShiftSpec:
    """A data shift: ``apply(images, intensity, random, state) -> images`` on float NCHW tensors in [0, 1].

    Batched on any device; per-sample randomness comes from ``random`` (a :class:`~dabench.shiftrandom.ShiftRandom`)
    so a sample gets the same perturbation whatever batch it is in. Intensity 0 is the identity.
    ``integer_intensity`` marks shifts such as box blur whose intensity is a kernel size.

    ``defaults`` lists the shift's options (JSON scalars, e.g. Reinhard's ``reference``); user values override them
    and go into the run key. ``prepare(options, ctx)`` runs once per run and returns the ``state`` passed to every
    ``apply`` call (without ``prepare``, ``state`` is the resolved options mapping).

    ``apply_labels(masks, intensity, random, state) -> masks``: geometric shifts only, the same transform applied to
    int64 segmentation masks ``[N, H, W]`` with nearest-neighbour sampling (same ``random`` draws as ``apply``, so a
    sample's mask moves with its image; values stay in the original label set). ``None``: a photometric shift, masks
    unchanged.
    """

    name: str
    apply: ShiftFn
    intensity_range: tuple[float, float]
    version: str = "1"
    description: str = ""
    integer_intensity: bool = False
    paper: Citation | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    prepare: Callable[[Mapping[str, Any], ShiftContext], Any] | None = None
    apply_labels: LabelShiftFn | None = None

    def __post_init__(self) -> None:
        _check_name("shift", self.name)
        lo, hi = self.intensity_range
        if not lo <= hi:
            raise SpecError(f"shift {self.name!r}: intensity_range {self.intensity_range} must have low <= high.")

    def check_intensity(self, intensity: float) -> None:
        """Raise :class:`SpecError` when ``intensity`` is outside the documented range."""
        lo, hi = self.intensity_range
        if not lo <= intensity <= hi:
            raise SpecError(
                f"intensity {intensity:g} is out of range for shift {self.name!r}: valid range is [{lo:g}, {hi:g}]."
            )
        if self.integer_intensity and intensity != int(intensity):
            raise SpecError(f"shift {self.name!r} takes an integer intensity (e.g. a kernel size); got {intensity:g}.")


# ---------------------------------------------------------------------------------------------- methods


class Predictor(Protocol):
    """A fitted model: ``predict(x)`` maps float NCHW images in [0, 1] to logits ``[N, C]`` (or ``[N, C, H, W]``)."""

    def predict(self, x: torch.Tensor, /) -> torch.Tensor: ...


class DomainPredictor(Predictor, Protocol):
    """Optional extension: a predictor that scores each test domain differently (e.g. AdaBN normalising every domain
    with its own BatchNorm statistics). When a predictor has ``for_domain``, the runner calls
    ``for_domain(name, images)`` once per test domain and scores that domain with the predictor it returns; methods
    without it are scored with ``predict`` everywhere.

    ``name`` is the test domain's name: ``"source"`` is the source test split, a name of ``task.unlabeled`` (e.g.
    ``"target"`` in ``uda``) is the test split of that domain, anything else (``test@0.5``) a domain the method has
    seen no data of. ``images`` are that domain's unlabelled test images (labels stay with the runner): a method may
    use them transductively."""

    def for_domain(self, name: str, images: torch.Tensor, /) -> Predictor: ...


class Method(Protocol):
    """An adaptation method configured with resolved parameters."""

    def fit(self, task: AdaptationTask, *, seeds: Seeds, device: torch.device) -> Predictor: ...


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """An adaptation method. ``build(params)`` returns a :class:`Method`; ``defaults`` lists every parameter.

    ``param_ranges`` declares the valid range of numeric parameters (name -> :class:`~dabench.nn.hyperparams.ParamRange`
    or a ``(low, high)`` tuple of inclusive bounds, ``None`` = unbounded; e.g. ``TRAINING_RANGES``); resolved values
    outside it are rejected before a run starts."""

    name: str
    build: Callable[[Mapping[str, Any]], Method]
    paper: Citation
    defaults: Mapping[str, Any] = field(default_factory=dict)
    version: str = "1"
    task_types: tuple[TaskType, ...] = ("classification",)
    description: str = ""
    param_ranges: Mapping[str, ParamRange | tuple[float | None, float | None]] = field(default_factory=dict)
    task_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per task type, parameters added to (or overriding) ``defaults`` for runs of that type, e.g. the U-Net's
    ``depth`` for segmentation; classification runs keep exactly ``defaults`` (so their run keys do not change)."""

    def __post_init__(self) -> None:
        _check_name("method", self.name)
        for task_type in self.task_defaults:
            _check_task_type("method", self.name, task_type)
        ranges = checked_ranges(f"method {self.name!r}", self.all_defaults, self.param_ranges)
        object.__setattr__(self, "param_ranges", ranges)
        if not isinstance(self.paper, Citation):
            raise SpecError(f"method {self.name!r} must cite its paper with a dabench.Citation.")
        for task_type in self.task_types:
            _check_task_type("method", self.name, task_type)

    def defaults_for(self, task_type: str) -> dict[str, Any]:
        """Every parameter of a run of ``task_type``: ``defaults`` updated with ``task_defaults[task_type]``."""
        return {**self.defaults, **self.task_defaults.get(task_type, {})}

    @property
    def all_defaults(self) -> dict[str, Any]:
        """Every parameter of any task type (the first default wins), for checks that know no task type yet."""
        merged = dict(self.defaults)
        for extra in self.task_defaults.values():
            merged.update({k: v for k, v in extra.items() if k not in merged})
        return merged


# ---------------------------------------------------------------------------------------------- metrics


MetricFn = Callable[["np.ndarray", "np.ndarray"], float]


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """A metric ``fn(y_true, y_score) -> float``.

    ``y_true`` is an int array ``[N]`` (segmentation: ``[N, H, W]``); ``y_score`` are class probabilities ``[N, C]``
    (segmentation: ``[N, C, H, W]``). ``resampled(y_true, y_score, counts)`` optionally evaluates the metric for many
    bootstrap replicates at once (``counts`` is ``[B, N]`` multiplicities) — the shared bootstrap uses it when given.
    """

    name: str
    fn: MetricFn
    higher_is_better: bool
    bounds: tuple[float, float]
    task_type: TaskType = "classification"
    version: str = "1"
    description: str = ""
    resampled: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    diagnostic: bool = False
    """A descriptive quantity, not a score (e.g. the predicted-foreground fraction): perfect predictions need not
    reach a bound, and it cannot be a run's primary (ranking) metric."""

    def __post_init__(self) -> None:
        _check_name("metric", self.name)
        _check_task_type("metric", self.name, self.task_type)
        if not self.bounds[0] <= self.bounds[1]:
            raise SpecError(f"metric {self.name!r}: bounds {self.bounds} must have low <= high.")


# ------------------------------------------------------------------------------------------- validators


@dataclass(frozen=True, kw_only=True)
class ValidatorSpec:
    """An unsupervised validator: scores a model on *unlabelled* target data, for model selection.

    ``fn(probs, features)`` takes softmax outputs ``[N, C]`` and (when ``needs_features``) features ``[N, D]``,
    and returns a score; ``higher_is_better`` gives its direction.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray | None], float]
    higher_is_better: bool
    needs_features: bool = False
    version: str = "1"
    description: str = ""
    paper: Citation | None = None

    def __post_init__(self) -> None:
        _check_name("validator", self.name)
