"""The BN-adaptation study's protocols: one source model, evaluated (and adapted) on a grid of target domains.

``perlin_grid`` — the paper's synthetic experiment. The run's dataset is the *source setting*, a Perlin domain
(``perlin:mu1=0.7,mu2=0.3[,n_train=…]``); the targets are every cell (μ1, μ2) ∈ V × V with μ1 ≠ μ2 (V: the test
intensities, default the paper's {0.1, 0.3, 0.5, 0.7, 0.9}: 20 cells), each the source's Perlin options with only
μ1, μ2 replaced. A cell is a test domain ``mu1=<v>,mu2=<v>`` (its test split, labelled, for the runner) and an
unlabelled domain of the same name (its train split, images only, for BN adaptation and the shift diagnostics);
``source`` is the source test split. Cells are generated from the run seed under their own seed path
(``perlin_grid/data/perlin:<cell>``, independent of the source's images and of how the source was written), so for
one seed every source setting and every method sees the same target images.

``shift_grid`` — the real-data check (ISBI 2012 EM sections under brightness / contrast / gamma): the dataset's
train split is divided once into two disjoint seeded halves, the labelled source and an unlabelled target pool;
domain ``test@<i>`` is the pool under the shift at intensity ``i`` (unlabelled) and the test split under the same
shift (labelled; a geometric shift such as ``random_resized_crop`` moves the masks with their images, by
``ProtocolContext.shift_grid``); ``source`` is the clean test split.

Unlabelled domains are :class:`~dabench_bn_study.lazy.LazyUnlabeled` mappings: a domain is built when a consumer
looks it up (AdaBN per test domain, the runner's diagnostics), never all at once. The resolve steps here are cheap;
torch loads in the build functions.

References
----------
Stenger, A., Baudrier, É., Faisan, S. Exploring deep learning domain adaptation performance: from covariate shift
to Wasserstein and beyond (shared/papers/batchnorm-adaptation-fibsem-segmentation.txt): the U-Net trained on a
source (μ1, μ2) setting, BN adaptation on each target, "means of mask and background white noises (μ1, μ2)".
Li, Y. et al. Revisiting batch normalization for practical domain adaptation (AdaBN), 2016.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dabench

if TYPE_CHECKING:
    from dabench.run.protocols import ProtocolContext

PAPER_GRID = (0.1, 0.3, 0.5, 0.7, 0.9)
"""The paper's target means μ1, μ2 (issue 11, item 6): 5 × 5 settings, 20 with μ1 ≠ μ2."""

PERLIN = "perlin"
SEED_PATH = "perlin_grid"
"""Seed path of the target cells' data (``Seeds.child(SEED_PATH)``)."""


# ------------------------------------------------------------------------------------------------ perlin_grid


def cell_name(mu1: float, mu2: float) -> str:
    """``mu1=0.1,mu2=0.3``: the domain name of one target cell."""
    return f"mu1={mu1:g},mu2={mu2:g}"


def grid_cells(values: Sequence[float]) -> list[tuple[float, float]]:
    """Every (μ1, μ2) of ``values`` × ``values`` with μ1 ≠ μ2, μ1 outer, in the order of ``values``."""
    return [(a, b) for a, b in itertools.product(values, values) if a != b]


def perlin_options(domain: str | None) -> dict[str, Any]:
    """The Perlin dataset's typed options of ``domain`` (defaults filled in); unknown keys raise SpecError."""
    from dabench_datasets.options import parse_domain
    from dabench_datasets.perlin import DEFAULTS

    return dict(parse_domain(domain, DEFAULTS, dataset=PERLIN).values)


