"""Feature extraction through forward hooks, including pre-activation features."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dabench.errors import SpecError
from dabench.nn.features import extract_features


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True)),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 8),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(8, 3),
    )


def test_output_and_pre_activation_of_named_layers() -> None:
    model, x = _model(), torch.randn(10, 1, 6, 6)
    model.eval()
    with torch.no_grad():
        block = model[0][1](model[0][0](x))  # conv + bn, before the ReLU
        hidden = model[2](model[1](model[0](x)))
    post = extract_features(model, x, "2")
    torch.testing.assert_close(post, hidden)
    pre = extract_features(model, x, "3", pre_activation=True, batch_size=3)
    torch.testing.assert_close(pre, hidden)  # input of the in-place ReLU, not altered by it
    assert (pre < 0).any()
    torch.testing.assert_close(extract_features(model, x, "3"), hidden.clamp(min=0))
    torch.testing.assert_close(extract_features(model, x, "0", pre_activation=True), block.flatten(1))
    torch.testing.assert_close(extract_features(model, x, "0"), block.clamp(min=0).flatten(1))
    torch.testing.assert_close(extract_features(model, x, "0.1", reduce="mean"), block.mean(dim=(2, 3)))


def test_eval_mode_no_grad_and_mode_restored() -> None:
    model, x = _model(), torch.randn(7, 1, 6, 6)
    model.train()
    a = extract_features(model, x, "4", batch_size=2)
    b = extract_features(model, x, "4", batch_size=7)
    torch.testing.assert_close(a, b)  # dropout and BN in eval mode: batch-independent
    assert a.shape == (7, 8) and not a.requires_grad
    assert all(m.training for m in model.modules())


def test_errors_name_valid_layers() -> None:
    model, x = _model(), torch.randn(2, 1, 6, 6)
    with pytest.raises(SpecError, match=r"Did you mean '0.2'.*Valid layer names: 0, 0.0"):
        extract_features(model, x, "0.3")
    with pytest.raises(SpecError, match="activation"):
        extract_features(model, x, "2", pre_activation=True)
