import torch

from dabench.seeding import Seeds, derive_seed


def test_derive_seed_stable_and_distinct() -> None:
    assert derive_seed(7, "init") == derive_seed(7, "init")
    assert derive_seed(7, "init") != derive_seed(7, "loader") != derive_seed(8, "init")
    assert 0 <= derive_seed(123, "x") < 2**63


def test_seeds_tree_and_generators() -> None:
    seeds = Seeds(3)
    assert seeds.child("method").int("init") == derive_seed(3, "method", "init")
    a = torch.rand(4, generator=seeds.torch("x"))
    b = torch.rand(4, generator=seeds.torch("x"))
    assert torch.equal(a, b)
    assert seeds.numpy("y").integers(0, 1000) == seeds.numpy("y").integers(0, 1000)
