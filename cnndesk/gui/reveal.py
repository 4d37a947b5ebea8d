"""Show a file in the system's file manager with the file selected, as users know it from
"Show in Finder" / "Show in Explorer".

- **Linux and the BSDs**: the freedesktop ``org.freedesktop.FileManager1.ShowItems`` call on the
  session D-Bus (Nautilus, Dolphin, Nemo, Caja, Thunar and PCManFM-Qt implement it), sent
  asynchronously so the window never waits for a file manager that is starting;
- **macOS**: ``open -R FILE``;
- **Windows**: ``explorer /select, FILE``.

Where none of these is available (no session bus, no file manager that speaks the interface,
the program will not start), the file's folder is opened instead, so the user still lands next
to the file. A file manager that answers ShowItems with an error (unknown method, access denied,
failed to start) opens the folder then, when its answer arrives; one that does not answer within
:data:`CALL_TIMEOUT_MS` opens nothing more, since it is most likely still starting and will show
the file itself (opening the folder too would give the user two windows). A file that is gone
opens its folder if that still exists; otherwise nothing opens and the caller gets ``False``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QDir, QProcess, QUrl
from PySide6.QtGui import QDesktopServices

log = logging.getLogger(__name__)

FILE_MANAGER_SERVICE = "org.freedesktop.FileManager1"
FILE_MANAGER_PATH = "/org/freedesktop/FileManager1"
CALL_TIMEOUT_MS = 25_000
"""How long a ShowItems call may go unanswered (D-Bus's default; the window does not wait)."""
BUS_CHECK_TIMEOUT_MS = 1000
"""How long the window may wait for the bus daemon itself to say whether a file manager is there
(it answers from memory, in well under a millisecond)."""
NOT_REFUSED = frozenset({"NoReply", "Timeout", "TimedOut"})
"""``QDBusError`` types that mean "no answer yet", not "no": the file manager may still show it."""

_pending: set[object] = set()
"""The ``QDBusPendingCallWatcher`` of every ShowItems call in flight (Qt would drop the reply
if nothing kept its watcher alive)."""


def show_in_file_manager(path: str | Path) -> bool:
    """Show ``path`` selected in the file manager, or open its folder.

    ``True`` when the request was sent (the file manager may still answer with an error, and then
    the folder opens) or the folder opened; ``False`` if nothing could open (the folder is gone)."""
    file = Path(path)
    folder = file.parent
    if not folder.is_dir():
        log.info("Cannot show %s: its folder %s is gone", file, folder)
        return False
    if file.exists() and _select(file, lambda: open_folder(folder)):
        return True
    return open_folder(folder)


def open_folder(folder: Path) -> bool:
    """Open ``folder`` in the desktop's file manager; ``True`` if the desktop took it."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def pending() -> int:
    """How many ShowItems calls are still waiting for the file manager's answer."""
    return len(_pending)


def _select(file: Path, refused: Callable[[], object]) -> bool:
    """Ask the platform's file manager to show ``file`` selected; ``True`` if the request went
    out. ``refused`` runs if a file manager later answers it with an error."""
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", str(file)])[0]
    if sys.platform == "win32":
        # Two arguments, as Qt Creator passes them: one "/select,PATH" argument is quoted whole
        # when the path has a space, and explorer then misreads it.
        native = QDir.toNativeSeparators(str(file))
        return QProcess.startDetached("explorer", ["/select,", native])[0]
    return freedesktop_show_items(file_uri(file), refused)


def file_uri(file: Path) -> str:
    """``file:///…`` with every byte that needs it percent-encoded (spaces, non-ASCII names)."""
    return bytes(QUrl.fromLocalFile(str(file)).toEncoded()).decode("ascii")


def freedesktop_show_items(uri: str, refused: Callable[[], object]) -> bool:
    """Send ``org.freedesktop.FileManager1.ShowItems([uri], "")`` on the session bus without
    waiting for the answer; ``True`` when sent. ``refused`` runs when the answer is an error other
    than a timeout. ``False`` (nothing sent) without a session bus or when no file manager owns
    the name and none can be started for it."""
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusMessage, QDBusPendingCallWatcher
    except ImportError:  # a Qt build without D-Bus
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected() or not _file_manager_on(bus):
        return False
    call = QDBusMessage.createMethodCall(
        FILE_MANAGER_SERVICE, FILE_MANAGER_PATH, FILE_MANAGER_SERVICE, "ShowItems"
    )
    call.setArguments([[uri], ""])
    watcher = QDBusPendingCallWatcher(bus.asyncCall(call, CALL_TIMEOUT_MS))
    _pending.add(watcher)

    def answered() -> None:
        _pending.discard(watcher)
        watcher.deleteLater()
        if not watcher.isError():
            return
        error = watcher.error()
        kind = error.type().name
        if kind in NOT_REFUSED:
            log.info(
                "The file manager has not answered ShowItems (%s); it may still be starting", kind
            )
            return
        log.info("The file manager refused ShowItems (%s): %s", error.name(), error.message())
        refused()

    watcher.finished.connect(answered)
    return True


def _file_manager_on(bus: object) -> bool:
    """Whether a program owns the FileManager1 name on ``bus`` or the bus can start one for it;
    two quick questions to the bus daemon (``False`` if it does not answer them)."""
    from PySide6.QtDBus import QDBus, QDBusMessage

    def ask(method: str, *args: object) -> object:
        message = QDBusMessage.createMethodCall(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", method
        )
        message.setArguments(list(args))
        reply = bus.call(message, QDBus.CallMode.Block, BUS_CHECK_TIMEOUT_MS)
        if reply.type() != QDBusMessage.MessageType.ReplyMessage or not reply.arguments():
            log.info("The session bus did not answer %s: %s", method, reply.errorMessage())
            return None
        return reply.arguments()[0]

    if ask("NameHasOwner", FILE_MANAGER_SERVICE) is True:
        return True
    activatable = ask("ListActivatableNames")
    if isinstance(activatable, list) and FILE_MANAGER_SERVICE in activatable:
        return True
    log.info("No file manager on the session bus speaks %s", FILE_MANAGER_SERVICE)
    return False
