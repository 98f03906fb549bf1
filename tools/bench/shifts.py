"""Benchmark: batched dabench shifts vs per-image reference implementations, and vs DANN training throughput.

Runs noise, box blur (k = 3 and k = 9) and Reinhard on N images of 96×96×3 with dabench (batched tensors) and with
per-image references (numpy noise, PIL ``ImageFilter.BoxBlur``, scikit-image ``rgb2lab``/``lab2rgb`` Reinhard),
interleaved in one run (best of ``--repeats``). Then it compares the shift throughput on 28×28×3 images with the
training throughput of a DANN LeNet (Ganin & Lempitsky 2015, MNIST architecture) on 128 + 128 images per SGD step.

Usage: ``python tools/bench/shifts.py [--n 10000] [--repeats 2] [--threads 2]``. The default uses both cores' torch
threads (measured on an idle machine, 2026-11-23: composite 4.95×). On a machine loaded by other processes, torch's
2-thread OpenMP pool can collapse (noise on 300 images: 0.07 s with 1 thread, 5.4 s with 2): use ``--threads 1``
there. The last lines are
``RESULT shifts_speedup <x>`` (composite per-image time / dabench time) and ``RESULT blur_k9_over_k3 <x>``.
"""

from __future__ import annotations

import argparse
import ctypes
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, ImageFilter
from skimage import color
from tabulate import tabulate
from threadpoolctl import threadpool_limits

from dabench.builtins.shifts.blur import box_blur
from dabench.builtins.shifts.noise import uniform_noise
from dabench.builtins.shifts.reinhard import LabStats, lab_stats, reinhard
from dabench.shiftrandom import ShiftRandom

NOISE = 0.5


def keep_freed_memory() -> None:
    """DESIGN §7: keep freed blocks in the process (no mmap for large blocks, no trimming) on glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-4, 0)  # M_MMAP_MAX
    libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD


def reference_noise(images: np.ndarray, rng: np.random.Generator) -> None:
    for image in images:
        np.clip(image + NOISE * rng.random(image.shape, dtype=np.float32), 0.0, 1.0)


def reference_box(images: np.ndarray, k: int) -> None:
    for image in images:
        pil = Image.fromarray((image * 255.0).round().astype(np.uint8))
        np.asarray(pil.filter(ImageFilter.BoxBlur(k // 2)), dtype=np.float32) / 255.0


def reference_reinhard(images: np.ndarray, target: LabStats) -> None:
    mean_t, std_t = np.array(target.mean), np.array(target.std)
    for image in images:
        values = color.rgb2lab(image)
        flat = values.reshape(-1, 3)
        color.lab2rgb((values - flat.mean(0)) * (std_t / flat.std(0)) + mean_t)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return -grad


def dann_images_per_second(seconds: float, channels: int = 3) -> float:
    """Images/s of DANN SGD steps (LeNet: conv32-5, pool, conv48-5, pool, fc100, fc100, fc10; domain fc100 → fc1)."""
    nn = torch.nn
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(channels, 32, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 48, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    label = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
    domain = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 1))
    params = [*features.parameters(), *label.parameters(), *domain.parameters()]
    optimiser = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    source, target = torch.rand(128, channels, 28, 28), torch.rand(128, channels, 28, 28)
    labels = torch.randint(0, 10, (128,))
    domains = torch.cat([torch.zeros(128), torch.ones(128)])

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        feats = features(torch.cat([source, target]))
        loss = nn.functional.cross_entropy(label(feats[:128]), labels)
        loss = loss + nn.functional.binary_cross_entropy_with_logits(domain(_Reverse.apply(feats))[:, 0], domains)
        loss.backward()
        optimiser.step()

    for _ in range(3):
        step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    return 256 * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (see module doc)")
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.n, 3, 96, 96, generator=generator)
    nhwc = images.permute(0, 2, 3, 1).contiguous().numpy()
    target = lab_stats(0.25 + 0.5 * torch.rand(3, 96, 96, generator=generator))
    random = ShiftRandom.for_range(0, 0, args.n)
    ours: dict[str, Callable[[], object]] = {
        "noise": lambda: uniform_noise(images, NOISE, random),
        "blur k=3": lambda: box_blur(images, 3, random),
        "blur k=9": lambda: box_blur(images, 9, random),
        "reinhard": lambda: reinhard(images, 1.0, random, target),
    }
    rng = np.random.default_rng(0)
    refs: dict[str, Callable[[], object]] = {
        "noise": lambda: reference_noise(nhwc, rng),
        "blur k=3": lambda: reference_box(nhwc, 3),
        "blur k=9": lambda: reference_box(nhwc, 9),
        "reinhard": lambda: reference_reinhard(nhwc, target),
    }
    best = {name: [float("inf"), float("inf")] for name in ours}
    for _ in range(args.repeats):
        for name in ours:
            best[name][0] = min(best[name][0], timed(ours[name]))
            with threadpool_limits(limits=1):
                best[name][1] = min(best[name][1], timed(refs[name]))
    rows = [[name, d, r, r / d, args.n / d, args.n / r] for name, (d, r) in best.items()]
    total_d, total_r = sum(b[0] for b in best.values()), sum(b[1] for b in best.values())
    rows.append(["composite", total_d, total_r, total_r / total_d, args.n / total_d, args.n / total_r])
    headers = ["96×96×3 shift", "dabench s", "per-image s", "speedup", "dabench img/s", "per-image img/s"]
    print(f"{args.n} images, torch threads {args.threads}, best of {args.repeats}")
    print(tabulate(rows, headers=headers, tablefmt="github", floatfmt=".3g"))

    small = torch.rand(args.n, 3, 28, 28, generator=generator)
    small_random = ShiftRandom.for_range(0, 0, args.n)

    def pipeline() -> None:
        for shift in (uniform_noise, box_blur):
            shift(small, 3 if shift is box_blur else NOISE, small_random)
        reinhard(small, 1.0, small_random, target)

    shift_rate = args.n / min(timed(pipeline) for _ in range(args.repeats))
    train_rate = dann_images_per_second(3.0)
    print(
        tabulate(
            [
                ["shifts noise + blur k=3 + reinhard, 28×28×3", shift_rate],
                ["DANN LeNet SGD step, 128 + 128 of 28×28×3", train_rate],
                ["ratio", shift_rate / train_rate],
            ],
            headers=["throughput", "images/s"],
            tablefmt="github",
            floatfmt=".4g",
        )
    )
    print(f"RESULT shift_over_training_throughput {shift_rate / train_rate:.2f}")
    print(f"RESULT shifts_speedup {total_r / total_d:.2f}")
    print(f"RESULT blur_k9_over_k3 {best['blur k=9'][0] / best['blur k=3'][0]:.2f}")


if __name__ == "__main__":
    main()
