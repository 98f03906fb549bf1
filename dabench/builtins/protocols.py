"""The core protocol ``uda`` as a :class:`~dabench.specs.ProtocolSpec` (cheap: the torch code in
:mod:`dabench.run.protocols` is imported when a run builds its task)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from dabench.builtins.citations import GANIN_2015
from dabench.runspec import RunSpec
from dabench.studyspecs import ProtocolSpec

if TYPE_CHECKING:
    from dabench.data import AdaptationTask, LabeledSplit
    from dabench.run.protocols import ProtocolContext


def build_uda(spec: RunSpec, ctx: ProtocolContext) -> tuple[AdaptationTask, Mapping[str, Callable[[], LabeledSplit]]]:
    """The ``uda`` protocol (:func:`dabench.run.protocols.build_uda`)."""
    from dabench.run import protocols

    return protocols.build_uda(spec, ctx.registry, ctx.data, ctx.seeds, ctx.device)


PROTOCOLS = [
    ProtocolSpec(
        name="uda",
        build=build_uda,
        version="2",  # 2: without --target, the unlabelled target half is disjoint from the labelled source half
        paper=GANIN_2015,
        description="unsupervised DA: labelled source train split + unlabelled shifted target train split; test on "
        "the clean source and the shifted target test splits",
    )
]