def cell_domain(source_domain: str | None, mu1: float, mu2: float) -> str:
    """The Perlin domain string of a target cell: the source's options with ``mu1``/``mu2`` replaced, written
    canonically (``mu1``, ``mu2``, then the non-default options sorted), so equal settings give equal strings."""
    from dabench_datasets.perlin import DEFAULTS

    options = perlin_options(source_domain)
    options.update(mu1=float(mu1), mu2=float(mu2))
    rest = sorted(k for k in options if k not in ("mu1", "mu2") and options[k] != DEFAULTS[k])
    return ",".join(f"{k}={options[k]!r}" for k in ("mu1", "mu2", *rest))


def resolve_perlin_grid(request: dabench.ProtocolRequest, ctx: dabench.ResolveContext) -> dabench.ProtocolInputs:
    """Validate a ``perlin_grid`` request: a Perlin source setting, no target or shift (the targets are the grid),
    grid values in [0, 1] (default :data:`PAPER_GRID`) giving at least one cell."""
    shifted = bool(request.shift) and bool(ctx.shift_chain(request.shift or ""))  # "none" is no shift
    for flag, given in (("--target", request.target), ("--shift", shifted), ("--intensity", request.intensity)):
        if given not in (None, "", False):
            raise dabench.SpecError(
                f"{flag} does not apply to --protocol perlin_grid: its targets are the (mu1, mu2) grid of "
                "--test-intensities (default 0.1,0.3,0.5,0.7,0.9). Drop the flag."
            )
    ref = ctx.dataset_ref(request.dataset)
    if ref.name != PERLIN:
        raise dabench.SpecError(
            f"protocol perlin_grid trains on a Perlin source setting, not {request.dataset!r}: use e.g. "
            "--dataset perlin:mu1=0.7,mu2=0.3 (for other datasets, --protocol shift_grid or uda)."
        )
    perlin_options(ref.domain)
    values = sorted({float(v) for v in (request.test_intensities or PAPER_GRID)})
    outside = [v for v in values if not 0.0 <= v <= 1.0]
    if outside:
        raise dabench.SpecError(
            f"perlin_grid: --test-intensities are the target means mu1, mu2 and must lie in [0, 1]; got "
            f"{', '.join(f'{v:g}' for v in outside)} (e.g. 0.1,0.3,0.5,0.7,0.9)."
        )
    names = [cell_name(a, b) for a, b in grid_cells(values)]
    if not names:
        raise dabench.SpecError(
            "perlin_grid: --test-intensities needs at least 2 different values (cells have mu1 != mu2), e.g. 0.3,0.7."
        )
    if len(set(names)) != len(names):
        raise dabench.SpecError(
            f"perlin_grid: --test-intensities {', '.join(map(repr, values))} contain values that print alike "
            "(domain names use 6 significant digits); give distinct values such as 0.1,0.3,0.5."
        )
    return dabench.ProtocolInputs(test_intensities=tuple(values))


def build_perlin_grid(
    spec: dabench.RunSpec, ctx: ProtocolContext
) -> tuple[dabench.AdaptationTask, Mapping[str, Callable[[], dabench.LabeledSplit]]]:
    """The labelled source train split, the lazily generated unlabelled cells, and the test domains ``source`` +
    every cell (see the module docstring)."""
    from dabench_bn_study.lazy import BoundedCache, LazyUnlabeled

    if spec.dataset.name != PERLIN:
        raise dabench.SpecError(f"protocol perlin_grid needs a Perlin source setting; got {spec.dataset.label()!r}.")
    source, _, num_classes = ctx.splits(spec)
    cells = {cell_name(a, b): cell_domain(spec.dataset.domain, a, b) for a, b in grid_cells(spec.test_intensities)}

    def generate(name: str) -> dabench.DatasetSplits:
        # outside the run's cache: it would keep every cell loaded until the run ends
        return ctx.load_uncached(f"{PERLIN}:{cells[name]}", SEED_PATH)

    cache = BoundedCache(generate, lambda s: s.train.images.nbytes + s.test.images.nbytes)
    source_test = ctx.to_float(source.test)
    tests: dict[str, Callable[[], dabench.LabeledSplit]] = {"source": lambda: source_test}
    for name in cells:
        tests[name] = lambda name=name: ctx.to_float(cache.get(name).test)  # type: ignore[misc]
    task = dabench.AdaptationTask(
        source=ctx.to_float(source.train),
        unlabeled=LazyUnlabeled(list(cells), lambda name: ctx.to_float(cache.get(name).train).without_labels()),
        num_classes=num_classes,
        input_shape=tuple(source.train.images.shape[1:]),  # type: ignore[arg-type]
        task_type="segmentation",
        adapt_domain=next(iter(cells)),
        info={"protocol": "perlin_grid", "source_setting": spec.dataset.label()},
    )
    return task, tests


