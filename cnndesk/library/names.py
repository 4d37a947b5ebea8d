"""What a class name may be, for classes typed by the user and classes taken from folder names.

One rule for both (``classes add`` and ``import --classes-from-folders``): a class name is shown in
menus, printed on terminals and becomes a folder name when sorting, so it must be visible text of
reasonable length: no control characters (new lines, tabs, ESC sequences, C1 controls), no
invisible bidirectional overrides that make a name read differently from what it is, no lone
surrogates (file names that were not valid UTF-8), not only spaces.

Class names are stored and compared in one Unicode normal form, NFC (:func:`normal_class_name`):
``Café`` typed on a keyboard (é as one character) and a folder ``Café/`` from a macOS disk (e
followed by a combining accent) are one class. Names that differ in case stay different classes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MAX_CLASS_NAME = 200
"""Characters; a name this long no longer fits any menu or folder name (255 bytes on most disks)."""

_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def normal_class_name(name: str) -> str:
    """``name`` in the form class names are stored and compared in (Unicode NFC)."""
    return unicodedata.normalize("NFC", name)


def same_name(a: str, b: str) -> bool:
    """Whether two class names are the same name (equal in Unicode NFC)."""
    return normal_class_name(a) == normal_class_name(b)


def ids_by_normal_name(classes: Iterable[tuple[int, str]]) -> dict[str, int]:
    """Class name in NFC → id, from (id, stored name) pairs.

    A library made before names were normalized can hold both forms of one name as two classes;
    the one stored in NFC then owns the name, so every lookup by name finds the same class (and
    :func:`id_named` finds the other by its exact stored name).
    """
    result: dict[str, int] = {}
    for class_id, stored in classes:
        key = normal_class_name(stored)
        if key not in result or stored == key:
            result[key] = class_id
    return result


def id_named(classes: Iterable[tuple[int, str]], name: str) -> int | None:
    """The id of the class stored exactly as ``name``, else of the one whose name is ``name`` in
    NFC (see :func:`ids_by_normal_name`), else ``None``."""
    pairs = list(classes)
    exact = next((class_id for class_id, stored in pairs if stored == name), None)
    return exact if exact is not None else ids_by_normal_name(pairs).get(normal_class_name(name))


def class_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a class name (a sentence), or ``None`` when it can."""
    if not name or not name.strip():
        return "A class needs a name (not only spaces)."
    if len(name) > MAX_CLASS_NAME:
        return f"Class names are limited to {MAX_CLASS_NAME} characters (this one has {len(name)})."
    for ch in name:
        category = unicodedata.category(ch)
        if category == "Cc" or category in ("Zl", "Zp"):
            return "Class names cannot contain control characters (tabs, new lines, escapes)."
        if category == "Cs":
            return "Class names must be valid text (this one came from a name that is not UTF-8)."
        if ch in _BIDI_CONTROLS:
            return "Class names cannot contain invisible text-direction controls."
    return None
