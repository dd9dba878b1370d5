"""Wording shared by every config check, so a YAML author reads one voice everywhere.

Used by the model's meta block (model.py), gainsight.yml (connections.py) and the online
validation against Gainsight's describe (sync/online.py).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema.exceptions import ValidationError

#: JSON Schema type names as a YAML author says them.
TYPE_NAMES = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (case-insensitive), or None when none is close."""
    folded = {c.casefold(): c for c in choices}
    hits = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[hits[0]] if hits else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for a close choice (case-insensitive), else ``""``."""
    hit = closest(word, choices)
    return f"; did you mean {hit!r}?" if hit is not None else ""


def show(value: Any) -> str:
    """Show a YAML value the way the user wrote it (null/true, not None/True)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value)


def describe_value(value: Any) -> str:
    """Say what a YAML value is, with the value (``the string 'x'``, ``a list``)."""
    if value is None or isinstance(value, bool):
        return show(value)
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__} ({value!r})"


def describe_redacted(value: Any) -> str:
    """Say what kind of value it is, never the value (it may be an access key)."""
    if value is None or isinstance(value, bool):
        return show(value)
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return "a value of another type"


def unknown_key(key: str, allowed: Iterable[str]) -> str:
    """``unknown key 'x'; did you mean 'y'? (allowed: a, b)``."""
    allowed = sorted(allowed)
    return f"unknown key {key!r}{did_you_mean(key, allowed)} (allowed: {', '.join(allowed)})"


def missing_key(error: ValidationError) -> str:
    """The message of a jsonschema ``required`` error."""
    found = re.match(r"'(.*)' is a required property", error.message)
    return f"missing required key {found.group(1) if found else error.message!r}"


def wrong_type(error: ValidationError, *, secret: bool = False) -> str:
    """The message of a jsonschema ``type`` error; ``secret`` hides the value."""
    types = error.validator_value
    types = [types] if isinstance(types, str) else list(types)
    expected = " or ".join(TYPE_NAMES.get(t, t) for t in types)
    got = describe_redacted(error.instance) if secret else describe_value(error.instance)
    return f"expected {expected}, got {got}"


def _dotted(path: tuple[str | int, ...]) -> str:
    """``connections.prod.url``; the top level has no path."""
    return ".".join(str(p) for p in path) or "(top level)"


def settings_problem(error: ValidationError, prefix: tuple[str | int, ...]) -> tuple[str, str]:
    """(key path, message) for one gainsight.yml schema error; never shows an access key."""
    path = (*prefix, *error.absolute_path)
    secret = "access_key" in path
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extras = sorted(str(k) for k in error.instance if k not in error.schema["properties"])
        if len(extras) == 1:
            return _dotted((*path, extras[0])), unknown_key(extras[0], allowed)
        shown = ", ".join(repr(k) for k in extras)
        return _dotted(path), f"unknown key {shown} (allowed: {', '.join(allowed)})"
    if v == "required":
        return _dotted(path), missing_key(error)
    if v == "type":
        return _dotted(path), wrong_type(error, secret=secret)
    if secret:
        return _dotted(path), "invalid value"
    if v == "minimum":
        return _dotted(path), f"must be at least {error.validator_value}, got {error.instance!r}"
    if v == "maximum":
        return _dotted(path), f"must be at most {error.validator_value}, got {error.instance!r}"
    if v == "exclusiveMinimum":
        return _dotted(path), f"must be more than {error.validator_value}, got {error.instance!r}"
    if v == "minLength":
        return _dotted(path), "must not be empty"
    return _dotted(path), error.message
