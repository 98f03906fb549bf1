from __future__ import annotations

import os
from pathlib import Path

import pytest

from dabench.errors import StoreError
from dabench.store import ResultStore


def test_put_get_and_completed(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "s")
    store.put({"key": "ab" * 32, "status": "ok", "x": 1})
    store.put({"key": "cd" * 32, "status": "failed", "error": "boom"})
    assert store.get("ab" * 32)["x"] == 1
    assert store.completed("cd" * 32) is None and store.get("cd" * 32)["error"] == "boom"
    assert [r["key"] for r in store.records()] == ["ab" * 32, "cd" * 32]
    assert not list(store.path("ab" * 32).parent.glob("*.tmp"))


def test_interrupted_write_leaves_no_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(tmp_path)

    def explode(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", explode)
    with pytest.raises(KeyboardInterrupt):
        store.put({"key": "ef" * 32, "status": "ok"})
    assert store.get("ef" * 32) is None
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_store(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    with pytest.raises(StoreError, match="--store"):
        ResultStore(tmp_path / "x").ensure_writable()


def test_store_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(StoreError, match="cannot write"):
        ResultStore(blocker / "store").ensure_writable()


def test_corrupt_record_is_reported(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.path("aa" * 32)
    path.parent.mkdir(parents=True)
    path.write_text("{truncated")
    with pytest.raises(StoreError, match="delete it"):
        store.get("aa" * 32)
