"""The CUDA fast path (DESIGN §7): bf16 autocast and channels_last on CUDA, recorded in provenance; a 1-epoch digits
run on ``cuda`` gives finite results. Needs a GPU (``gpu`` marker; skipped without CUDA)."""

from __future__ import annotations

import math

import pytest
import torch

from dabench.nn.models import lenet
from dabench.nn.training import device_context, fast_path_usage, prepare_model

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_helpers_apply_and_record_the_fast_path() -> None:
    device = torch.device("cuda")
    with fast_path_usage() as usage:
        model = prepare_model(lenet(1, 10, (28, 28)), device)
        with device_context(device):
            out = model(torch.rand(4, 1, 28, 28, device=device))
    assert out.dtype == torch.bfloat16 and usage.as_record() == {"autocast": "bf16", "channels_last": True}
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    with fast_path_usage() as off:
        plain = prepare_model(lenet(1, 10, (28, 28)), device, channels_last=False)
        with device_context(device, autocast=False):
            out = plain(torch.rand(4, 1, 28, 28, device=device))
    assert out.dtype == torch.float32 and off.as_record() == {"autocast": None, "channels_last": False}


@pytest.mark.parametrize("method", ["source_only", "dann"])
def test_one_epoch_digits_run_on_cuda(registry, method: str) -> None:  # type: ignore[no-untyped-def]
    from dabench.run.resolve import RunRequest, resolve
    from dabench.run.runner import run

    request = RunRequest(method=method, dataset="digits", params={"epochs": 1}, n_bootstrap=20)
    record = run(resolve(request, registry), registry, device="cuda").to_record()
    prov = record["provenance"]
    assert record["status"] == "ok" and prov["device"].startswith("cuda")
    assert prov["autocast"] == "bf16" and prov["channels_last"] is True
    assert prov["threading"]["threads"] >= 1 and prov["hardware"]["gpu"]
    accuracy = record["metrics"]["target"]["accuracy"]["value"]
    assert math.isfinite(accuracy) and accuracy > 0.5
