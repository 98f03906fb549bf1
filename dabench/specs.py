"""Frozen component specs that plugins contribute, and the :class:`RunSpec` a run is a pure function of.

Plugins contribute *data* (these specs), never control flow: the core runner, store and leaderboards consume them,
so every published number is produced the same way (see ``docs/design.md``).
"""

from __future__ import annotations

import hashlib
import json
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
SCHEMA_VERSION = 2
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

    def __post_init__(self) -> None:
        _check_name("method", self.name)
        ranges = checked_ranges(f"method {self.name!r}", self.defaults, self.param_ranges)
        object.__setattr__(self, "param_ranges", ranges)
        if not isinstance(self.paper, Citation):
            raise SpecError(f"method {self.name!r} must cite its paper with a dabench.Citation.")
        for task_type in self.task_types:
            _check_task_type("method", self.name, task_type)


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


# -------------------------------------------------------------------------------------------------- runs


@dataclass(frozen=True, kw_only=True)
class ComponentRef:
    """A component by name and version, as recorded in a run, with its provider: ``plugin`` is the distribution
    and version (``"dabench 0.1.0"``, ``"(explicit)"``) and ``code`` a source hash for local installs (see
    ``docs/design.md``, "What enters the run key"). Both are empty in records of schema 1."""

    name: str
    version: str
    domain: str | None = None
    plugin: str = ""
    code: str = ""

    def label(self) -> str:
        return f"{self.name}:{self.domain}" if self.domain else self.name


@dataclass(frozen=True, kw_only=True)
class ShiftStep:
    """One shift of a (possibly composed) shift chain, at an intensity, with its non-default options."""

    name: str
    version: str
    intensity: float
    options: Mapping[str, Any] = field(default_factory=dict)
    plugin: str = ""
    code: str = ""

    def label(self) -> str:
        extra = "".join(f",{k}={self.options[k]}" for k in sorted(self.options))
        return f"{self.name}:{self.intensity:g}{extra}"

    def canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "intensity": self.intensity}
        if self.options:
            out["options"] = {k: self.options[k] for k in sorted(self.options)}
        return out | _provider(self.plugin, self.code)


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """Everything that determines a run's numbers. ``key()`` is its content address.

    Paths, device and store location are deliberately absent: they must not change results.
    """

    method: ComponentRef
    dataset: ComponentRef
    target: ComponentRef | None
    shift: tuple[ShiftStep, ...]
    metrics: tuple[ComponentRef, ...]
    params: Mapping[str, Any]
    protocol: str = "uda"
    seed: int = 0
    n_bootstrap: int = 1000
    da_dataset: ComponentRef | None = None
    da_shift: tuple[ShiftStep, ...] = ()
    test_intensities: tuple[float, ...] = ()
    interval: str = "percentile"

    def canonical(self) -> dict[str, Any]:
        """The JSON-able dict that is hashed into the key (and stored in the record).

        The DANN-study fields (``da_dataset``, ``da_shift``, ``test_intensities``) appear only when set, so plain UDA
        keys do not depend on them."""
        extra: dict[str, Any] = {}
        if self.da_dataset is not None or self.da_shift or self.test_intensities:
            extra = {
                "da_dataset": _ref(self.da_dataset) if self.da_dataset else None,
                "da_shift": [s.canonical() for s in self.da_shift],
                "test_intensities": list(self.test_intensities),
            }
        if self.interval != "percentile":
            extra["interval"] = self.interval
        return extra | {
            "schema": SCHEMA_VERSION,
            "method": _ref(self.method),
            "dataset": _ref(self.dataset),
            "target": _ref(self.target) if self.target else None,
            "shift": [s.canonical() for s in self.shift],
            "metrics": [_ref(m) for m in self.metrics],
            "params": {k: self.params[k] for k in sorted(self.params)},
            "protocol": self.protocol,
            "seed": self.seed,
            "n_bootstrap": self.n_bootstrap,
        }

    def key(self) -> str:
        """sha256 of the canonical JSON (sorted keys, no whitespace)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def shift_label(self) -> str:
        return "+".join(s.label() for s in self.shift) if self.shift else "none"

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> RunSpec:
        """Rebuild a spec from :meth:`canonical` output (as stored in a record).

        Reads schema 2 (round-trips exactly) and schema 1 (no ``plugin``/``code`` fields: they load empty, and the
        rebuilt spec's :meth:`key` is a schema-2 key, which no resolved run shares)."""

        def ref(d: Mapping[str, Any] | None) -> ComponentRef | None:
            if not d:
                return None
            return ComponentRef(
                name=d["name"],
                version=d["version"],
                domain=d.get("domain"),
                plugin=d.get("plugin", ""),
                code=d.get("code", ""),
            )

        def step(s: Mapping[str, Any]) -> ShiftStep:
            return ShiftStep(
                name=s["name"],
                version=s["version"],
                intensity=s["intensity"],
                options=s.get("options", {}),
                plugin=s.get("plugin", ""),
                code=s.get("code", ""),
            )

        method, dataset = ref(data["method"]), ref(data["dataset"])
        assert method is not None and dataset is not None
        return cls(
            method=method,
            dataset=dataset,
            target=ref(data.get("target")),
            shift=tuple(step(s) for s in data["shift"]),
            metrics=tuple(r for r in (ref(m) for m in data["metrics"]) if r is not None),
            params=dict(data["params"]),
            protocol=data["protocol"],
            seed=data["seed"],
            da_dataset=ref(data.get("da_dataset")),
            da_shift=tuple(step(s) for s in data.get("da_shift", [])),
            test_intensities=tuple(data.get("test_intensities", ())),
            interval=data.get("interval", "percentile"),
            n_bootstrap=data.get("n_bootstrap", 1000),
        )


def _ref(ref: ComponentRef) -> dict[str, Any]:
    out: dict[str, Any] = {"name": ref.name, "version": ref.version}
    if ref.domain:
        out["domain"] = ref.domain
    return out | _provider(ref.plugin, ref.code)


def _provider(plugin: str, code: str) -> dict[str, str]:
    """The provider fields of a canonical component (absent when unknown, as in schema-1 records)."""
    return ({"plugin": plugin} if plugin else {}) | ({"code": code} if code else {})
