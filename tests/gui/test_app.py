"""Starting the app: ``--screenshot`` (fast, no torch), panes by name, layout persistence, self-test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gui.browser_data import open_window, unlabeled_library

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], *, env_home: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, CNNDESK_HOME=str(env_home), QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cnndesk", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _imported(stderr: str) -> set[str]:
    """Top-level packages named in ``-X importtime`` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_screenshot_writes_a_large_png_without_importing_torch(
    tmp_path: Path, cnndesk_home
) -> None:
    from PIL import Image

    library = unlabeled_library(tmp_path)
    library.close()
    out = tmp_path / "shot.png"
    done = _run(
        [
            "--library",
            str(tmp_path / "test.cnndesk"),
            "--screenshot",
            str(out),
            "--pane",
            "classes",
        ],
        env_home=cnndesk_home,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(out) as image:
        assert image.width >= 1000 and image.height >= 650
        # Thumbnails were drawn: the grid is not just the placeholder grey.
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 50
    imported = _imported(done.stderr)
    assert "PySide6" in imported
    assert not imported & {"torch", "timm", "torchvision"}


def test_an_unknown_pane_is_an_error_naming_the_known_ones(tmp_path: Path, cnndesk_home) -> None:
    done = _run(
        ["--library", str(tmp_path / "x.cnndesk"), "--screenshot", str(tmp_path / "x.png"),
         "--pane", "nope"],
        env_home=cnndesk_home,
    )  # fmt: skip
    assert done.returncode == 2
    assert "browser" in done.stderr and "training" in done.stderr


def test_every_pane_can_be_brought_to_the_front(qtbot, tmp_path: Path) -> None:
    from cnndesk.gui.main_window import PANES

    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    for spec in PANES:
        assert window.show_pane(spec.id)
        assert spec.id in window.panes
    assert not window.show_pane("nope")
    window.context.cancel_jobs()
    library.close()


def test_window_layout_and_view_mode_persist(qtbot, tmp_path: Path) -> None:
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    window.actions_by_id["view.list_mode"].trigger()
    window.docks["viewer"].hide()
    window.close()
    second = open_window(qtbot, library)
    assert second.browser.list_mode
    assert second.actions_by_id["view.list_mode"].isChecked()
    assert second.docks["viewer"].isHidden()
    library.close()


@pytest.mark.slow
def test_self_test_prints_ok(tmp_path: Path, cnndesk_home) -> None:
    done = _run(["--self-test"], env_home=cnndesk_home, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_closing_the_window_cancels_running_jobs(qtbot, tmp_path: Path) -> None:
    import time

    from cnndesk.domain import Progress

    stopped: list[str] = []

    def endless():  # type: ignore[no-untyped-def]
        try:
            n = 0
            while True:
                n += 1
                time.sleep(0.01)
                yield Progress(done=n, total=0)
        finally:
            stopped.append("cleaned up")

    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    with qtbot.waitSignal(window.context.job_progressed, timeout=5000):
        worker = window.context.run_job(endless, title="Endless")
    assert window.job_status.isVisible()
    assert window.context.running_jobs == ["Endless"]
    window.close()
    assert stopped == ["cleaned up"]  # the generator's finally ran before close returned
    qtbot.waitUntil(lambda: not worker.is_running(), timeout=5000)
    library.close()


def test_opening_another_library_switches_every_pane(qtbot, tmp_path: Path) -> None:
    from cnndesk.gui.settings import AppSettings

    first = unlabeled_library(tmp_path / "one")
    window = open_window(qtbot, first)
    other_path = tmp_path / "two" / "other.cnndesk"
    other_path.parent.mkdir(parents=True)
    with qtbot.waitSignal(window.context.classes_loaded, timeout=5000):
        assert window.open_library_file(str(other_path))
    qtbot.waitUntil(lambda: not window.browser.model.loading, timeout=5000)
    assert window.browser.model.rowCount() == 0
    assert window.context.classes == []
    assert window.windowTitle().startswith("other")
    assert "0 images" in window.counts_label.text()
    assert AppSettings().recent_libraries[0] == str(other_path)
    assert window.browser.stack.currentWidget() is window.browser.empty_label
    window.context.library.close()
