"""Feature extraction from any named layer of a trained model, through forward hooks.

``layer`` is a name from ``model.named_modules()`` (e.g. ``"encoder.3"``). By default the module's *output* is
taken. With ``pre_activation=True`` the features are taken *before* the activation:

* if the named module is an activation (ReLU, LeakyReLU, ELU, GELU, SiLU, Sigmoid, Tanh, ...), its *input* is taken;
* if it is a container whose last registered submodule (recursively) is an activation, the input of that
  activation is taken (e.g. a ``Sequential(conv, bn, relu)`` block gives the batch-normalised, pre-ReLU map);
* otherwise there is no activation to look before and :class:`~dabench.errors.SpecError` is raised.

Tensors are copied inside the hook, so an in-place activation (``ReLU(inplace=True)``) that runs afterwards cannot
alter them. When a module runs several times in one forward pass, the last call is kept. Feature maps ``[N, C, H,
W]`` are flattened to ``[N, C*H*W]`` (``reduce="flatten"``) or averaged over space to ``[N, C]`` (``reduce="mean"``,
one value per channel, as in per-channel latent distributions).

References
----------
Stenger A et al. (shared/papers/batchnorm-adaptation-fibsem-segmentation): latent distributions of a U-Net, taken
before the ReLU, to predict the benefit of BN adaptation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from dabench.errors import SpecError, did_you_mean

if TYPE_CHECKING:
    import torch
    from torch import nn

_ACTIVATIONS = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
    "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus",
)  # fmt: skip


def _is_activation(module: nn.Module) -> bool:
    from torch import nn

    return any(isinstance(module, getattr(nn, name)) for name in _ACTIVATIONS if hasattr(nn, name))


def _last_leaf(module: nn.Module) -> nn.Module:
    children = list(module.children())
    return module if not children else _last_leaf(children[-1])


def _resolve(model: nn.Module, layer: str, pre_activation: bool) -> tuple[nn.Module, bool]:
    """The module to hook and whether to take its input (True) or its output (False)."""
    modules = dict(model.named_modules())
    modules.pop("", None)
    if layer not in modules:
        names = ", ".join(modules) if len(modules) <= 40 else ", ".join(list(modules)[:40]) + ", ..."
        raise SpecError(f"model has no layer {layer!r}.{did_you_mean(layer, modules)} Valid layer names: {names}.")
    module = modules[layer]
    if not pre_activation:
        return module, False
    if _is_activation(module):
        return module, True
    leaf = _last_leaf(module)
    if leaf is not module and _is_activation(leaf):
        return leaf, True
    raise SpecError(
        f"layer {layer!r} ({type(module).__name__}) neither is nor ends with an activation module, so there is no "
        "pre-activation output to take: name the activation itself, or use pre_activation=False."
    )


def pre_activation_input(model: nn.Module, layer: str) -> nn.Module:
    """The activation module whose *input* is ``layer``'s pre-activation output (hook it with a forward pre-hook);
    the same rule as ``extract_features(..., pre_activation=True)``."""
    module, _ = _resolve(model, layer, True)
    return module


def _flatten(t: torch.Tensor, reduce: str) -> torch.Tensor:
    if reduce == "mean" and t.dim() > 2:
        return t.flatten(2).mean(dim=2)
    return t.flatten(1)


def extract_features(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    *,
    pre_activation: bool = False,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    reduce: Literal["flatten", "mean"] = "flatten",
    eval_mode: bool = True,
) -> torch.Tensor:
    """Features ``[N, D]`` (float32, on the CPU) of ``x`` at ``layer``, batched, without gradients.

    Parameters
    ----------
    model
        A trained ``torch.nn.Module``; it is put in eval mode during extraction (``eval_mode``) and restored after.
    x
        Inputs ``[N, ...]`` as the model expects them.
    layer
        Name from ``model.named_modules()``; a wrong name raises :class:`SpecError` listing the valid ones.
    pre_activation
        Take the features before the activation (see the module docstring for the exact rule).
    batch_size, device
        Batching and the device to run on (default: the model's device).
    reduce
        ``"flatten"`` feature maps or take their spatial ``"mean"`` per channel.
    """
    import torch

    if reduce not in ("flatten", "mean"):
        raise SpecError(f"reduce must be 'flatten' or 'mean', got {reduce!r}.")
    if batch_size < 1:
        raise SpecError(f"batch_size must be >= 1, got {batch_size}.")
    module, take_input = _resolve(model, layer, pre_activation)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    captured: list[torch.Tensor] = []

    def hook(_mod: nn.Module, inputs: tuple[Any, ...], output: Any = None) -> None:
        tensor = inputs[0] if take_input else output
        if not isinstance(tensor, torch.Tensor):
            raise SpecError(f"layer {layer!r} does not produce a single tensor; choose a layer that does.")
        captured.append(tensor.detach().to("cpu", torch.float32, copy=True))

    handle = module.register_forward_pre_hook(hook) if take_input else module.register_forward_hook(hook)
    modes = {m: m.training for m in model.modules()}
    if eval_mode:
        model.eval()
    parts: list[torch.Tensor] = []
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                captured.clear()
                model(x[start : start + batch_size].to(device))
                if not captured:
                    raise SpecError(f"layer {layer!r} was not called in the forward pass; choose another layer.")
                parts.append(_flatten(captured[-1], reduce))
    finally:
        handle.remove()
        for m, training in modes.items():
            m.train(training)
    if not parts:
        return torch.empty(0, 0)
    return torch.cat(parts)
