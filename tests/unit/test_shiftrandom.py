import torch

from dabench.shiftrandom import ShiftRandom


def test_per_sample_values_do_not_depend_on_batch() -> None:
    full = ShiftRandom.for_range(11, 0, 50).uniform((2, 3, 3))
    part = ShiftRandom.for_range(11, 20, 30).uniform((2, 3, 3))
    assert torch.equal(full[20:30], part)
    ids = torch.tensor([7, 3, 41])
    assert torch.equal(ShiftRandom(11, ids).uniform((2, 3, 3)), full[ids])


def test_uniform_statistics_and_streams() -> None:
    r = ShiftRandom.for_range(1, 0, 2000)
    u = r.uniform((64,))
    assert u.min() >= 0 and u.max() < 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.002
    other = r.stream("b").uniform((64,))
    assert abs(float(torch.corrcoef(torch.stack([u.flatten(), other.flatten()]))[0, 1])) < 0.01
    assert not torch.equal(u, ShiftRandom.for_range(2, 0, 2000).uniform((64,)))


def test_normal_and_integers() -> None:
    r = ShiftRandom.for_range(5, 0, 4000)
    n = r.normal((25,))
    assert abs(float(n.mean())) < 0.02 and abs(float(n.std()) - 1) < 0.02
    k = r.integers(2, 6, (10,))
    assert int(k.min()) == 2 and int(k.max()) == 5
    counts = torch.bincount(k.flatten() - 2).float()
    assert float(counts.max() / counts.min()) < 1.1
