"""'Did you mean' suggestions for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str], *, list_choices: bool = True) -> str:
    """Return ' (did you mean X?)' for the closest choice, or else (with `list_choices`) the valid ones."""
    options = sorted(choices)
    close = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (valid: {', '.join(options)})" if list_choices and 0 < len(options) <= 25 else ""
