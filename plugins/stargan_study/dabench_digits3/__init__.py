"""``digits3``: the StarGAN study's digit domains (MNIST, USPS, MNIST-M) on one image size and one split that keeps
every MNIST-M digit and its MNIST source on the same side (:mod:`dabench_digits3.loader`). A plugin of its own — the
study's protocols and analysis are ``dabench_stargan_study`` — because a dataset's code hash enters every run key:
the analysis can change without moving the keys of the records it reads.

Cheap to import: the spec and hook only.
"""

from __future__ import annotations

from collections.abc import Iterable

import dabench


def _load(ctx: dabench.LoadContext) -> dabench.DatasetSplits:
    from dabench_digits3.loader import load_digits3

    return load_digits3(ctx)


@dabench.hookimpl
def register_datasets() -> Iterable[dabench.DatasetSpec]:
    return [
        dabench.DatasetSpec(
            name="digits3",
            load=_load,
            num_classes=10,
            input_shape=(3, 32, 32),
            license="MNIST: CC BY-SA 3.0 (LeCun & Cortes); USPS: public (Hull 1994); MNIST-M: cite Ganin & Lempitsky",
            homepage="http://yann.lecun.com/exdb/mnist/",
            needs_data_root=True,
            domains=("mnist", "usps", "mnist_m", "pooled"),
            class_names=tuple(str(d) for d in range(10)),
            description="StarGAN study: MNIST, USPS and MNIST-M at 32×32×3 (nearest), one fixed 80/10/10 split per "
            "domain that keeps each MNIST-M digit and its MNIST source on the same side; digits3:pooled"
            "[,fraction=F] is the three pooled (the global model's data).",
        )
    ]
