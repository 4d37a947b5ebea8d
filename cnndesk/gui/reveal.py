"""Show a file in the system's file manager with the file selected, as users know it from
"Show in Finder" / "Show in Explorer".

- **Linux and the BSDs**: the freedesktop ``org.freedesktop.FileManager1.ShowItems`` call on the
  session D-Bus (Nautilus, Dolphin, Nemo, Caja, Thunar and PCManFM-Qt implement it);
- **macOS**: ``open -R FILE``;
- **Windows**: ``explorer /select,FILE``.

Where none of these is available (no session bus, no file manager that speaks the interface,
the program will not start), the file's folder is opened instead, so the user still lands next
to the file. A file that is gone opens its folder if that still exists; otherwise nothing opens
and the caller gets ``False`` to say so.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices

log = logging.getLogger(__name__)

FILE_MANAGER_SERVICE = "org.freedesktop.FileManager1"
FILE_MANAGER_PATH = "/org/freedesktop/FileManager1"
CALL_TIMEOUT_MS = 3000
"""How long the window may wait for the file manager to answer (it starts one if none runs)."""


def show_in_file_manager(path: str | Path) -> bool:
    """Show ``path`` selected in the file manager, or open its folder; ``False`` if neither."""
    file = Path(path)
    folder = file.parent
    if not folder.is_dir():
        log.info("Cannot show %s: its folder %s is gone", file, folder)
        return False
    if file.exists() and _select(file):
        return True
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def _select(file: Path) -> bool:
    """Ask the platform's file manager to show ``file`` selected; ``True`` if it accepted."""
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", str(file)])[0]
    if sys.platform == "win32":
        return QProcess.startDetached("explorer", ["/select," + str(file)])[0]
    return freedesktop_show_items(file_uri(file))


def file_uri(file: Path) -> str:
    """``file:///…`` with every byte that needs it percent-encoded (spaces, non-ASCII names)."""
    return bytes(QUrl.fromLocalFile(str(file)).toEncoded()).decode("ascii")


def freedesktop_show_items(uri: str) -> bool:
    """``org.freedesktop.FileManager1.ShowItems([uri], "")`` on the session bus; ``True`` on a
    reply without error. ``False`` without a session bus or a file manager that answers."""
    try:
        from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage
    except ImportError:  # a Qt build without D-Bus
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    call = QDBusMessage.createMethodCall(
        FILE_MANAGER_SERVICE, FILE_MANAGER_PATH, FILE_MANAGER_SERVICE, "ShowItems"
    )
    call.setArguments([[uri], ""])
    reply = bus.call(call, QDBus.CallMode.Block, CALL_TIMEOUT_MS)
    if reply.type() == QDBusMessage.MessageType.ErrorMessage:
        log.info("The file manager refused ShowItems: %s", reply.errorMessage())
        return False
    return True
