"""Committed leaderboards and analyses regenerate byte-for-byte from their committed records."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from dabench.cli import main

REPO = Path(__file__).resolve().parents[2]
BOARDS = sorted((REPO / "leaderboards").glob("*.md")) if (REPO / "leaderboards").is_dir() else []


def regenerate_command(board: Path) -> list[str]:
    match = re.search(r"Regenerate with: `dabench ([^`]+)`", board.read_text())
    assert match, f"{board.name} does not say how to regenerate it"
    return shlex.split(match.group(1))


@pytest.mark.parametrize("board", BOARDS, ids=lambda p: p.name)
def test_leaderboard_regenerates_identically(board: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = regenerate_command(board)
    out = tmp_path / "regenerated.md"
    committed_out = argv[argv.index("--out") + 1]
    argv[argv.index("--out") + 1] = str(out)
    monkeypatch.chdir(REPO)
    assert main(argv) == 0
    text = out.read_text().replace(shlex.quote(str(out)), committed_out)
    assert text == board.read_text(), f"{board.name} differs from what its records give; regenerate it"


ANALYSES = sorted(p.parent for p in (REPO / "leaderboards").glob("*/analysis/analysis.md"))


@pytest.mark.parametrize("folder", ANALYSES, ids=lambda p: p.parent.name)
def test_analysis_regenerates_identically(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["analyze", "--store", str(folder.parent), "--out", str(tmp_path)]) == 0
    for name in ("analysis.md", "analysis.json"):
        assert (tmp_path / name).read_text() == (folder / name).read_text(), f"{folder}/{name} is stale"