# ------------------------------------------------------------------------------------------------- shift_grid


def resolve_shift_grid(request: dabench.ProtocolRequest, ctx: dabench.ResolveContext) -> dabench.ProtocolInputs:
    """Validate a ``shift_grid`` request: one named shift (its options kept; ``--test-intensities`` give its
    intensities, each checked against the shift's range), no target dataset (the target pool is half the train
    split)."""
    if request.target:
        raise dabench.SpecError(
            "--target does not apply to --protocol shift_grid: the target pool is half the dataset's train split, "
            "under the shift. Drop --target (or use --protocol uda for a second dataset)."
        )
    template, intensities = ctx.shift_grid(request, "shift_grid", example="-0.3,0,0.3")
    return dabench.ProtocolInputs(shift=template, test_intensities=intensities)


def build_shift_grid(
    spec: dabench.RunSpec, ctx: ProtocolContext
) -> tuple[dabench.AdaptationTask, Mapping[str, Callable[[], dabench.LabeledSplit]]]:
    """The labelled half of the train split, the unlabelled pool under the shift at every intensity (lazily) and
    the test domains ``source`` + ``test@<i>`` (see the module docstring)."""
    import numpy as np
    import torch

    from dabench.run.protocols import domain_name
    from dabench_bn_study.lazy import BoundedCache, LazyUnlabeled

    source, _, num_classes = ctx.splits(spec)
    task_type = ctx.registry.datasets.get(spec.dataset.name).task_type
    train = ctx.to_float(source.train)
    classes = task_type == "classification"
    strata = train.labels.numpy() if classes else np.zeros(len(train), dtype=np.int64)
    labelled, pool = dabench.stratified_split(strata, (0.5, 0.5), ctx.seeds.numpy("shift_grid/target-split"))
    if len(labelled) == 0 or len(pool) == 0:
        raise dabench.DataError(
            f"protocol shift_grid halves the train split of {spec.dataset.label()!r}, which has {len(train)} "
            "sample(s); it needs at least 2 (one labelled, one unlabelled)."
        )
    pool_images = train.images[torch.from_numpy(pool)]
    at = {domain_name(i): i for i in spec.test_intensities}

    def shifted_pool(name: str) -> dabench.UnlabeledSplit:
        steps = tuple(
            dabench.ShiftStep(name=s.name, version=s.version, intensity=at[name], options=s.options) for s in spec.shift
        )
        return dabench.UnlabeledSplit(images=ctx.shifted(pool_images, steps, "shift/train"))

    cache = BoundedCache(shifted_pool, lambda s: s.images.nbytes)
    source_test = ctx.to_float(source.test)
    tests: dict[str, Callable[[], dabench.LabeledSplit]] = {"source": lambda: source_test}
    tests.update(ctx.shift_grid(source_test, spec.shift, spec.test_intensities, "shift/test"))
    task = dabench.AdaptationTask(
        source=train.subset(torch.from_numpy(labelled)),
        unlabeled=LazyUnlabeled(list(at), cache.get),
        num_classes=num_classes,
        input_shape=tuple(source.train.images.shape[1:]),  # type: ignore[arg-type]
        task_type=task_type,
        adapt_domain=next(iter(at)),
        info={"protocol": "shift_grid", "shift": spec.shift[0].name if spec.shift else ""},
    )
    return task, tests
