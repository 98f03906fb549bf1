"""The dataset specs of this plugin: names, shapes, classes, licences and official files. Cheap to import: every
loader is a thin wrapper that imports its reader module (and numpy, torch, Pillow) only when called."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from dabench import DataFile, DatasetSpec, DatasetSplits, LoadContext

Loader = Callable[[LoadContext], DatasetSplits]

DIGITS = tuple(str(d) for d in range(10))
BLOOD = (
    "basophil",
    "eosinophil",
    "erythroblast",
    "immature_granulocyte",
    "lymphocyte",
    "monocyte",
    "neutrophil",
    "platelet",
)
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
ESL_URL = "https://hastie.su.domains/ElemStatLearn/datasets/"
LIBSVM_URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
MEDMNIST_URL = "https://zenodo.org/records/10519652/files/"


def _lazy(module: str, function: str, *args: Any) -> Loader:
    """A loader that imports ``dabench_datasets.<module>`` on first call and runs ``function(*args, ctx)``."""

    def load(ctx: LoadContext) -> DatasetSplits:
        return getattr(importlib.import_module(f"dabench_datasets.{module}"), function)(*args, ctx)

    load.__name__ = function
    load.__qualname__ = f"{module}.{function}"
    return load


def _idx_files(url: str) -> tuple[DataFile, ...]:
    # Compressed checksums vary between mirrors (re-gzipped copies); the loader checks the IDX headers instead.
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    return tuple(DataFile(path=name, url=url + name) for name in names)


_DIGIT_DATASETS = (
    DatasetSpec(
        name="mnist",
        load=_lazy("mnist", "load_mnist"),
        num_classes=10,
        input_shape=(1, 28, 28),
        license="CC BY-SA 3.0 (as commonly cited; none stated by the authors)",
        homepage="http://yann.lecun.com/exdb/mnist/",
        needs_data_root=True,
        class_names=DIGITS,
        folder="mnist",
        files=_idx_files(MNIST_URL),
        description="MNIST handwritten digits (LeCun et al. 1998), 28×28 grey, official train/test split (IDX).",
    ),
    DatasetSpec(
        name="fashion_mnist",
        load=_lazy("mnist", "load_fashion_mnist"),
        num_classes=10,
        input_shape=(1, 28, 28),
        license="MIT",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        needs_data_root=True,
        class_names=(
            "t_shirt_top",
            "trouser",
            "pullover",
            "dress",
            "coat",
            "sandal",
            "shirt",
            "sneaker",
            "bag",
            "ankle_boot",
        ),
        folder="fashion_mnist",
        files=_idx_files(FASHION_URL),
        description="Fashion-MNIST (Xiao et al. 2017), 28×28 grey; inter-semantic DA data of the DANN study.",
    ),
    DatasetSpec(
        name="usps",
        load=_lazy("usps", "load_usps"),
        num_classes=10,
        input_shape=(1, 16, 16),
        license="research use, attribution (none stated)",
        homepage="https://hastie.su.domains/ElemStatLearn/data.html",
        needs_data_root=True,
        class_names=DIGITS,
        folder="usps",
        files=(
            DataFile(
                path="zip.train.gz",
                url=ESL_URL + "zip.train.gz",
                size=1829071,
                sha256="66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16",
            ),
            DataFile(
                path="zip.test.gz",
                url=ESL_URL + "zip.test.gz",
                size=439208,
                sha256="8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f",
            ),
            DataFile(
                path="zip.info.txt",
                url=ESL_URL + "zip.info.txt",
                optional=True,
                size=1174,
                sha256="927ca750c4117b61a71def180d5e4f00f1323a4b2c9cd990f576aa8def3505f1",
            ),
            DataFile(path="usps.bz2", url=LIBSVM_URL + "usps.bz2", optional=True),
            DataFile(path="usps.t.bz2", url=LIBSVM_URL + "usps.t.bz2", optional=True),
        ),
        description="USPS digits (Hull 1994), 16×16 grey, 7,291/2,007; ESL zip.* text or LIBSVM usps.bz2.",
    ),
    DatasetSpec(
        name="mnist_m",
        load=_lazy("mnist_m", "load_mnist_m"),
        num_classes=10,
        input_shape=(3, 32, 32),
        license="research use (BSDS500 backgrounds; none stated)",
        homepage="https://yaroslav.ganin.net/",
        needs_data_root=True,
        class_names=DIGITS,
        folder="mnist_m",
        files=(
            DataFile(
                path="mnist_m_test.tar.gz",
                size=17636744,
                sha256="26b26292c7c9580c008cfb88fc1378def57ec89b1e553d42c462eb964343e7df",
            ),
            DataFile(
                path="mnist_m_test_labels.txt",
                size=135015,
                sha256="2e8124bc2a92b483930141f677e09cb1c5a3fe99504e05fe59877d92766d7d61",
            ),
            DataFile(path="mnist_m_train.tar.gz", optional=True),
            DataFile(path="mnist_m_train_labels.txt", optional=True),
        ),
        description="MNIST-M (Ganin & Lempitsky 2015), 32×32 RGB; official train/test, or a seeded 7:3 split of "
        "the test split when only that is present.",
    ),
    DatasetSpec(
        name="black",
        load=_lazy("black", "load_black"),
        num_classes=1,
        input_shape=(1, 28, 28),
        license="generated (CC0)",
        homepage="https://jmlr.org/papers/v17/15-239.html",
        class_names=("black",),
        description="All-black images (DA control data of the DANN study); domain options size, channels, "
        "n_train, n_test, e.g. black:size=32,channels=3.",
    ),
)

_BLOOD_AND_EM = (
    DatasetSpec(
        name="pbc",
        load=_lazy("pbc", "load_pbc"),
        num_classes=8,
        input_shape=(3, 28, 28),
        license="CC BY 4.0",
        homepage="https://doi.org/10.17632/snkd93bnjr.1",
        needs_data_root=True,
        domains=("28", "64", "128", "224"),
        class_names=BLOOD,
        folder="pbc_acevedo2020",
        files=(
            DataFile(
                path="pbc_28x28_bloodmnist_style.npz",
                size=32092855,
                sha256="703bdb04e76711e7861c80837d11f78901ad68ddd16d7903e53ff35d616732bb",
            ),
            DataFile(
                path="pbc_full_manifest.tsv",
                optional=True,
                size=1561500,
                sha256="bb1c5eb7eb69c3374a74017ddc97216a90d4de37162fca0b9e7bcfbe562e0485",
            ),
            DataFile(
                path="pbc_raw_subset_100_per_class.tar",
                optional=True,
                size=13762560,
                sha256="01f2af670ff3aa57df4375462fe99abbc571b3bb5bf3913f9f33dd5ae1b63461",
            ),
            DataFile(path="PBC_dataset_normal_DIB.zip", optional=True),
        ),
        description="PBC blood cells (Acevedo et al. 2020), 8 classes, seeded stratified 7:1:2 split; domain = "
        "image size (28 from the npz, others from the raw JPEGs), option source=auto|npz|raw.",
    ),
    DatasetSpec(
        name="wbc_zheng",
        load=_lazy("wbc_zheng", "load_wbc_zheng"),
        num_classes=5,
        input_shape=(3, 28, 28),
        license="GPL-3.0 (repository); cite Zheng et al. 2018",
        homepage="https://github.com/zxaoyou/segmentation_WBC",
        needs_data_root=True,
        domains=("lab1", "lab2"),
        class_names=("neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil"),
        folder="wbc_seg_zheng2018",
        files=(
            ZHENG_ARCHIVE := DataFile(
                path="wbc_seg_zheng2018.tar.gz",
                size=22270970,
                sha256="6b0ea0523ad38c28dcd809cd43243c7c68650af200da8274b981b794335f48d5",
            ),
        ),
        description="Zheng et al. 2018 white blood cells, 5 classes, two labs (lab1 Tecom 120 px, lab2 CellaVision "
        "300 px) resized to size (default 28); seeded stratified 7:1:2 split.",
    ),
    DatasetSpec(
        name="wbc_zheng_seg",
        load=_lazy("wbc_zheng", "load_wbc_zheng_seg"),
        num_classes=3,
        input_shape=(3, 120, 120),
        task_type="segmentation",
        license="GPL-3.0 (repository); cite Zheng et al. 2018",
        homepage="https://github.com/zxaoyou/segmentation_WBC",
        needs_data_root=True,
        domains=("lab1", "lab2"),
        class_names=("background", "cytoplasm", "nucleus"),
        folder="wbc_seg_zheng2018",
        files=(ZHENG_ARCHIVE,),
        description="Zheng et al. 2018 white blood cells, background/cytoplasm/nucleus masks, two labs, resized to "
        "size (default 120); seeded 7:1:2 split stratified by cell class.",
    ),
    DatasetSpec(
        name="isbi2012",
        load=_lazy("isbi2012", "load_isbi2012"),
        num_classes=2,
        input_shape=(1, 512, 512),
        task_type="segmentation",
        license="research use; cite Cardona et al. 2010 (terms unverified)",
        homepage="https://imagej.net/events/isbi-2012-segmentation-challenge",
        needs_data_root=True,
        class_names=("cell", "membrane"),
        folder="isbi2012_em_membrane",
        files=(
            DataFile(
                path="isbi2012_membrane_pngs.tar",
                size=12912640,
                sha256="3800f14ad9b3d450b9a93945aa53730b6e36659d47cf1a8e42d85e72009cc759",
            ),
            DataFile(path="train-volume.tif", optional=True),
            DataFile(path="train-labels.tif", optional=True),
        ),
        description="ISBI 2012 EM membranes (Cardona et al. 2010): the 30 labelled 512×512 sections, 0-19 train, "
        "20-29 test; option size.",
    ),
)


def _medmnist_specs() -> tuple[DatasetSpec, ...]:
    # name -> (classes, channels); mirrors dabench_datasets.medmnist.OFFICIAL without importing it.
    official = {
        "pathmnist": (9, 3),
        "dermamnist": (7, 3),
        "octmnist": (4, 1),
        "pneumoniamnist": (2, 1),
        "retinamnist": (5, 3),
        "breastmnist": (2, 1),
        "bloodmnist": (8, 3),
        "tissuemnist": (8, 1),
        "organamnist": (11, 1),
        "organcmnist": (11, 1),
        "organsmnist": (11, 1),
    }
    common: dict[str, Any] = {
        "license": "per subset, mostly CC BY 4.0 (see medmnist.com)",
        "homepage": "https://medmnist.com/",
        "needs_data_root": True,
        "folder": "medmnist",
    }
    specs = [
        DatasetSpec(
            name="medmnist",
            load=_lazy("medmnist", "load_medmnist"),
            version="2",  # 2: classes and shape come from the file (1 applied bloodmnist's 8 classes to every stem)
            num_classes=8,
            input_shape=(3, 28, 28),
            class_names=BLOOD,
            files=tuple(
                DataFile(path=f"{n}.npz", url=f"{MEDMNIST_URL}{n}.npz?download=1", optional=True) for n in official
            ),
            # No declared domains: any file stem is one (medmnist:pathmnist, medmnist:mycells).
            description="Any MedMNIST-format npz under medmnist/, selected by file stem (medmnist:<stem>, e.g. "
            "medmnist:pathmnist or your own medmnist:mycells; default bloodmnist, whose classes and shape the spec "
            "lists); channels, size and classes come from the file. Official train/val/test splits.",
            **common,
        )
    ]
    for name, (classes, channels) in official.items():
        specs.append(
            DatasetSpec(
                name=name,
                load=_lazy("medmnist", "load_official", name),
                num_classes=classes,
                input_shape=(channels, 28, 28),
                domains=("28", "64", "128", "224"),
                class_names=BLOOD if name == "bloodmnist" else (),
                files=(DataFile(path=f"{name}.npz", url=f"{MEDMNIST_URL}{name}.npz?download=1"),),
                description=f"MedMNIST v2 {name} (Yang et al. 2023), official split; domain = size (28, 64, 128, 224).",
                **common,
            )
        )
    return tuple(specs)


_GENERIC = (
    DatasetSpec(
        name="imagefolder",
        load=_lazy("imagefolder", "load_imagefolder"),
        version="2",  # 2: the class folders define the label space (1 used the placeholder num_classes=2)
        num_classes=2,
        input_shape=(3, 64, 64),
        license="the user's own data",
        homepage="https://pytorch.org/vision/stable/datasets.html",
        needs_data_root=True,
        folder="imagefolder",
        description="Your images under imagefolder/<name>/<class>/ (or train|val|test/<class>/), selected as "
        "imagefolder:<name>[,size=64][,channels=1]; classes from the folder names. num_classes and "
        "input_shape here are placeholders: the loaded data defines them.",
    ),
    DatasetSpec(
        name="maskfolder",
        load=_lazy("maskfolder", "load_maskfolder"),
        num_classes=2,
        input_shape=(1, 64, 64),
        task_type="segmentation",
        license="the user's own data",
        homepage="https://pillow.readthedocs.io/en/stable/handbook/image-file-formats.html",
        # No data root needed: path= may be absolute; a relative path needs one (the loader says so).
        description="Your images and masks paired by file stem in DIR/images/ + DIR/masks/ (or train|val|test/ "
        "each holding both; else a seeded 7:1:2 split), selected as maskfolder:path=DIR (absolute or relative to the "
        "data root)[,size=256][,values=0,255][,classes=background,cell][,grey=1]. Masks hold class ids 0..C-1, or "
        "grey values that values= maps to ids in order. num_classes and input_shape here are placeholders: the "
        "loaded data defines them.",
    ),
    DatasetSpec(
        name="perlin",
        load=_lazy("perlin", "load_perlin"),
        num_classes=2,
        input_shape=(1, 64, 64),
        task_type="segmentation",
        license="generated (CC0)",
        homepage="https://doi.org/10.1145/325165.325247",
        class_names=("background", "mask"),
        description="Synthetic Perlin-noise masks with mask/background means mu1/mu2 (BN-adaptation study); domain "
        "options mu1, mu2, sigma, size, cells, octaves, threshold, n_train, n_test "
        "(perlin:mu1=0.3,mu2=0.7).",
    ),
)

DATASETS: tuple[DatasetSpec, ...] = (*_DIGIT_DATASETS, *_BLOOD_AND_EM, *_medmnist_specs(), *_GENERIC)
