"""Escaping user-supplied text: one line, no table-cell split, no HTML, no link, no block start, no code breakout."""

from __future__ import annotations

import re

import pytest

from dabench.report.markdown import code_span, escape_inline, one_line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a|b", "a\\|b"),
        ("x\r| fake | row |", "x \\| fake \\| row \\|"),
        ("line1\nline2\r\nline3\u2028end", "line1 line2 line3 end"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("&lt;", "&amp;lt;"),
        ("a`b", "a\\`b"),
        ("\\|", "\\\\\\|"),  # a backslash cannot un-escape the pipe after it
        ("[x](javascript:alert(1))", "[x\\](javascript:alert(1))"),
        ("reinhard[reference=lab1#0]", "reinhard[reference=lab1#0]"),  # plain brackets stay readable
        ("bell\x07", "bell\ufffd"),
        ("source_only", "source_only"),
        ("-0.57", "-0.57"),
    ],
)
def test_escape_inline(text: str, expected: str) -> None:
    assert escape_inline(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("# H", "\\# H"), ("- item", "\\- item"), ("1. item", "1\\. item"), ("===", "\\==="), ("plain", "plain")],
)
def test_escape_at_line_start(text: str, expected: str) -> None:
    assert escape_inline(text, line_start=True) == expected


def test_code_span_cannot_be_closed_from_inside() -> None:
    assert code_span("dabench leaderboard --store s") == "`dabench leaderboard --store s`"
    span = code_span("a `b` ``c``\nd")
    fence = re.match(r"`+", span).group(0)
    assert len(fence) == 3 and span.endswith(fence) and fence not in span[3:-3] and "\n" not in span
    assert code_span("`x`") == "`` `x` ``"
    assert one_line("a\tb\x00c") == "a b\ufffdc"
