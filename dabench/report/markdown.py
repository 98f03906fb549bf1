"""Escaping user-supplied text for the markdown that dabench writes (leaderboards, analyses).

Names, labels, params values and titles come from records, plugins and the command line, so they may contain
anything. :func:`escape_inline` makes a string safe as inline text anywhere — a table cell, a heading, a list item —
for both markdown and the HTML that renderers let through: it keeps it on one line (line breaks and other control
characters cannot end a table row or start a new block), neutralises characters with a markdown meaning (``|`` cell
separators, backticks, ``*``, ``\\``, and a ``]`` that would close a link or image text) and HTML (``<``, ``>``,
``&`` become entities), and — for text that starts a line — escapes a leading character that could open a heading,
list item, setext underline, fence or thematic break. :func:`code_span` wraps text in an inline code span that no
backtick in it can close early (for text outside tables: a ``|`` in a code span still splits a table cell).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

REPLACEMENT = "\ufffd"
"""Shown in place of a control character that is not a line break or tab."""

_BREAKS = re.compile(r"\r\n|[\r\n\t\v\f\x1c-\x1e\x85\u2028\u2029]")
_ESCAPED = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
}
_LINK_CLOSE = re.compile(r"\](?=[(\[])")
"""``](`` or ``][``: where a bracket would close a link (or image) text; escaping it means no link can form."""
_BLOCK_START = re.compile(r"^(\s*)([#=+\-~_]|\d+(?=[.)]))")
"""A first character that could open a block: heading, list item, setext underline, fence or thematic break."""


def one_line(text: object) -> str:
    """``text`` as a string on one line: line breaks and tabs become spaces, other control characters ``�``."""
    flat = _BREAKS.sub(" ", str(text))
    return "".join(REPLACEMENT if unicodedata.category(ch) == "Cc" else ch for ch in flat)


def escape_inline(text: object, *, line_start: bool = False) -> str:
    """``text`` made safe as inline markdown and HTML (module docstring): one line, nothing it contains can split a
    table cell, form a link, image or code span, or be read as an HTML tag or entity. With ``line_start`` (text
    that begins a line) a leading character that could open a heading, list item or other block is escaped too;
    inside a table cell, a heading or after a list marker that is not needed (``-0.5`` stays ``-0.5``)."""
    escaped = _LINK_CLOSE.sub(r"\\]", "".join(_ESCAPED.get(ch, ch) for ch in one_line(text)))
    match = _BLOCK_START.match(escaped) if line_start else None
    if match is None:
        return escaped
    lead, first = match.group(1), match.group(2)
    if first[0].isdigit():  # "1. item" / "1) item": escape the delimiter after the number
        end = match.end()
        return f"{escaped[:end]}\\{escaped[end:]}"
    return f"{lead}\\{escaped[len(lead) :]}"


def code_span(text: object) -> str:
    """``text`` as one inline code span: on one line, fenced with more backticks than any run of backticks inside
    it (padded with a space when it starts or ends with a backtick), so it is shown literally and cannot break out.
    """
    flat = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or (flat.startswith(" ") and flat.strip()) else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then a rename), creating the folder; a
    file-system error is a :class:`~dabench.errors.SpecError` naming the path (analyses write their reports so)."""
    from dabench.errors import SpecError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        raise SpecError(f"cannot write {str(path)!r}: {exc.strerror or exc}.") from None
    return path
