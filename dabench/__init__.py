"""dabench: a plugin-based benchmark for domain adaptation under data shift.

The public API for plugin authors is everything in ``__all__`` plus :mod:`dabench.testing` (contract kit),
:mod:`dabench.nn.models`, :mod:`dabench.nn.resnet` and :mod:`dabench.nn.training` (reusable torch building blocks;
import them lazily, inside ``build``/``fit``). Importing ``dabench`` itself does not import torch.
"""

from __future__ import annotations

from dabench.benefitspecs import (
    BenefitInputs,
    BenefitOutput,
    BenefitPredictorSpec,
    PeerOutputs,
    SourceOutputs,
    TargetOutputs,
)
from dabench.data import AdaptationTask, DatasetSplits, LabeledSplit, UnlabeledSplit
from dabench.errors import (
    DabenchError,
    DataError,
    DuplicateNameError,
    PluginLoadError,
    RunDiverged,
    SpecError,
    StoreError,
    UnknownComponentError,
)
from dabench.hookspecs import hookimpl
from dabench.runspec import ComponentRef, RunSpec, ShiftStep
from dabench.seeding import Seeds, derive_seed
from dabench.shiftrandom import ShiftRandom
from dabench.specs import (
    Citation,
    DataFile,
    DatasetSpec,
    LoadContext,
    Method,
    MethodSpec,
    MetricSpec,
    Predictor,
    ShiftContext,
    ShiftSpec,
    ValidatorSpec,
)
from dabench.splitting import stratified_split
from dabench.studyspecs import (
    AnalysisContext,
    AnalysisSpec,
    ProtocolInputs,
    ProtocolRequest,
    ProtocolSpec,
    ResolveContext,
)

__version__ = "0.1.0"

__all__ = [
    "AdaptationTask",
    "AnalysisContext",
    "AnalysisSpec",
    "BenefitInputs",
    "BenefitOutput",
    "BenefitPredictorSpec",
    "Citation",
    "ComponentRef",
    "DabenchError",
    "DataError",
    "DataFile",
    "DatasetSpec",
    "DatasetSplits",
    "DuplicateNameError",
    "LabeledSplit",
    "LoadContext",
    "Method",
    "MethodSpec",
    "MetricSpec",
    "PeerOutputs",
    "PluginLoadError",
    "Predictor",
    "ProtocolInputs",
    "ProtocolRequest",
    "ProtocolSpec",
    "ResolveContext",
    "RunDiverged",
    "RunSpec",
    "Seeds",
    "ShiftContext",
    "ShiftRandom",
    "ShiftSpec",
    "ShiftStep",
    "SourceOutputs",
    "SpecError",
    "StoreError",
    "TargetOutputs",
    "UnknownComponentError",
    "UnlabeledSplit",
    "ValidatorSpec",
    "__version__",
    "derive_seed",
    "hookimpl",
    "stratified_split",
]
