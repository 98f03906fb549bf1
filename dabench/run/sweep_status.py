"""Where a sweep stands (``dabench sweep FILE --status``), read from the store and its claims without running
anything, so it works whatever executor runs the sweep (SLURM users run it on the login node).

Each spec is in one state:

- ``running``: a live claim is held on its key (owner host and pid, heartbeat age);
- ``failed``: no live claim and a failed record (its failure kind and error); the next sweep retries it;
- ``done``: a completed record (``status = "ok"``);
- ``pending``: nothing yet — also when its record is unreadable or its claim is stale (the owner died or stopped
  beating; the next sweep takes it over), which the detail says.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from dabench.run.claims import ClaimInfo, ClaimTable
from dabench.run.store import ResultStore
from dabench.run.sweepfile import Sweep
from dabench.runspec import RunSpec

STATES = ("running", "failed", "pending", "done")


@dataclass(frozen=True)
class SpecState:
    """One spec's ``state`` (one of :data:`STATES`) and what there is to say about it (``detail``)."""

    spec: RunSpec
    state: str
    detail: str = ""


@dataclass(frozen=True)
class SweepStatus:
    """The states of a sweep's specs, in sweep order."""

    name: str
    specs: tuple[SpecState, ...]

    def counts(self) -> dict[str, int]:
        """Specs per state, every state present."""
        found = Counter(s.state for s in self.specs)
        return {state: found[state] for state in STATES}

    def summary(self) -> str:
        counts = self.counts()
        parts = ", ".join(f"{counts[state]} {state}" for state in ("done", "running", "pending", "failed"))
        return f"sweep {self.name}: {len(self.specs)} specs — {parts}"

    def table(self) -> str:
        """A table of the specs, grouped by state (running, failed, pending, done), then in sweep order."""
        from tabulate import tabulate

        varying = _varying_params([s.spec for s in self.specs])
        rows = []
        for state in STATES:
            for item in self.specs:
                if item.state != state:
                    continue
                spec = item.spec
                params = " ".join(f"{k}={spec.params[k]}" for k in varying if k in spec.params)
                label = f"{spec.method.name} {spec.dataset.label()} {spec.shift_label()} seed={spec.seed}"
                rows.append([state, spec.key()[:12], f"{label} {params}".strip(), item.detail])
        return tabulate(rows, headers=["state", "key", "spec", "detail"], tablefmt="github", disable_numparse=True)


def _varying_params(specs: Sequence[RunSpec]) -> list[str]:
    """The parameter names whose value differs between the specs (the grid's parameter axes)."""
    names = sorted({k for spec in specs for k in spec.params})
    return [k for k in names if len({repr(spec.params.get(k)) for spec in specs}) > 1]


def _owner(info: ClaimInfo, now: float) -> str:
    return f"host {info.host}, pid {info.pid}, heartbeat {max(0.0, now - info.heartbeat):.0f} s ago"


def spec_state(spec: RunSpec, store: ResultStore, claims: ClaimTable, now: float | None = None) -> SpecState:
    """The state of one spec (module docstring)."""
    now = time.time() if now is None else now
    key = spec.key()
    claim = claims.holder(key)
    if claim is not None and not claims.is_stale(claim):
        return SpecState(spec, "running", _owner(claim, now))
    found = store.lookup(key)
    record = found.record
    if record is not None and record.get("status") == "ok":
        return SpecState(spec, "done")
    if record is not None and record.get("status") == "failed":
        error = " ".join(str(record.get("error") or "").split())
        return SpecState(spec, "failed", f"{record.get('failure', 'error')}: {error[:160]}")
    if claim is not None:
        return SpecState(spec, "pending", f"stale claim ({_owner(claim, now)}): its owner is gone; taken over next")
    if found.problem is not None:
        return SpecState(spec, "pending", f"record unreadable ({found.problem}); re-run next")
    return SpecState(spec, "pending")


def sweep_status(sweep: Sweep, store: ResultStore, claims: ClaimTable | None = None) -> SweepStatus:
    """Every spec's state, read from ``store`` and its claims (nothing is run, moved or written)."""
    claims = claims if claims is not None else ClaimTable(store.root)
    now = time.time()
    return SweepStatus(sweep.name, tuple(spec_state(spec, store, claims, now) for spec in sweep.specs))
