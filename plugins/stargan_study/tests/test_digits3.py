"""``digits3``: one size, one fixed 80/10/10 split per domain, no MNIST ↔ MNIST-M digit across train and test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dabench import DataError, LoadContext, SpecError
from dabench_digits3.loader import _cached_parts, load_digits3, parse, split_parts
from tests.conftest import data_root


def load(root: Path | None, domain: str, seed: int = 0):  # type: ignore[no-untyped-def]
    return load_digits3(LoadContext(root=root, rng=np.random.default_rng(seed), domain=domain))


def test_every_domain_is_32px_rgb_and_split_80_10_10(tiny_root: Path, tiny_sizes: dict[str, int]) -> None:
    for domain, n in tiny_sizes.items():
        splits = load(tiny_root, domain)
        parts = [len(splits.train), len(splits.val), len(splits.test)]
        assert sum(parts) == n and splits.train.images.shape[1:] == (3, 32, 32)
        assert abs(parts[0] - 0.8 * n) <= 10 and parts[2] >= 1
        assert splits.train.images.dtype.is_floating_point is False


def test_mnist_m_digits_and_their_mnist_sources_sit_on_the_same_side(tiny_root: Path) -> None:
    parts = split_parts(LoadContext(root=tiny_root, rng=np.random.default_rng(0)))
    mnist_x, _, mnist_part = parts["mnist"]
    mm_x, _, mm_part = parts["mnist_m"]
    origin = mm_x[:, 0, 0, 0].astype(int)  # the pooled MNIST index each MNIST-M image was made from
    assert np.array_equal(mnist_x[origin, 0, 0, 0], origin % 256)  # the fixture's encoding survived the resize
    assert np.array_equal(mm_part, mnist_part[origin])  # same assignment: no train digit is a test digit elsewhere
    assert set(mm_part.tolist()) == {0, 1, 2}


def test_the_split_is_fixed_and_the_pooled_fraction_subsamples_by_seed(tiny_root: Path) -> None:
    a, b = load(tiny_root, "usps", seed=0), load(tiny_root, "usps", seed=5)
    assert np.array_equal(a.test.images.numpy(), b.test.images.numpy())  # the split is data, not a run
    full = load(tiny_root, "pooled")
    assert len(full.train) == sum(len(load(tiny_root, d).train) for d in ("mnist", "usps", "mnist_m"))
    small, other = load(tiny_root, "pooled,fraction=0.2", seed=0), load(tiny_root, "pooled,fraction=0.2", seed=1)
    assert 10 <= len(small.train) < len(full.train) // 2 and len(small.test) == len(full.test)
    assert set(np.unique(small.train.labels.numpy()).tolist()) == set(range(10))
    assert not np.array_equal(small.train.images.numpy(), other.train.images.numpy())


def test_bad_domains_and_data(tiny_root: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not one of mnist, usps, mnist_m, pooled"):
        parse("svhn")
    with pytest.raises(SpecError, match="only pooled takes fraction"):
        parse("mnist,fraction=0.1")
    with pytest.raises(SpecError, match=r"in \(0, 1\]"):
        parse("pooled,fraction=2")
    with pytest.raises(DataError, match="set DABENCH_DATA"):
        load(None, "mnist")
    broken = tmp_path / "root"
    for folder in ("mnist", "usps", "mnist_m"):
        (broken / folder).mkdir(parents=True)
        for f in (tiny_root / folder).iterdir():
            (broken / folder / f.name).write_bytes(f.read_bytes())
    labels = broken / "mnist_m" / "mnist_m_test_labels.txt"
    lines = labels.read_text().splitlines()
    lines[0] = lines[0].split()[0] + " " + str((int(lines[0].split()[1]) + 1) % 10)
    labels.write_text("\n".join(lines) + "\n")
    _cached_parts.cache_clear()
    with pytest.raises(DataError, match="pairing with MNIST cannot be trusted"):
        load(broken, "mnist")


@pytest.mark.realdata
def test_the_shared_mnist_m_is_mnist_test_in_order() -> None:
    root = data_root()
    if root is None or not (root / "mnist_m").is_dir():
        pytest.skip("real data root not available (set DABENCH_DATA)")
    parts = split_parts(LoadContext(root=root, rng=np.random.default_rng(0)))
    assert len(parts["mnist_m"][1]) == 9001
    assert [len(parts[d][1]) for d in ("mnist", "usps")] == [20000, 9298]
