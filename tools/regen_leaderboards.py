"""Regenerate every committed leaderboard and study analysis from its committed records.

Each ``leaderboards/<name>.md`` states the exact command that produced it; this script runs those commands, plus
``dabench predictors evaluate`` for every ``leaderboards/predictors/<name>/`` evaluation and ``dabench analyze`` for
every ``leaderboards/<name>/analysis/`` folder (every analysis that applies to that store's
records), then refreshes the generated tables ``leaderboards/NOTES.md`` quotes (the blocks between
``<!-- generated from PATH -->`` and ``<!-- end generated -->``, PATH relative to ``leaderboards/``; the rest of the
page is hand-written and left as it is). ``tests/e2e/test_published.py`` fails when a
committed file differs from what its records give at its declared precision (markdown at its displayed digits,
``analysis.json`` at ``dabench.stats.precision.SIGNIFICANT_DIGITS`` significant digits): regenerating on another CPU
changes digits beyond that, and the test does not ask for them.

    python tools/regen_leaderboards.py
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from dabench.cli import main as dabench

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    status = 0
    for board in sorted((REPO / "leaderboards" / "predictors").glob("*/leaderboard.md")):
        match = re.search(r"Regenerate with: `dabench ([^`]+)`", board.read_text())
        if match is not None:
            status |= dabench(shlex.split(match.group(1)))
    for board in sorted((REPO / "leaderboards").glob("*.md")):
        match = re.search(r"Regenerate with: `dabench ([^`]+)`", board.read_text())
        if match is None:
            print(f"skip {board.name}: no regenerate command", file=sys.stderr)
            continue
        status |= dabench(shlex.split(match.group(1)))
    for folder in sorted((REPO / "leaderboards").glob("*/analysis")):
        status |= dabench(
            ["analyze", "--store", str(folder.parent.relative_to(REPO)), "--out", str(folder.relative_to(REPO))]
        )
    refresh_notes(REPO / "leaderboards" / "NOTES.md")
    return status


def refresh_notes(notes: Path) -> None:
    """Rewrite the generated blocks of ``notes`` from the files they quote."""
    from dabench_dann_study.paper import refresh_includes

    text = notes.read_text()
    fresh = refresh_includes(text, lambda path: (notes.parent / path).read_text())
    if fresh != text:
        notes.write_text(fresh)
        print(f"refreshed the generated tables of {notes.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
