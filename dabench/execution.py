"""Run a spec through the store: cache hits are skipped, results and failures are recorded atomically.

A user error (:class:`~dabench.errors.DabenchError`: bad input, missing data) in a single run is raised and nothing
is stored; inside a sweep (``record_user_errors=True``) it is recorded as a failed run so the sweep goes on.
Any other exception is a failed run, stored with its error and traceback. Interrupts propagate and store nothing.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dabench.errors import DabenchError
from dabench.registry import Registry
from dabench.specs import RunSpec
from dabench.store import ResultStore


@dataclass(frozen=True)
class Outcome:
    """``status``: ``cached`` (skipped, a completed record exists), ``ok`` or ``failed``."""

    status: str
    record: dict[str, Any]


def failed_record(spec: RunSpec, exc: BaseException) -> dict[str, Any]:
    import datetime as dt

    return {
        "key": spec.key(),
        "status": "failed",
        "spec": spec.canonical(),
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def execute(
    spec: RunSpec,
    registry: Registry,
    store: ResultStore,
    *,
    data_root: Path | None = None,
    device: str = "cpu",
    force: bool = False,
    record_user_errors: bool = False,
) -> Outcome:
    """Run ``spec`` unless a completed record exists (or ``force``); store and return the outcome."""
    from dabench.runner import run

    key = spec.key()
    if not force:
        cached = store.completed(key)
        if cached is not None:
            return Outcome("cached", cached)
    try:
        record = run(spec, registry, data_root=data_root, device=device).to_record()
    except DabenchError as exc:
        if not record_user_errors:
            raise
        record = failed_record(spec, exc)
    except Exception as exc:  # noqa: BLE001 - a method's crash is a result to record, not a reason to stop
        record = failed_record(spec, exc)
    store.put(record)
    return Outcome(record["status"], record)
