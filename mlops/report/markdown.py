"""Markdown building blocks, and the escaping every user-typed value goes through before it reaches them.

Everything a user could have typed (model names, reasons, overrides, error messages, issue titles) goes
through `escape` or `code`, so a hostile value cannot open HTML, break a table, or mention (and so notify)
anyone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from tabulate import tabulate

SHORT_LIMIT = 120  # names, ids, override values
LONG_LIMIT = 500  # reasons and error messages: enough to act on, short enough to keep a table readable
_UNSAFE_URL = re.compile(r"[\s<>()\[\]\"'`\\|]")
_BACKSLASH_ESCAPED = str.maketrans({c: "\\" + c for c in "\\`*[]|~"})
_HTML_ESCAPED = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(value: Any, limit: int = SHORT_LIMIT) -> str:
    """`value` as inert Markdown text on one line: no HTML, no links, no table breaks, no @-mentions."""
    text = _truncate(_clean(str(value)), limit)
    text = text.translate(_BACKSLASH_ESCAPED).translate(_HTML_ESCAPED)
    # A zero-width joiner after `@` keeps the text readable but stops GitHub from notifying the user or team.
    return text.replace("@", "@\u200d")


def code(value: Any, limit: int = SHORT_LIMIT) -> str:
    """`value` as an inline code span: nothing inside one is Markdown, HTML or a mention."""
    return "`" + _truncate(_clean(str(value)).replace("`", "'"), limit) + "`"


def _clean(text: str) -> str:
    """Drop control and format characters (bidi overrides, zero-width tricks); fold whitespace to spaces."""
    kept = (" " if ch.isspace() else ch for ch in text if ch.isspace() or not _is_control(ch))
    return " ".join("".join(kept).split())


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_url(url: Any) -> str | None:
    """`url` when it is a plain http(s) URL that cannot break out of a Markdown link, else None."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    return None if _UNSAFE_URL.search(url) or any(_is_control(ch) for ch in url) else url


def item(label: str, value: str) -> str:
    return f"- {label}: {value}"


def section(title: str, lines: Iterable[str]) -> str:
    return "\n".join([f"## {title}", "", *lines])


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """A GitHub table of already-escaped cells (numbers are text: tabulate must not reformat `0.8700`)."""
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)
