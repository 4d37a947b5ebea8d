"""Start cnndesk in a real X11 window (Qt's xcb platform, not offscreen) and look at every pane.

Offscreen tests cannot see a window wider than the screen or a button clipped by the window's
edge; this can. It starts its own Xvfb screen of ``--size`` (default 1024×700), opens the app the
way ``cnndesk`` does on first start (the platform-library check, then the main window fitted to the
screen), brings every pane forward in turn, saves a screenshot of the whole X screen for each
(``<out>/<pane>.png``), and exits 1 when the window (with its frame) is larger than the screen or
reaches outside it, or when a pane cannot be shown. Without ``--library`` it makes a small labeled
library of generated images.

Usage::

    python tests/gui/real_window_smoke.py --out shots/ [--size 1024x700] [--library L]
        [--image IMG] [--sort-folder FOLDER] [--palette]

``--image`` is predicted in the Predict pane and ``--sort-folder`` sorted in the Sort pane (both
need a trained model in the library); ``--palette`` saves 256-colour PNGs and ``--window-only``
crops each screenshot to the window (README pictures).
Needs ``Xvfb`` and the X11 libraries of Qt's xcb plugin (``.ci/run`` installs them; see the
README's Linux note).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXIT_TOO_LARGE = 1
EXIT_NO_X = 3
"""Xvfb or the xcb libraries are missing: nothing could be checked."""


def start_xvfb(size: str) -> tuple[subprocess.Popen, str]:
    """A fresh Xvfb screen of ``size`` (``WxH``) on a free display; (process, ``:N``)."""
    read, write = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        process.kill()
        raise RuntimeError("Xvfb did not start")
    return process, f":{number}"


def demo_library(folder: Path) -> Path:
    """A library of 24 generated images in two labeled classes and a few unlabeled ones."""
    sys.path.insert(0, str(ROOT))
    from cnndesk.library import Library, import_paths
    from tests.conftest import make_image

    images = folder / "images"
    for n in range(10):
        make_image(images / "red_cars" / f"red_car_{n:02d}_q.png", colour=(200, 40, 40))
        make_image(images / "blue_sky" / f"blue_sky_{n:02d}_g.png", colour=(40, 80, 200))
    for n in range(4):
        make_image(images / "new" / f"unsorted_photo_{n}_jpg.png", colour=(90, 160, 60))
    path = folder / "demo.cnndesk"
    with Library.open(path) as library:
        for _ in import_paths(
            library, [images / "red_cars", images / "blue_sky"], classes_from_folders=True
        ):
            pass
        for _ in import_paths(library, [images / "new"]):
            pass
    return path


def wait_for_jobs(window, limit_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QEventLoop, QTimer

    from cnndesk.gui.app import wait_until_settled
    from cnndesk.gui.worker import Worker

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        loop = QEventLoop()  # exec() lets worker threads run (a busy wait would not)
        QTimer.singleShot(150, loop.quit)
        loop.exec()
        if not Worker.running_workers():
            break
    wait_until_settled(window)


def run_in_x(args: argparse.Namespace) -> int:
    """Runs with ``DISPLAY`` set to the Xvfb screen; returns the exit code."""
    from cnndesk.gui.platform_check import check_platform_libraries

    missing = check_platform_libraries()
    if missing:
        return EXIT_NO_X
    from PIL import Image

    from cnndesk.gui.app import _application, _shut_down, build_window, install_excepthook
    from cnndesk.gui.main_window import PANES

    app = _application()
    install_excepthook()
    if app.platformName() != "xcb":
        print(f"Qt runs on {app.platformName()!r}, not xcb", file=sys.stderr)
        return EXIT_NO_X
    window = build_window(args.library)
    window.show_fitted()
    wait_for_jobs(window)
    screen = window.screen()
    full = screen.geometry()
    available = screen.availableGeometry()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for spec in PANES:
        if not window.show_pane(spec.id):
            problems.append(f"pane {spec.id} cannot be shown")
            continue
        pane = window.pane(spec.id)
        wait_for_jobs(window)
        if spec.id == "prediction" and args.image and pane is not None:
            pane.predict(args.image)
        if spec.id == "sort" and args.sort_folder and pane is not None:
            dest = Path(tempfile.mkdtemp(prefix="cnndesk-sorted-")) / "sorted"
            pane.set_source(args.sort_folder)
            pane.dest_edit.setText(str(dest))
            pane.start_sort()
        wait_for_jobs(window)
        frame = window.frameGeometry()
        if not full.contains(frame):
            problems.append(
                f"on {spec.id}: the window {frame.width()}x{frame.height()}+{frame.x()}+{frame.y()}"
                f" does not fit the {full.width()}x{full.height()} screen"
            )
        shot = out / f"{spec.id}.png"
        if args.window_only:  # the window's part of the X screen
            grab = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
        else:
            grab = screen.grabWindow(0)  # the X screen itself: what a user would see
        grab.save(str(shot))
        if args.palette:
            with Image.open(shot) as image:
                image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                    shot, optimize=True
                )
        print(
            f"{shot} window={frame.width()}x{frame.height()} screen={full.width()}x{full.height()}"
        )
    minimum = window.minimumSizeHint()
    if minimum.width() > available.width() or minimum.height() > available.height():
        problems.append(
            f"the window cannot be smaller than {minimum.width()}x{minimum.height()}"
            f" (screen {available.width()}x{available.height()})"
        )
    _shut_down(window)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return EXIT_TOO_LARGE if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the screenshots")
    parser.add_argument("--size", default="1024x700", help="the X screen, WIDTHxHEIGHT")
    parser.add_argument("--library", help="a library file (default: a generated demo library)")
    parser.add_argument("--image", help="an image to predict in the Predict pane")
    parser.add_argument("--sort-folder", help="a folder to sort in the Sort pane")
    parser.add_argument("--palette", action="store_true", help="256-colour PNGs")
    parser.add_argument(
        "--window-only", action="store_true", help="save the window's part of the screen only"
    )
    args = parser.parse_args(argv)
    if shutil.which("Xvfb") is None:
        print("Xvfb is not installed", file=sys.stderr)
        return EXIT_NO_X
    with tempfile.TemporaryDirectory(prefix="cnndesk-real-window-") as tmp:
        # A first start: no saved window size, no settings, a private data folder.
        os.environ["CNNDESK_HOME"] = str(Path(tmp) / "home")
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        os.environ["CNNDESK_NO_ERROR_DIALOGS"] = "1"
        if args.library is None:
            args.library = str(demo_library(Path(tmp)))
        os.environ.pop("QT_QPA_PLATFORM", None)  # (tests.conftest, imported above, sets it)
        os.environ.pop("WAYLAND_DISPLAY", None)
        xvfb, display = start_xvfb(args.size)
        os.environ["DISPLAY"] = display
        try:
            return run_in_x(args)
        finally:
            xvfb.terminate()
            try:
                xvfb.wait(10)
            except subprocess.TimeoutExpired:
                xvfb.kill()


if __name__ == "__main__":
    sys.exit(main())
