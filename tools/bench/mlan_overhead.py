"""Harness overhead for the multi-level adversarial network: one alternating iteration of ``mlan`` (``sed``: a step of
De, Dd and Ds, then a G step on L_full) through the plugin vs a hand-written loop of the same networks and batches.

An iteration is a source and a target batch (4 each by default) of 64×64 RGB images: G (the ResNet-34 U-Net) runs
once on both; De, Dd (on the detached maps) and Ds (ground-truth source masks vs G's detached probability maps of
both batches) minimise their BCE with one Adam step; then G minimises ``L_seg − αe·L_De − αd·L_Dd − αs·L_Ds`` with
the updated discriminators on the non-detached maps (gradients into G only) and one Adam step. Variants, interleaved
round by round (the order rotates):

* "hand-written loop": the networks built by the plugin (``build_networks``), everything else written directly in
  PyTorch (batches sliced from one permutation, the losses inline, two Adam optimisers);
* "dabench MLAN.fit": the plugin's real training loop (index batches, the divergence guard, progress, checkpoint
  offer, ``adversarial_step``) with ``g_epochs = d_epochs = 0`` and one adversarial epoch over a task of exactly
  ``steps`` source batches, the network build (timed just before, in the same round) subtracted — the ratio in the
  RESULT line;
* "dabench adversarial_step": the plugin's iteration function alone on the hand-written loop's batches.

For sizing runs, also timed (not in the ratio): one G-only step (``generator_step``: L_seg on the source batch, the
G stage and Origin) and one discriminator-stage step (``discriminator_step``). Median time per iteration over
rounds, min and max; one torch thread unless ``--threads``. Target: ratio ≤ 1.05.

    OMP_NUM_THREADS=1 python tools/bench/mlan_overhead.py [--steps 4] [--rounds 7] [--size 64] [--batch 4]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from tabulate import tabulate

from dabench import AdaptationTask, LabeledSplit, Seeds, UnlabeledSplit
from dabench.nn.training import prepare_model
from dabench_mlan import DEFAULTS
from dabench_mlan.method import (
    MLAN,
    Batch,
    adversarial_step,
    build_networks,
    build_optimizers,
    discriminator_step,
    generator_step,
)

CPU = torch.device("cpu")


def make_task(n: int, size: int) -> AdaptationTask:
    """``n`` random RGB source images with disc-shaped masks and ``n`` target images."""
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.rand(n, 2, generator=g) * size
    radii = (0.15 + 0.2 * torch.rand(n, generator=g)) * size
    masks = ((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2 < radii[:, None, None] ** 2).long()
    return AdaptationTask(
        source=LabeledSplit(images=torch.rand(n, 3, size, size, generator=g), labels=masks),
        unlabeled={"target": UnlabeledSplit(images=torch.rand(n, 3, size, size, generator=g))},
        num_classes=2,
        input_shape=(3, size, size),
        task_type="segmentation",
    )


def _bce(logits: torch.Tensor, n_real: int) -> torch.Tensor:
    """The hand-written loop's discriminator loss: BCE of the first ``n_real`` as 1 plus BCE of the rest as 0."""
    ones, zeros = torch.ones_like(logits[:n_real]), torch.zeros_like(logits[n_real:])
    return F.binary_cross_entropy_with_logits(logits[:n_real], ones) + F.binary_cross_entropy_with_logits(
        logits[n_real:], zeros
    )


def hand_written(task: AdaptationTask, params: dict[str, Any], steps: int) -> float:
    """The same iterations written directly in PyTorch; seconds for ``steps`` iterations (build excluded)."""
    nets = build_networks(task, params, Seeds(0))
    gen, d_e, d_d, d_s = nets.generator, nets.discriminators["e"], nets.discriminators["d"], nets.discriminators["s"]
    for m in (gen, d_e, d_d, d_s):
        m.train()
    g_opt = torch.optim.Adam(gen.parameters(), lr=params["lr"], betas=(0.9, 0.999))
    d_opt = torch.optim.Adam(
        [*d_e.parameters(), *d_d.parameters(), *d_s.parameters()], lr=params["lr"], betas=(0.9, 0.999)
    )
    g_params = list(gen.parameters())
    xs, ys, xt = task.source.images, task.source.labels.float(), task.unlabeled["target"].images
    b = int(params["batch_size"])
    ae, ad, as_ = params["alpha_e"], params["alpha_d"], params["alpha_s"]
    start = time.perf_counter()
    order_s, order_t = torch.randperm(len(xs)), torch.randperm(len(xt))
    for step in range(steps):
        i_s, i_t = order_s[step * b : (step + 1) * b], order_t[step * b : (step + 1) * b]
        x_s, y_s, x_t = xs[i_s], ys[i_s], xt[i_t]
        logit, maps = gen.forward_maps(torch.cat([x_s, x_t]))
        detached = {k: v.detach() for k, v in maps.items()}
        real = y_s[:, None]
        d_loss = (
            _bce(d_e(detached), b)
            + _bce(d_d(detached), b)
            + _bce(d_s(torch.cat([real, torch.sigmoid(logit.detach())])), b)
        )
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        seg = F.binary_cross_entropy_with_logits(logit[:b, 0], y_s)
        adv = (
            ae * _bce(d_e(maps), b)
            + ad * _bce(d_d(maps), b)
            + as_ * _bce(d_s(torch.cat([real, torch.sigmoid(logit)])), b)
        )
        g_opt.zero_grad(set_to_none=True)
        (seg - adv).backward(inputs=g_params)
        g_opt.step()
    return time.perf_counter() - start


