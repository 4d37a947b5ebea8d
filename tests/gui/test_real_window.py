"""The real-window check: the app in an X11 window on a 1024×700 Xvfb screen (not offscreen).

Runs ``tests/gui/real_window_smoke.py``, which visits every pane, saves a screenshot of each and
fails when the window is larger than the screen. Skipped, with the reason, where Xvfb or the
system libraries of Qt's xcb plugin are not installed (CI installs them: see ``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnndesk.gui import platform_check
from cnndesk.gui.main_window import PANES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "gui" / "real_window_smoke.py"


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the real-window check runs on Linux (Xvfb)"
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed (apt-get install xvfb)"
    if platform_check.xcb_plugin() is None:
        return "this PySide6 has no xcb platform plugin"
    missing = platform_check.missing_xcb_libraries()
    if missing is not None:
        return f"Qt's xcb plugin lacks system libraries: {missing.command}"
    return None


@pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")
def test_every_pane_fits_a_1024_by_700_screen_in_a_real_window(tmp_path: Path) -> None:
    from PIL import Image

    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--size", "1024x700"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "window=1024x700 screen=1024x700" in done.stdout  # first start fills the screen
    for spec in PANES:
        shot = tmp_path / f"{spec.id}.png"
        with Image.open(shot) as image:
            assert image.size == (1024, 700)
            colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
            assert colours is None or len(colours) > 50, f"{spec.id}: an empty screen"
