"""Live progress on stderr (rich) and the thread flag: what ``dabench run`` and ``dabench sweep`` show while they
work.

A sweep shows one bar (done / running / failed / waiting counts and an ETA) and, under it, the epochs of the run in
progress in this process (epoch k of n, mean loss); a single run shows its epochs. The display is on only when
stderr is a terminal and ``--quiet`` is not given; otherwise nothing is drawn and stdout carries exactly the plain
lines it always did. Runs report through :mod:`dabench.run.progress` (the runner never prints); per-run lines
printed to a terminal stdout while the bar is live appear above it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress

    from dabench.run.sweep import Progress
    from dabench.run.threads import ThreadChoice


def positive_threads(text: str) -> int:
    """argparse type of ``--threads``: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a thread count; give a whole number >= 1, e.g. 1")
    return value


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch threads for the runs of this process (default: dabench's rule; see
    :mod:`dabench.run.threads`)."""
    parser.add_argument(
        "--threads",
        type=positive_threads,
        metavar="N",
        help="torch threads per run (default: the CPUs free of other load; env DABENCH_THREADS)",
    )


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    """``--quiet``: no live progress display."""
    parser.add_argument("--quiet", action="store_true", help="no live progress on stderr")


def apply_threads(args: argparse.Namespace) -> ThreadChoice | None:
    """Apply ``--threads`` (when given) to this process before any run; the runner applies the default rule
    otherwise."""
    threads = getattr(args, "threads", None)
    if threads is None:
        return None
    from dabench.run.threads import ensure_threads

    return ensure_threads(int(threads))


def live(args: argparse.Namespace) -> bool:
    """Whether to draw: stderr is a terminal and ``--quiet`` was not given."""
    if getattr(args, "quiet", False):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(callable(isatty) and isatty())


def _bar(transient: bool) -> RichProgress:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    stdout_isatty = getattr(sys.stdout, "isatty", None)
    same_terminal = bool(callable(stdout_isatty) and stdout_isatty())
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr, force_terminal=True),
        transient=transient,
        redirect_stdout=same_terminal,  # stdout lines go above the bar only when they share the terminal
        redirect_stderr=False,
    )


class EpochBar:
    """An epoch reporter drawing one line: ``label`` epoch k/n, mean loss."""

    def __init__(self, bar: RichProgress, label: str = "training") -> None:
        self.bar, self.label = bar, label
        self.task = bar.add_task(label, total=None, info="starting", visible=True)

    def epoch(self, epoch: int, epochs: int, values: Mapping[str, float]) -> None:
        info = "  ".join(f"{name} {value:.4f}" for name, value in values.items())
        line = f"epoch {epoch}/{epochs}  {info}".rstrip()
        self.bar.update(self.task, total=epochs, completed=epoch, description=self.label, info=line)

    def finished(self, label: str) -> None:
        """The run ended: keep its last epoch on the line, relabelled (e.g. "last run"), until the next reports."""
        self.bar.update(self.task, description=label)


@contextlib.contextmanager
def run_progress(args: argparse.Namespace) -> Iterator[None]:
    """Around one run: its epochs on stderr while it trains (a transient line), when :func:`live`."""
    if not live(args):
        yield
        return
    from dabench.run.progress import reporting

    with _bar(transient=True) as bar, reporting(EpochBar(bar, "training")):
        yield


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class SweepBar:
    """The sweep's bar: counts of done (ran or cached), running, failed and waiting (claimed elsewhere) specs, and
    the ETA the sweep estimates. ``parallelism``: how many specs run at once (the executor's)."""

    def __init__(self, bar: RichProgress, total: int, parallelism: int = 1) -> None:
        self.bar, self.total, self.parallelism = bar, total, max(1, parallelism)
        self.status: dict[int, str] = {}
        self.task = bar.add_task("sweep", total=total, info="")
        self.epochs = EpochBar(bar, "current run")
        self.eta_s = 0.0
        self.refresh()

    def counts(self) -> dict[str, int]:
        statuses = list(self.status.values())
        done = sum(s in ("ok", "cached") for s in statuses)
        failed = statuses.count("failed")
        waiting = statuses.count("busy")
        running = min(self.parallelism, self.total - done - failed - waiting)
        return {"done": done, "running": max(0, running), "failed": failed, "waiting": waiting}

    def refresh(self) -> None:
        c = self.counts()
        info = f"done {c['done']}  running {c['running']}  failed {c['failed']}"
        if c["waiting"]:
            info += f"  waiting {c['waiting']}"
        if c["running"] and self.eta_s > 0:
            info += f"  ETA {_duration(self.eta_s)}"
        self.bar.update(self.task, completed=c["done"] + c["failed"], info=info)

    def __call__(self, p: Progress) -> None:
        """Take one report of the sweep (its ``on_progress``)."""
        self.status[p.index] = p.outcome.status
        self.eta_s = p.eta_s
        self.refresh()
        if p.outcome.status in ("ok", "failed"):
            self.epochs.finished("last run")

    def epoch(self, epoch: int, epochs: int, values: Mapping[str, float]) -> None:
        self.epochs.epoch(epoch, epochs, values)


@contextlib.contextmanager
def sweep_progress(
    args: argparse.Namespace, total: int, report: Callable[[Progress], None], parallelism: int = 1
) -> Iterator[Callable[[Progress], None]]:
    """Around a sweep: yields the callback for each progress report — ``report`` (the plain per-run lines), plus
    the live bar when :func:`live`. Runs in this process show their epochs under the bar."""
    if not live(args):
        yield report
        return
    from dabench.run.progress import reporting

    with _bar(transient=False) as bar:
        sweep_bar = SweepBar(bar, total, parallelism)

        def both(p: Progress) -> None:
            sweep_bar(p)
            report(p)

        with reporting(sweep_bar):
            yield both
