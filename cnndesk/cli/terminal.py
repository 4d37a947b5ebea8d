"""Text for a terminal: nothing the CLI prints can carry raw control or escape sequences.

A class name, a file name or a reason quoting either can come from anywhere (a folder name,
a library made by someone else). Printed raw, ``ESC [ 2 J`` clears the screen, a carriage return
hides what came before it on the line, and a name that is not valid UTF-8 stops the printing with
``UnicodeEncodeError``. :func:`shown` makes one name visible (``\\x1b``, ``\\n``, ``\\udcff``);
:class:`SafeStream` wraps ``sys.stdout``/``sys.stderr`` for the whole CLI run, so everything
printed passes through the same escaping (keeping the new lines, tabs and carriage returns the
CLI writes itself); :func:`json_text` escapes the same characters the JSON way (``\\u001b``).
The few helpers every command prints with (:func:`print_json`, :func:`record_json`,
:func:`plural`, :func:`printable`, :func:`confirm`) live here too.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
from collections.abc import Collection, Mapping
from typing import Any, TextIO

_BIDI = "\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff]")
_UNSAFE_IN_OUTPUT = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(match.group(), f"\\x{code:02x}")
    return f"\\u{code:04x}"


def shown(text: str) -> str:
    """``text`` with every control, direction-override and undecodable character made visible."""
    return _UNSAFE.sub(_escape, str(text))


def json_text(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the same characters escaped
    as ``\\uXXXX`` (valid JSON; they can only occur inside strings there)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def printable(name: str) -> str:
    """A class name with control characters (terminal escapes) shown as ``\\xNN``."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in name)


def print_json(value: Any) -> None:
    """``value`` as one line of JSON on stdout (``--json``), control characters escaped."""
    sys.stdout.write(json_text(json.dumps(value, ensure_ascii=False)) + "\n")


def record_json(
    record: Any, *, names: Mapping[str, str] | None = None, drop: Collection[str] = (), **extra: Any
) -> dict[str, Any]:
    """A result dataclass as a JSON object for ``--json``: its fields in order, each under the
    name ``names`` gives it (else its own), without those in ``drop``; dataclasses inside it
    (in tuples too) the same way with the same ``names``, tuples as lists. ``extra`` replaces a
    field's value under its JSON name or adds a key at the end."""
    names = names or {}
    data = {
        names.get(f.name, f.name): _json_value(getattr(record, f.name), names)
        for f in dataclasses.fields(record)
        if f.name not in drop
    }
    data.update(extra)
    return data


def _json_value(value: Any, names: Mapping[str, str]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return record_json(value, names=names)
    if isinstance(value, (tuple, list)):
        return [_json_value(item, names) for item in value]
    return value


def plural(count: int, noun: str) -> str:
    """``1 image``, ``2 images``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def confirm(question: str) -> bool:
    """Ask a yes/no question on a terminal; ``False`` (no) when stdin is not a terminal."""
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}


class SafeStream(io.TextIOBase):
    """A text stream that escapes control characters (except ``\\n``, ``\\t``, ``\\r``) on write."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(_UNSAFE_IN_OUTPUT.sub(_escape, text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

    def writable(self) -> bool:
        return True
