"""What a study plugin contributes besides methods: protocols (how a run's data becomes the task a method sees and
its labelled test domains) and analyses (records → tables, fits, figures). See ``docs/writing-a-plugin.md``,
"Publish a study".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dabench.errors import SpecError
from dabench.runspec import ComponentRef, RunSpec, ShiftStep
from dabench.specs import Citation, ShiftSpec, _check_name

if TYPE_CHECKING:
    from pathlib import Path

    from dabench.data import AdaptationTask, LabeledSplit
    from dabench.run.protocols import ProtocolContext

# -------------------------------------------------------------------------------------------- protocols


@dataclass(frozen=True, kw_only=True)
class ProtocolRequest:
    """The protocol-related fields of a run request as the user gave them (CLI flags, a sweep entry), before
    validation: a protocol's ``resolve`` turns them into :class:`ProtocolInputs`."""

    dataset: str
    target: str | None = None
    shift: str | None = None
    intensity: float | None = None
    da_dataset: str | None = None
    da_shift: str | None = None
    test_intensities: tuple[float, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class ProtocolInputs:
    """What a protocol's ``resolve`` returns: the validated test shift chain and the generic protocol inputs of
    :class:`RunSpec` (an auxiliary dataset, an auxiliary shift chain, a test-shift grid)."""

    shift: tuple[ShiftStep, ...] = ()
    da_dataset: ComponentRef | None = None
    da_shift: tuple[ShiftStep, ...] = ()
    test_intensities: tuple[float, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ResolveContext:
    """What a protocol's ``resolve`` may use: the core's own parsers, so names and intensities are checked (and
    components identified with their provider) exactly as for every other run."""

    shift_chain: Callable[..., tuple[ShiftStep, ...]]
    """``shift_chain("noise:0.8+blur:3")`` (or ``shift_chain("noise", intensity=0.8)``) -> validated steps."""
    dataset_ref: Callable[[str], ComponentRef]
    """``dataset_ref("name[:domain]")`` -> the validated reference a run records."""
    shift: Callable[[str], ShiftSpec]
    """``shift("noise")`` -> the registered :class:`ShiftSpec` (its range, options, ``check_intensity``)."""

    def shift_grid(
        self,
        request: ProtocolRequest,
        protocol: str,
        *,
        default: Sequence[float] | None = None,
        example: str = "0,0.5,1",
    ) -> tuple[tuple[ShiftStep, ...], tuple[float, ...]]:
        """A test-shift grid request: one shift by name (``--shift noise`` or ``noise,option=v``; its options kept)
        evaluated at every ``--test-intensities`` value (else ``default``), each checked against the shift's range.
        Returns the shift as a one-step chain at its base intensity (0, or the range's low end) and the sorted
        intensities; ``--intensity``, a chain or no grid is a :class:`SpecError` naming ``protocol``."""
        if request.intensity is not None:
            raise SpecError(
                f"--intensity does not apply to --protocol {protocol}: give the shift's intensities with "
                f"--test-intensities (e.g. {example})."
            )
        if not request.shift or "+" in request.shift:
            raise SpecError(
                f"protocol {protocol} needs one shift by name, e.g. --shift noise, with its intensities in "
                f"--test-intensities (e.g. {example})."
            )
        head, *option_items = request.shift.split(",")
        name = head.split(":")[0]
        spec = self.shift(name)
        lo, hi = spec.intensity_range
        intensities = request.test_intensities or default
        if not intensities:
            raise SpecError(
                f"protocol {protocol}: give --test-intensities for shift {name!r} (range [{lo:g}, {hi:g}]), "
                f"e.g. {example}."
            )
        for value in intensities:
            spec.check_intensity(float(value))
        base = 0.0 if lo <= 0 <= hi else lo
        template = self.shift_chain(f"{name}:{base:g}" + "".join("," + item for item in option_items))
        return template, tuple(sorted({float(v) for v in intensities}))


#: The generic protocol inputs of a run request; a protocol names the ones it takes in ``ProtocolSpec.takes``.
PROTOCOL_INPUTS: tuple[str, ...] = ("da_dataset", "da_shift", "test_intensities")


def _default_resolve(request: ProtocolRequest, ctx: ResolveContext) -> ProtocolInputs:
    return ProtocolInputs(shift=ctx.shift_chain(request.shift or "", request.intensity))


@dataclass(frozen=True, kw_only=True)
class ProtocolSpec:
    """A protocol: how a run's data becomes the :class:`~dabench.data.AdaptationTask` a method sees and the labelled
    test domains the runner keeps (and scores).

    ``build(spec, ctx)`` returns ``(task, tests)``: ``tests`` maps a domain name to a zero-argument function that
    builds that labelled test split (built one at a time, so a grid of shifted test sets never sits in memory at
    once); ``ctx`` is a :class:`dabench.run.protocols.ProtocolContext` (registry, data source, seeds, device and the
    helpers to load, align and shift data). ``resolve(request, ctx)`` validates and normalises the protocol's own
    request fields into :class:`ProtocolInputs` (default: the test shift chain as written, nothing else);
    ``takes`` names the generic inputs (:data:`PROTOCOL_INPUTS`) it accepts, and a request that gives any other is
    rejected before ``resolve`` runs.

    References
    ----------
    Ganin & Lempitsky (2015), ICML: unsupervised domain adaptation (the core ``uda`` protocol). The DANN
    inter-semantic study (shared/papers/dann-intersemantic-histopathology.txt, section III-D): the 4-dataset
    protocol a study plugin contributes.
    """

    name: str
    build: Callable[[RunSpec, ProtocolContext], tuple[AdaptationTask, Mapping[str, Callable[[], LabeledSplit]]]]
    resolve: Callable[[ProtocolRequest, ResolveContext], ProtocolInputs] = _default_resolve
    takes: tuple[str, ...] = ()
    version: str = "1"
    description: str = ""
    paper: Citation | None = None
    diagnostics: bool = False
    """Record shift diagnostics (:mod:`dabench.run.diagnostics`): for every test domain with unlabelled data of the
    same name in the task, distances between the unadapted model's latent features of the source test images and
    of that domain's unlabelled images, pixel-statistics differences and the prediction entropy."""

    def __post_init__(self) -> None:
        _check_name("protocol", self.name)
        unknown = sorted(set(self.takes) - set(PROTOCOL_INPUTS))
        if unknown:
            raise SpecError(
                f"protocol {self.name!r}: takes {', '.join(unknown)}, which are not protocol inputs; valid: "
                f"{', '.join(PROTOCOL_INPUTS)}."
            )


# -------------------------------------------------------------------------------------------- analyses


@dataclass(frozen=True, kw_only=True)
class AnalysisContext:
    """What an analysis may use besides the records: the metric asked for (``None``: the analysis's default), every
    registered metric's bounds and direction (to clip intervals and orient differences) and the command that
    regenerates the output (to print in it)."""

    metric: str | None = None
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)
    command: str = ""

    def bounds_of(self, metric: str) -> tuple[float, float]:
        """The metric's range; unbounded when the metric is not registered."""
        return tuple(self.bounds.get(metric, (-math.inf, math.inf)))  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class AnalysisSpec:
    """An analysis: stored run records -> tables, fits and figures (a study's published artefacts).

    ``applies(records)`` says whether the records hold what the analysis needs (``dabench analyze`` runs every
    analysis that applies); ``run(records, out_dir, ctx)`` writes its files under ``out_dir`` and returns their
    paths. Records are the store's JSON dicts, failed ones included (an analysis decides what to count). It must
    never write outside ``out_dir``, and the same records must give the same files.

    References
    ----------
    The DANN inter-semantic study (shared/papers/dann-intersemantic-histopathology.txt, section III-E and Figs.
    5, 7, 9): the decomposition, fits and figures its study plugin contributes.
    """

    name: str
    applies: Callable[[Sequence[Mapping[str, Any]]], bool]
    run: Callable[[Sequence[Mapping[str, Any]], Path, AnalysisContext], list[Path]]
    version: str = "1"
    description: str = ""
    paper: Citation | None = None

    def __post_init__(self) -> None:
        _check_name("analysis", self.name)
