"""A guard against a PySide6 6.12 reference-count bug that crashes the app on Python < 3.12.

Measured here (PySide6/shiboken6 6.12.0, CPython 3.11.7): every ``Signal.emit()`` called from
Python drops one reference to ``True`` it never took, and every invalid ``QVariant`` converted to
Python (``QModelIndex.data()`` of a role the model leaves empty, ``QSettings.value()`` of a missing
key) drops one to ``None``. Python 3.12 made these singletons immortal, which hides the bug there;
on 3.11 their count reaches zero after a few thousand calls and the interpreter aborts with
``Fatal Python error: bool_dealloc`` / ``none_dealloc`` (a plain ``signal.emit()`` loop of 6,000
iterations is enough).

:func:`guard_singletons` gives ``None``, ``True`` and ``False`` a reserve of 2**40 references (they
are never freed anyway), which makes them immortal in practice. It is a no-op on Python ≥ 3.12.
Remove it once the project runs on a PySide6 that keeps its counts right (or on Python ≥ 3.12).
"""

from __future__ import annotations

import ctypes
import sys

RESERVE = 1 << 40
_guarded = False


def guard_singletons() -> bool:
    """Make ``None``/``True``/``False`` practically immortal; ``True`` when it did anything."""
    global _guarded
    if _guarded or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object (a Py_ssize_t).
        ctypes.c_ssize_t.from_address(id(singleton)).value += RESERVE
    _guarded = True
    return True
