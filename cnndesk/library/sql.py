"""Small SQL building blocks the library's managers share: label sources, id chunks, LIKE escaping."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cnndesk.domain import LabelSource

HUMAN = LabelSource.HUMAN.value
"""``labels.source`` of a label the user gave."""
MODEL = LabelSource.MODEL.value
"""``labels.source`` of a model's suggestion (never replaces a human label)."""

CHUNK = 500
"""Ids per ``IN (…)`` list: well under SQLite's limit on bound parameters."""


def chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def escape_like(text: str) -> str:
    """``text`` matched literally by ``LIKE … ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
