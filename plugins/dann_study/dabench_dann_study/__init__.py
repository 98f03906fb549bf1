"""The DANN inter-semantic study as a plugin (``dann_study``): its 4-dataset protocol ``dann4`` and its analysis
``dann_decomposition`` (accuracy = reference − degradation − cost + gain, fits, key-claim test, paper comparison,
Figs. 5, 7, 9). The DANN method itself is the ``dann`` plugin; the study's sweeps are ``sweeps/dann_*.toml``.

Cheap to import: specs and hooks only (torch, numpy-heavy code and matplotlib load when a run or an analysis needs
them).

References
----------
The DANN inter-semantic histopathology study (shared/papers/dann-intersemantic-histopathology.txt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dabench
from dabench_dann_study.protocol import resolve_dann4

if TYPE_CHECKING:
    from dabench.run.protocols import ProtocolContext

PAPER = dabench.Citation(
    authors="(authors of shared/papers/dann-intersemantic-histopathology)",
    title="Domain adversarial training for data-shift robustness: an inter-semantic study in histopathology",
    year=2023,
    venue="shared/papers/dann-intersemantic-histopathology.txt",
)


def build(
    spec: dabench.RunSpec, ctx: ProtocolContext
) -> tuple[dabench.AdaptationTask, Mapping[str, Callable[[], dabench.LabeledSplit]]]:
    from dabench_dann_study.protocol import build_dann4  # torch loads here, when a run builds its task

    return build_dann4(spec, ctx)


def applies(records: Sequence[Mapping[str, Any]]) -> bool:
    """The study's records: at least one completed ``dann4`` run."""
    return any(r.get("status") == "ok" and (r.get("spec") or {}).get("protocol") == "dann4" for r in records)


def analyse(records: Sequence[Mapping[str, Any]], out_dir: Path, ctx: dabench.AnalysisContext) -> list[Path]:
    from dabench_dann_study.analysis import run

    return run(records, out_dir, ctx)


@dabench.hookimpl
def register_protocols() -> Iterable[dabench.ProtocolSpec]:
    return [
        dabench.ProtocolSpec(
            name="dann4",
            build=build,
            resolve=resolve_dann4,
            takes=("da_dataset", "da_shift", "test_intensities"),
            paper=PAPER,
            description="the DANN study's 4 datasets: train A, test B at every test-shift intensity, unlabelled DA "
            "halves C and D (D under the DA shift) of a DA dataset of any semantics",
        )
    ]


@dabench.hookimpl
def register_analyses() -> Iterable[dabench.AnalysisSpec]:
    return [
        dabench.AnalysisSpec(
            name="dann_decomposition",
            applies=applies,
            run=analyse,
            paper=PAPER,
            description="dann4 records: reference − degradation − cost + gain, net benefit, gain over control, "
            "fits, key-claim test, paper comparison, Figs. 5/7/9",
        )
    ]
