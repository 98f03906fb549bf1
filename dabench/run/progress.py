"""How a run reports its progress without printing: a context-local reporter that the CLI sets (a live progress bar)
and training loops call once per epoch. With none set (the default: library use, tests, workers) reporting is a
no-op and costs nothing — not even a device sync, since loss tensors are turned into numbers only when someone
listens.

    with reporting(EpochLog()) as log:
        run(spec, registry)
    log.epochs  # [(1, 2, {"loss": 0.61}), (2, 2, {"loss": 0.34})]

Training loops use :class:`EpochProgress` (``progress.step(step, loss)`` each step; it reports the epoch's mean loss
at every epoch boundary) or call :func:`report_epoch` directly.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol


class EpochReporter(Protocol):
    """Receives one call per finished epoch: ``epoch`` counts from 1 up to ``epochs``; ``values`` are numbers."""

    def epoch(self, epoch: int, epochs: int, values: Mapping[str, float]) -> None: ...


_REPORTER: ContextVar[EpochReporter | None] = ContextVar("dabench_epoch_reporter", default=None)


def active() -> bool:
    """Whether a reporter listens in this context (loops may skip bookkeeping when not)."""
    return _REPORTER.get() is not None


def _number(value: Any) -> float:
    """A plain float from a number or a one-element tensor (this syncs with the device)."""
    item = getattr(value, "item", None)
    return float(item() if callable(item) else value)


def report_epoch(epoch: int, epochs: int, **values: Any) -> None:
    """Tell the current reporter, if any, that ``epoch`` of ``epochs`` finished, with e.g. ``loss=...`` (numbers or
    0-d tensors, converted only when a reporter is set). A reporter's failure never fails the run."""
    reporter = _REPORTER.get()
    if reporter is None:
        return
    numbers = {name: _number(v) for name, v in values.items()}
    with contextlib.suppress(Exception):  # a display problem must not lose a training run
        reporter.epoch(epoch, epochs, numbers)


@contextlib.contextmanager
def reporting(reporter: EpochReporter | None) -> Iterator[Any]:
    """Make ``reporter`` the current one inside the block (restored after); yields it."""
    token = _REPORTER.set(reporter)
    try:
        yield reporter
    finally:
        _REPORTER.reset(token)


@dataclass
class EpochLog:
    """A reporter that keeps every call (tests, programmatic use)."""

    epochs: list[tuple[int, int, dict[str, float]]] = field(default_factory=list)

    def epoch(self, epoch: int, epochs: int, values: Mapping[str, float]) -> None:
        self.epochs.append((epoch, epochs, dict(values)))


class EpochProgress:
    """Per-step bookkeeping for a loop of ``total`` steps in ``epochs`` epochs: ``step(step, loss)`` accumulates the
    loss (on its device, no sync) while a reporter listens and reports the epoch's mean loss at each boundary."""

    def __init__(self, total: int, epochs: int) -> None:
        self.total, self.epochs = int(total), max(1, int(epochs))
        self.per_epoch = max(1, math.ceil(self.total / self.epochs))
        self._sum: Any = None
        self._count = 0

    def step(self, step: int, loss: Any) -> None:
        """Record the 0-based ``step``'s loss; at an epoch's last step, report it."""
        if _REPORTER.get() is None:
            return
        value = loss.detach() if hasattr(loss, "detach") else loss
        self._sum = value if self._sum is None else self._sum + value
        self._count += 1
        done = step + 1
        if done % self.per_epoch == 0 or done == self.total:
            epoch = min(self.epochs, math.ceil(done / self.per_epoch))
            mean = self._sum / self._count
            self._sum, self._count = None, 0
            report_epoch(epoch, self.epochs, loss=mean)
