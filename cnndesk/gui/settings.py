"""UI state that outlives a session (window layout, recent libraries, view choices, hotkeys).

A small typed wrapper around ``QSettings``: every key is a property here, so a typo is an
``AttributeError`` and not a silently lost setting. Data (labels, classes) goes in the library,
never here. The settings file lives under ``CNNDESK_HOME`` when it is set (tests, portable
installs), else where Qt keeps an app's settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

RECENT_LIMIT = 8


def _make_qsettings() -> QSettings:
    home = os.environ.get("CNNDESK_HOME")
    if home:
        return QSettings(str(Path(home) / "cnndesk.ini"), QSettings.Format.IniFormat)
    return QSettings("cnndesk", "cnndesk")


class AppSettings:
    """Typed access to the app's ``QSettings``."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self._s = qsettings or _make_qsettings()

    def sync(self) -> None:
        self._s.sync()

    # ------------------------------------------------------------------------------ helpers

    def _str(self, key: str, default: str = "") -> str:
        value = self._s.value(key, default)
        return str(value) if value is not None else default

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._s.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    # ------------------------------------------------------------------------------- window

    @property
    def window_geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry")

    @window_geometry.setter
    def window_geometry(self, value: QByteArray) -> None:
        self._s.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        return self._bytes("window/state")

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._s.setValue("window/state", value)

    # ---------------------------------------------------------------------------- libraries

    @property
    def recent_libraries(self) -> list[str]:
        value = self._s.value("library/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent_library(self, path: str) -> None:
        recent = [p for p in self.recent_libraries if p != path]
        self._s.setValue("library/recent", [path, *recent][:RECENT_LIMIT])

    @property
    def last_library(self) -> str | None:
        recent = self.recent_libraries
        return recent[0] if recent else None

    # -------------------------------------------------------------------------------- views

    @property
    def browser_mode(self) -> str:
        """``grid`` or ``list``."""
        mode = self._str("browser/mode", "grid")
        return mode if mode in ("grid", "list") else "grid"

    @browser_mode.setter
    def browser_mode(self, value: str) -> None:
        self._s.setValue("browser/mode", value)

    @property
    def thumbnail_size(self) -> int:
        try:
            return max(64, min(256, int(self._s.value("browser/thumbnail_size", 128))))
        except (TypeError, ValueError):
            return 128

    @thumbnail_size.setter
    def thumbnail_size(self, value: int) -> None:
        self._s.setValue("browser/thumbnail_size", int(value))

    @property
    def folders_as_classes(self) -> bool:
        """The last answer of the import dialog (default: yes, folder names are classes)."""
        return self._str("import/folders_as_classes", "true").lower() == "true"

    @folders_as_classes.setter
    def folders_as_classes(self, value: bool) -> None:
        self._s.setValue("import/folders_as_classes", "true" if value else "false")

    # ------------------------------------------------------------------------------ hotkeys

    def shortcut_overrides(self) -> dict[str, str]:
        """Action id → key sequence the user chose instead of the default."""
        self._s.beginGroup("shortcuts")
        try:
            return {key: str(self._s.value(key)) for key in self._s.childKeys()}
        finally:
            self._s.endGroup()

    def set_shortcut(self, action_id: str, sequence: str) -> None:
        self._s.setValue(f"shortcuts/{action_id}", sequence)

    def reset_shortcut(self, action_id: str) -> None:
        """Back to the action's default key."""
        self._s.remove(f"shortcuts/{action_id}")
