"""ISBI 2012 EM segmentation challenge: 30 labelled 512×512 serial-section TEM images of the Drosophila larva
ventral nerve cord (and 30 unlabelled test sections), membrane vs cell interior.

Read from the challenge's multi-page TIFFs ``train-volume.tif`` + ``train-labels.tif``, or from the PNG layout
``train/image/N.png`` + ``train/label/N.png`` (a folder, or packed as ``isbi2012_membrane_pngs.tar``), all under
``isbi2012_em_membrane/``. Label maps are 0 = membrane, 255 = interior; here class 0 = cell interior, 1 = membrane.

Splits: the 30 labelled sections only, split by position in the stack (serial sections are correlated, so no random
split): sections 0-19 train, 20-29 test. The 30 unlabelled challenge test sections have no labels and are not part
of any split. Option ``size`` (default 512) resizes (bicubic images, nearest labels): ``isbi2012:size=256``.

References
----------
Cardona, A., Saalfeld, S., Preibisch, S., Schmid, B., Cheng, A., Pulokas, J., Tomancak, P., Hartenstein, V.
An integrated micro- and macroarchitectural analysis of the Drosophila brain by computer-assisted serial section
electron microscopy. PLoS Biology 8(10), e1000502, 2010.
Arganda-Carreras, I., Turaga, S. C., Berger, D. R., et al. Crowdsourcing the creation of image segmentation
algorithms for connectomics. Frontiers in Neuroanatomy 9, 142, 2015.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from dabench import DataError, DatasetSplits, LoadContext, SpecError
from dabench_datasets.options import parse_domain
from dabench_datasets.reading import dataset_folder, decode_image, fetch_hint, labeled, read_members, resize

if TYPE_CHECKING:
    import numpy as np

FOLDER = "isbi2012_em_membrane"
ARCHIVE = "isbi2012_membrane_pngs.tar"
CLASS_NAMES = ("cell", "membrane")
N_LABELLED, N_TRAIN = 30, 20


def _read_tiff(path: Path, mode: str) -> list[np.ndarray]:
    import numpy as np
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(path.read_bytes())) as stack:
            return [np.asarray(page.convert(mode), dtype=np.uint8) for page in ImageSequence.Iterator(stack)]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path} is truncated or not a multi-page TIFF ({exc}).") from exc


def _read_pngs(source: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    wanted = {f"train/{kind}/{i}.png" for kind in ("image", "label") for i in range(N_LABELLED)}
    members = read_members(source, lambda name: name.lstrip("./") in wanted)
    members = {name.lstrip("./"): data for name, data in members.items()}
    missing = sorted(wanted - set(members))
    if missing:
        raise DataError(
            f"dataset 'isbi2012': {source} lacks {len(missing)} of the 60 labelled-section PNGs "
            f"(e.g. {missing[0]}); the archive is incomplete."
        )
    images = [
        decode_image(members[f"train/image/{i}.png"], f"{source}/train/image/{i}.png", "L") for i in range(N_LABELLED)
    ]
    labels = [
        decode_image(members[f"train/label/{i}.png"], f"{source}/train/label/{i}.png", "L") for i in range(N_LABELLED)
    ]
    return images, labels


def _read(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if (folder / "train-volume.tif").exists() and (folder / "train-labels.tif").exists():
        return _read_tiff(folder / "train-volume.tif", "L"), _read_tiff(folder / "train-labels.tif", "L")
    for source in (folder / "train", folder / ARCHIVE):
        if source.exists():
            return _read_pngs(folder if source.name == "train" else source)
    raise DataError(
        f"dataset 'isbi2012': none of train-volume.tif + train-labels.tif, train/image + train/label, "
        f"or {ARCHIVE} exists in {folder}. {fetch_hint('isbi2012')}"
    )


def load_isbi2012(ctx: LoadContext) -> DatasetSplits:
    """ISBI 2012 membranes (Cardona et al. 2010): 20 train / 10 test labelled sections, 0 cell / 1 membrane."""
    import numpy as np

    size = parse_domain(ctx.domain, {"size": 512}, dataset="isbi2012")["size"]
    if not 16 <= size <= 1024:
        raise SpecError(f"dataset 'isbi2012': size must be between 16 and 1024; got {size}.")
    folder = dataset_folder(ctx, FOLDER, "isbi2012")
    images, labels = _read(folder)
    if len(images) != N_LABELLED or len(labels) != N_LABELLED:
        raise DataError(
            f"dataset 'isbi2012' in {folder}: expected {N_LABELLED} sections and label maps, got "
            f"{len(images)} and {len(labels)}."
        )
    x = np.stack([resize(image, size) for image in images])
    y = np.stack([(resize(label, size, nearest=True) < 128).astype(np.int64) for label in labels])
    return DatasetSplits(
        train=labeled(x[:N_TRAIN], y[:N_TRAIN]),
        test=labeled(x[N_TRAIN:], y[N_TRAIN:]),
        input_shape=(1, size, size),
        source=str(folder),
    )