def _batches(task: AdaptationTask, params: dict[str, Any], steps: int) -> list[Batch]:
    xs, ys, xt = task.source.images, task.source.labels.float(), task.unlabeled["target"].images
    b = int(params["batch_size"])
    order_s, order_t = torch.randperm(len(xs)), torch.randperm(len(xt))
    return [
        Batch(xs[order_s[k * b : (k + 1) * b]], ys[order_s[k * b : (k + 1) * b]], xt[order_t[k * b : (k + 1) * b]])
        for k in range(steps)
    ]


def step_only(task: AdaptationTask, params: dict[str, Any], steps: int, kind: str = "adv") -> float:
    """A plugin step function (``adv``: ``adversarial_step``; ``g``: ``generator_step``; ``d``:
    ``discriminator_step``) on the hand-written loop's batches; seconds for ``steps`` steps (build excluded)."""
    nets = build_networks(task, params, Seeds(0))
    for m in nets.modules():
        m.train()
    optimizers = build_optimizers(nets, float(params["lr"]))
    start = time.perf_counter()
    for batch in _batches(task, params, steps):
        if kind == "adv":
            adversarial_step(nets, optimizers, batch, CPU)
        elif kind == "g":
            generator_step(nets, optimizers.generator, batch, CPU)
        else:
            assert optimizers.discriminators is not None
            discriminator_step(nets, optimizers.discriminators, batch, CPU)
    return time.perf_counter() - start


def through_harness(task: AdaptationTask, params: dict[str, Any], steps: int) -> float:
    """``MLAN.fit`` with one adversarial epoch of exactly ``steps`` iterations; seconds for the fit minus one network
    build timed just before it."""
    start = time.perf_counter()
    for m in build_networks(task, params, Seeds(0)).modules():
        prepare_model(m, CPU)
    build = time.perf_counter() - start
    start = time.perf_counter()
    MLAN({**params, "g_epochs": 0, "d_epochs": 0, "adv_epochs": 1}).fit(task, seeds=Seeds(0), device=CPU)
    return time.perf_counter() - start - build


def _row(name: str, values: list[float], base: float) -> list[str]:
    med = statistics.median(values)
    return [name, f"{med:.1f}", f"{min(values):.1f}", f"{max(values):.1f}", f"{med / base:.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = {**DEFAULTS, "discriminators": "sed", "batch_size": args.batch}
    task = make_task(args.steps * args.batch, args.size)
    variants: list[tuple[str, Callable[[AdaptationTask, dict[str, Any], int], float]]] = [
        ("hand-written loop", hand_written),
        ("dabench MLAN.fit", through_harness),
        ("dabench adversarial_step", step_only),
    ]
    for _, fn in variants:
        fn(task, params, 1)  # warm-up
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    for r in range(args.rounds):
        for name, fn in variants[r % 3 :] + variants[: r % 3]:
            times[name].append(fn(task, params, args.steps) / args.steps * 1000)
    g_only = [step_only(task, params, args.steps, "g") / args.steps * 1000 for _ in range(args.rounds)]
    d_only = [step_only(task, params, args.steps, "d") / args.steps * 1000 for _ in range(args.rounds)]
    base = statistics.median(times["hand-written loop"])
    rows = [_row(name, v, base) for name, v in times.items()]
    rows.append(_row("(G-only step, generator_step; not in the ratio)", g_only, base))
    rows.append(_row("(discriminator-stage step, discriminator_step; not in the ratio)", d_only, base))
    print(
        f"mlan sed iteration, ResNet-34 U-Net + De + Dd + Ds, {args.batch} source + {args.batch} target images of "
        f"{args.size}×{args.size}, {args.steps} iterations × {args.rounds} rounds, {torch.get_num_threads()} threads"
    )
    print(
        tabulate(rows, headers=["variant", "median ms/iter", "min", "max", "ratio vs hand-written"], tablefmt="github")
    )
    for name in ("dabench MLAN.fit", "dabench adversarial_step"):
        ratios = [h / b for h, b in zip(times[name], times["hand-written loop"], strict=True)]
        spread = f"median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}"
        print(f"{name} per-round ratio: {spread}")
    print(f"RESULT mlan_overhead {statistics.median(times['dabench MLAN.fit']) / base:.3f}")


if __name__ == "__main__":
    main()
