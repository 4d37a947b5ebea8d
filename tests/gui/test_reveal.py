"""Show in file manager: the file selected where the desktop can, its folder otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QDir, QUrl

from cnndesk.gui import reveal

FAKE_FILE_MANAGER = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtDBus import QDBusConnection, QDBusError, QDBusVirtualObject

    mode, asked = sys.argv[1], sys.argv[2]

    class FileManager(QDBusVirtualObject):  # answers every call on its path as ``mode`` says
        def introspect(self, path):
            return ""

        def handleMessage(self, message, connection):
            if message.member() != "ShowItems":
                return False
            uris, startup_id = message.arguments()
            with open(asked, "a", encoding="utf-8") as f:
                f.write("\\n".join(uris) + "\\n")
            if mode == "select":
                connection.send(message.createReply())
            elif mode == "deny":
                error = QDBusError.ErrorType.AccessDenied
                connection.send(message.createErrorReply(error, "not in this sandbox"))
            # "silent": still starting, say; the answer does not come in time
            return True

    app = QCoreApplication([])
    bus = QDBusConnection.sessionBus()
    manager = FileManager()
    assert bus.registerVirtualObject("/org/freedesktop/FileManager1", manager)
    assert bus.registerService("org.freedesktop.FileManager1"), bus.lastError().message()
    print("ready", flush=True)
    app.exec()
    """
)

CLIENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from PySide6.QtCore import QEventLoop, QObject, QUrl, Slot
    from PySide6.QtGui import QDesktopServices, QGuiApplication
    from cnndesk.gui import reveal

    fm, mode, asked, photo = sys.argv[1:5]

    class Desktop(QObject):  # what the desktop was asked to open, through Qt's own URL handler
        opened = []

        @Slot(QUrl)
        def open(self, url):
            self.opened.append(url.toLocalFile())

    # a file manager that stays silent times out quickly here; one that answers gets all the
    # time a loaded machine may need to pass its answer on
    reveal.CALL_TIMEOUT_MS = 500 if mode == "silent" else 20_000
    manager = None
    if mode != "none":
        manager = subprocess.Popen(
            [sys.executable, fm, mode, asked], stdout=subprocess.PIPE, text=True
        )
    try:
        if manager:
            assert manager.stdout.readline().strip() == "ready"
        app = QGuiApplication([])
        desktop = Desktop()
        QDesktopServices.setUrlHandler("file", desktop, "open")
        print("sent", reveal.show_in_file_manager(photo))
        print("at once", desktop.opened)
        deadline = time.monotonic() + 30
        while reveal.pending() and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        app.processEvents()
        print("pending", reveal.pending())
        print("in all", desktop.opened)
    finally:
        if manager and mode == "silent":
            # The call timed out here after 500 ms; a file manager slowed down by a loaded
            # machine may take that long to read it. Stop it only once it has been asked.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                os.path.exists(asked) and open(asked, encoding="utf-8").read()
            ):
                time.sleep(0.05)
        if manager:
            manager.terminate()
            manager.wait(10)
    """
)


def _show_on_a_private_bus(tmp_path: Path, mode: str) -> tuple[dict[str, str], list[str]]:
    """Show a photo through a private session bus whose file manager behaves as ``mode``
    (select, deny, silent, or none at all); the client's printed lines by their label, and the
    URIs the file manager was asked to show."""
    photo = tmp_path / "a bée.jpg"
    photo.write_bytes(b"not really a jpeg")
    (tmp_path / "fm.py").write_text(FAKE_FILE_MANAGER, encoding="utf-8")
    (tmp_path / "client.py").write_text(CLIENT, encoding="utf-8")
    asked = tmp_path / "asked.txt"
    done = subprocess.run(
        ["dbus-run-session", "--", sys.executable, str(tmp_path / "client.py"),
         str(tmp_path / "fm.py"), mode, str(asked), str(photo)],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = {}
    for line in done.stdout.splitlines():
        for label in ("sent", "at once", "pending", "in all"):
            if line.startswith(label + " "):
                printed[label] = line[len(label) + 1 :]
    uris = asked.read_text(encoding="utf-8").splitlines() if asked.exists() else []
    return printed, uris


needs_dbus = pytest.mark.skipif(
    shutil.which("dbus-run-session") is None,
    reason="dbus-run-session is not installed (apt package dbus-daemon): the freedesktop ShowItems path"
    " is not exercised here; the folder fallback tests below still run",
)


@needs_dbus
def test_the_file_is_shown_selected_by_a_freedesktop_file_manager(tmp_path: Path) -> None:
    printed, uris = _show_on_a_private_bus(tmp_path, "select")
    assert printed == {"sent": "True", "at once": "[]", "pending": "0", "in all": "[]"}
    # The file manager was asked to select this very file, by a URI with the space and the é
    # percent-encoded; no folder window opened besides.
    (uri,) = uris
    assert uri.endswith("/a%20b%C3%A9e.jpg")
    assert Path(QUrl(uri).toLocalFile()) == tmp_path / "a bée.jpg"


@needs_dbus
def test_a_file_manager_that_refuses_opens_the_folder_when_it_answers(tmp_path: Path) -> None:
    printed, uris = _show_on_a_private_bus(tmp_path, "deny")
    assert len(uris) == 1  # it was asked, and said no (AccessDenied)
    assert printed["sent"] == "True"
    assert printed["at once"] == "[]"  # the window did not wait for the answer
    assert printed["pending"] == "0"
    assert printed["in all"] == repr([str(tmp_path)])


@needs_dbus
def test_a_file_manager_that_does_not_answer_in_time_gets_no_second_window(
    tmp_path: Path,
) -> None:
    printed, uris = _show_on_a_private_bus(tmp_path, "silent")
    assert len(uris) == 1
    # The call timed out (NoReply): the file manager is most likely still starting and will show
    # the file; opening the folder too would give the user two windows.
    assert printed == {"sent": "True", "at once": "[]", "pending": "0", "in all": "[]"}


@needs_dbus
def test_without_a_file_manager_on_the_bus_the_folder_opens_at_once(tmp_path: Path) -> None:
    printed, uris = _show_on_a_private_bus(tmp_path, "none")
    assert uris == []
    assert printed["sent"] == "True"
    assert printed["at once"] == repr([str(tmp_path)])  # before any event loop ran
    assert printed["pending"] == "0"
    assert printed["in all"] == repr([str(tmp_path)])


def test_without_a_file_manager_that_selects_the_folder_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp
) -> None:
    photo = tmp_path / "ant.jpg"
    photo.write_bytes(b"x")
    opened: list[str] = []
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(reveal, "freedesktop_show_items", lambda uri, refused: False)
    monkeypatch.setattr(
        reveal.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True
    )
    assert reveal.show_in_file_manager(photo) is True
    assert [Path(p) for p in opened] == [tmp_path]


def test_explorer_gets_select_and_the_path_as_two_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp
) -> None:
    photo = tmp_path / "my photos" / "a bee.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"x")
    started: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(
        reveal.QProcess,
        "startDetached",
        lambda program, arguments: started.append((program, arguments)) or (True, 0),
    )
    monkeypatch.setattr(reveal.QDesktopServices, "openUrl", lambda url: pytest.fail("folder"))
    assert reveal.show_in_file_manager(photo) is True
    # Not one "/select,PATH" argument, which Qt would quote whole for the space and explorer
    # would misread.
    assert started == [("explorer", ["/select,", QDir.toNativeSeparators(str(photo))])]


def test_a_moved_photo_opens_its_folder_and_a_gone_folder_says_no(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp
) -> None:
    asked: list[str] = []
    opened: list[str] = []
    monkeypatch.setattr(reveal, "_select", lambda file, refused: asked.append(str(file)) or True)
    monkeypatch.setattr(
        reveal.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True
    )
    assert reveal.show_in_file_manager(tmp_path / "moved.jpg") is True
    assert asked == []  # nothing to select: the folder opens instead
    assert [Path(p) for p in opened] == [tmp_path]
    assert reveal.show_in_file_manager(tmp_path / "gone" / "x.jpg") is False
    assert len(opened) == 1
