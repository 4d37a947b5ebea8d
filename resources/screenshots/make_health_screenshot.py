"""Render the README screenshot of the Data health pane after an audit has run.

Like ``cnndesk --screenshot FILE --pane health``, but it runs the audit first and waits for it,
so the picture shows findings. Usage (the ants/bees photos, a quick lite0 model)::

    cnndesk --library L import COPY_OF_HYMENOPTERA --classes-from-folders
    cnndesk --library L label --class bees TEN_ANTS...   # the README's: 10 of each, flipped
    cnndesk --library L label --class ants TEN_BEES...   # (random.seed(0), random.sample)
    cnndesk --library L train --backbone tf_efficientnet_lite0 --weights LITE0.safetensors
    python resources/screenshots/make_health_screenshot.py L OUT.png
"""

from __future__ import annotations

import os
import sys
import time


def main(library: str, out: str) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import QEventLoop, QTimer

    from cnndesk.gui.app import _application, _shut_down, build_window
    from cnndesk.gui.worker import Worker

    _app = _application()  # kept alive while the window exists
    window = build_window(library)
    window.resize(1024, 700)
    window.show()
    window.show_pane("health")
    pane = window.pane("health")
    pane.run_audit()
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        loop = QEventLoop()
        QTimer.singleShot(300, loop.quit)
        loop.exec()
        if pane.report is not None and not Worker.running_workers():
            break
    window.grab().save(out)
    Image.open(out).convert("RGB").quantize(256).save(out, optimize=True)
    _shut_down(window)
    return 0 if pane.report is not None else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
