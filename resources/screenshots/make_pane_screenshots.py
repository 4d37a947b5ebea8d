"""Render the README screenshots of the training, evaluation, prediction and sort panes.

Like ``cnndesk --screenshot FILE --pane NAME``, but it waits for the panes' jobs (a prediction, a
sort) to finish, so the pictures show results rather than "Thinking…". Usage::

    cnndesk --library L import COPY_OF_HYMENOPTERA --classes-from-folders
    cnndesk --library L train --backbone tf_efficientnet_lite0 --weights LITE0.safetensors
    python resources/screenshots/make_pane_screenshots.py L IMAGE FOLDER_TO_SORT OUT_DIR

PNGs are reduced to a 256-colour palette to stay small (< 300 KB each).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main(library: str, image: str, folder: str, out: str) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import QEventLoop, QTimer

    from cnndesk.gui.app import (
        SCREENSHOT_SIZE,
        _application,
        _shut_down,
        build_window,
        wait_until_settled,
    )
    from cnndesk.gui.worker import Worker

    app = _application()
    window = build_window(library)
    window.resize(*SCREENSHOT_SIZE)
    window.show()

    def wait_for_jobs(limit_s: float = 120.0) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            loop = QEventLoop()  # exec() lets the worker threads run (a busy wait would not)
            QTimer.singleShot(200, loop.quit)
            loop.exec()
            if not Worker.running_workers():
                break
        wait_until_settled(window)

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    wait_until_settled(window)
    for pane_id in ("training", "evaluation", "prediction", "sort"):
        window.show_pane(pane_id)
        pane = window.pane(pane_id)
        wait_for_jobs()
        if pane_id == "prediction":
            pane.predict(image)
        elif pane_id == "sort":
            dest = Path(tempfile.mkdtemp(prefix="cnndesk-sorted-")) / "sorted"
            pane.set_source(folder)
            pane.dest_edit.setText(str(dest))
            pane.start_sort()
        wait_for_jobs()
        app.processEvents()
        raw = out_dir / f"{pane_id}.raw.png"
        window.grab().save(str(raw))
        with Image.open(raw) as shot:
            shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                out_dir / f"{pane_id}.png", optimize=True
            )
        raw.unlink()
        print(out_dir / f"{pane_id}.png", (out_dir / f"{pane_id}.png").stat().st_size)
    _shut_down(window)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
