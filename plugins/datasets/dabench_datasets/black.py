"""All-black images of any size: the degenerate "domain" used as adaptation data in the DANN paper's protocol
(a control that carries no information about the target). One class, label 0; no files needed.

Domain options (``black:size=32,channels=3``): ``size`` (default 28), ``channels`` (1), ``n_train`` (10000),
``n_test`` (2000).

References
----------
Ganin, Y., Ustinova, E., Ajakan, H., Germain, P., Larochelle, H., Laviolette, F., Marchand, M., Lempitsky, V.
Domain-adversarial training of neural networks. JMLR 17(59), 2016.
"""

from __future__ import annotations

from dabench import DatasetSplits, LabeledSplit, LoadContext, SpecError
from dabench_datasets.options import parse_domain

DEFAULTS = {"size": 28, "channels": 1, "n_train": 10000, "n_test": 2000}


def load_black(ctx: LoadContext) -> DatasetSplits:
    """Zero-valued uint8 images ``[N, channels, size, size]`` with label 0 (Ganin et al. 2016)."""
    import torch

    options = parse_domain(ctx.domain, DEFAULTS, dataset="black")
    size, channels = options["size"], options["channels"]
    if size < 1 or channels not in (1, 3) or options["n_train"] < 1 or options["n_test"] < 1:
        raise SpecError(f"dataset 'black': need size >= 1, channels 1 or 3 and positive counts; got {ctx.domain!r}.")

    def split(n: int) -> LabeledSplit:
        return LabeledSplit(
            images=torch.zeros((n, channels, size, size), dtype=torch.uint8), labels=torch.zeros(n, dtype=torch.int64)
        )

    return DatasetSplits(
        train=split(options["n_train"]), test=split(options["n_test"]), input_shape=(channels, size, size)
    )
