"""The one reader of every scalar a user writes: request bodies, Issue Form answers, `/mlops retrain k=v`
overrides and MLOPS_* settings all read `300`, `1e-3` or `true` the same way.

The rules are YAML 1.2's core schema, not PyYAML's YAML 1.1, which silently changes values a person did not
mean to change (`010` is 8 there, `1:30` is 90, `yes` is True, and `1e-3` is text):

    null     null, Null, NULL, ~, or nothing at all
    bool     true, True, TRUE, false, False, FALSE        (yes/no/on/off are text)
    int      123, -5, +7 and 010 (decimal: a leading zero never means octal), 0o17, 0x1F
    float    0.5, .5, 1., 1e-3, -2.5E+4, .inf, -.inf, .nan
    text     everything else: 1_000, 1:30, 0b101, yes

A number is never built from more than MAX_NUMBER_CHARS characters (Python takes quadratic time to read a
long decimal integer, and refuses one of more than 4,300 digits), and a float too large for a double is
refused rather than read as infinity. Both raise ScalarError, which each caller turns into a problem line
naming where the value was written.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_NUMBER_CHARS = 50  # 4294967295 is 10 characters and 0.30000000000000004 is 19: room to spare
QUOTE_LIMIT = 80  # the most of a user's value a problem line repeats

_NULL = re.compile(r"null|Null|NULL|~|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT = {
    **{f"{sign}.{inf}": float(f"{sign}inf") for sign in ("", "+", "-") for inf in ("inf", "Inf", "INF")},
    **{f".{nan}": math.nan for nan in ("nan", "NaN", "NAN")},
}
# Text that YAML 1.1 (or a person) would take for a number or a boolean: a problem line says how to write it.
# Each pattern is matched in linear time, so a hostile 64 KiB value costs nothing.
_HINTS = (
    (re.compile(r"(?=.*_)[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9_]+)?"), "write it without underscores"),
    (re.compile(r"[-+]?[0-9]+(?::[0-9]{1,2})+(?:\.[0-9]*)?"), "base-60 numbers (1:30) are text; write one number"),
    (re.compile(r"[-+]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?"), "write it without thousands separators"),
    (re.compile(r"[-+]?0b[01_]+"), "binary numbers are text; write it in decimal"),
    (re.compile(r"[-+]0[ox][0-9a-fA-F]+"), "a sign is allowed only on a decimal number"),
)
_YES_NO = re.compile(r"(?i:yes|no|on|off|y|n)")


class ScalarError(ValueError):
    """A value that is written as a number but cannot be read as one (too long, too large, or not of its tag)."""


def kind_of(text: str) -> str:
    """The YAML 1.2 core type of a plain (unquoted) scalar: null, bool, int, float or str."""
    if _NULL.fullmatch(text):
        return "null"
    if text in _BOOL:
        return "bool"
    if _INT.fullmatch(text):
        return "int"
    if text in _SPECIAL_FLOAT or _FLOAT.fullmatch(text):
        return "float"
    return "str"


def read_scalar(text: str) -> Any:
    """`text` as YAML 1.2 reads it unquoted: '300' -> 300, '1e-3' -> 0.001, 'true' -> True, 'yes' -> 'yes'."""
    return construct(kind_of(text), text)


def construct(kind: str, text: str) -> Any:
    """The value of `text` as a `kind` (null, bool, int, float, str); ScalarError when it is not one."""
    if kind == "str":
        return text
    if kind == "null" and _NULL.fullmatch(text):
        return None
    if kind == "bool" and text in _BOOL:
        return _BOOL[text]
    if kind == "int" and _INT.fullmatch(text):
        return _integer(_short_enough(text))
    if kind == "float" and (text in _SPECIAL_FLOAT or _FLOAT.fullmatch(text)):
        return _SPECIAL_FLOAT[text] if text in _SPECIAL_FLOAT else _finite(_short_enough(text))
    raise ScalarError(f"{shown(text)} cannot be read as !!{kind}; remove the tag or write a {kind} value")


def _short_enough(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise ScalarError(
            f"{shown(text)} is a number of {len(text)} characters; write a number in at most {MAX_NUMBER_CHARS}"
        )
    return text


def _integer(text: str) -> int:
    if text[:2] in ("0o", "0x"):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)  # base 10 also for 010: a leading zero never makes an octal number


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ScalarError(f"{shown(text)} is too large for a number (the largest is about 1.8e308)")
    return value


def hint(value: Any, *, boolean: bool = False) -> str:
    """For text that was meant as a number (or, with `boolean`, as true/false) but is not read as one:
    '; <how to write it>', else ''."""
    if not isinstance(value, str):
        return ""
    if boolean:
        return "; write true or false (yes, no, on and off are text)" if _YES_NO.fullmatch(value) else ""
    return next((f"; {advice}" for pattern, advice in _HINTS if pattern.fullmatch(value)), "")


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` cut to `limit` characters, '...' marking the cut: what a problem line repeats of a user's text."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any) -> str:
    """A user's value as a problem line quotes it: text in quotes, anything else as Python writes it; short."""
    return repr(clip(value)) if isinstance(value, str) else clip(repr(value))
