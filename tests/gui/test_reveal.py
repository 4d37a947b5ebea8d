"""Show in file manager: the file selected where the desktop can, its folder otherwise."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl

from cnndesk.gui import reveal

FAKE_FILE_MANAGER = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import ClassInfo, QCoreApplication, QObject, Slot
    from PySide6.QtDBus import QDBusConnection

    @ClassInfo({"D-Bus Interface": "org.freedesktop.FileManager1"})
    class FileManager(QObject):
        @Slot("QStringList", str)
        def ShowItems(self, uris, startup_id):
            with open(sys.argv[1], "a", encoding="utf-8") as f:
                f.write("\\n".join(uris) + "\\n")

    app = QCoreApplication([])
    bus = QDBusConnection.sessionBus()
    manager = FileManager()
    bus.registerObject(
        "/org/freedesktop/FileManager1", manager, QDBusConnection.RegisterOption.ExportAllSlots
    )
    assert bus.registerService("org.freedesktop.FileManager1"), bus.lastError().message()
    print("ready", flush=True)
    app.exec()
    """
)

CLIENT = textwrap.dedent(
    """
    import subprocess, sys
    from PySide6.QtCore import QCoreApplication
    from cnndesk.gui.reveal import show_in_file_manager

    manager = subprocess.Popen(
        [sys.executable, sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE, text=True
    )
    try:
        assert manager.stdout.readline().strip() == "ready"
        app = QCoreApplication([])
        print(show_in_file_manager(sys.argv[3]))
    finally:
        manager.terminate()
        manager.wait(10)
    """
)


@pytest.mark.skipif(
    shutil.which("dbus-run-session") is None,
    reason="dbus-run-session is not installed (apt package dbus): the freedesktop ShowItems path"
    " is not exercised here; the folder fallback tests below still run",
)
def test_the_file_is_shown_selected_by_a_freedesktop_file_manager(tmp_path: Path) -> None:
    photo = tmp_path / "a bée.jpg"
    photo.write_bytes(b"not really a jpeg")
    (tmp_path / "fm.py").write_text(FAKE_FILE_MANAGER, encoding="utf-8")
    (tmp_path / "client.py").write_text(CLIENT, encoding="utf-8")
    asked = tmp_path / "asked.txt"
    done = subprocess.run(
        ["dbus-run-session", "--", sys.executable, str(tmp_path / "client.py"),
         str(tmp_path / "fm.py"), str(asked), str(photo)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True"
    # The file manager was asked to select this very file, by a URI with the space and the é
    # percent-encoded.
    (uri,) = asked.read_text(encoding="utf-8").splitlines()
    assert uri.endswith("/a%20b%C3%A9e.jpg")
    assert Path(QUrl(uri).toLocalFile()) == photo


def test_without_a_file_manager_that_selects_the_folder_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp
) -> None:
    photo = tmp_path / "ant.jpg"
    photo.write_bytes(b"x")
    opened: list[str] = []
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(reveal, "freedesktop_show_items", lambda uri: False)
    monkeypatch.setattr(
        reveal.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True
    )
    assert reveal.show_in_file_manager(photo) is True
    assert [Path(p) for p in opened] == [tmp_path]


def test_a_moved_photo_opens_its_folder_and_a_gone_folder_says_no(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp
) -> None:
    asked: list[str] = []
    opened: list[str] = []
    monkeypatch.setattr(reveal, "_select", lambda file: asked.append(str(file)) or True)
    monkeypatch.setattr(
        reveal.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True
    )
    assert reveal.show_in_file_manager(tmp_path / "moved.jpg") is True
    assert asked == []  # nothing to select: the folder opens instead
    assert [Path(p) for p in opened] == [tmp_path]
    assert reveal.show_in_file_manager(tmp_path / "gone" / "x.jpg") is False
    assert len(opened) == 1
