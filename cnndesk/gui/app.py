"""Starting the desktop app: QApplication, the main window, ``--screenshot`` and ``--self-test``.

Nothing here (or in anything the window imports at start-up) imports torch: the window is on
screen in about a second, and torch loads in the worker of the first job that needs it.
``sys.excepthook`` logs anything unexpected and shows it in a dialog, so a failing slot is never a
silent failure.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

SCREENSHOT_WAIT_S = 2.0
"""``--screenshot`` waits at most this long for the library, the thumbnails and the viewer."""
SCREENSHOT_SIZE = (1440, 900)


def install_excepthook() -> None:
    """Log unexpected exceptions and show them in a dialog (GUI thread) instead of vanishing."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        details = "".join(traceback.format_exception(kind, value, tb))
        log.error("Unexpected error:\n%s", details)
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        if (
            app is None
            or threading.current_thread() is not threading.main_thread()
            or os.environ.get("CNNDESK_NO_ERROR_DIALOGS")
        ):
            sys.__excepthook__(kind, value, tb)
            return
        from cnndesk.gui.error_dialog import show_error

        show_error(
            None,
            "Something went wrong",
            f"{value}\n\nYour labels are safe (each one is saved as you make it). If this keeps "
            "happening, the details below help to report it.",
            details=details,
        )

    sys.excepthook = hook


SWITCH_INTERVAL_S = 0.001
"""How long a pool thread may hold the GIL while the GUI thread waits (Python's default: 5 ms)."""


def tune_interpreter() -> None:
    """Favour the GUI thread: it re-enters Python for every item it paints, and each entry can
    wait a whole switch interval for the GIL while thumbnails are made on pool threads."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _application():  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    from cnndesk.gui.gui_gc import collect_in_gui_thread

    tune_interpreter()
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("cnndesk")
        app.setOrganizationName("cnndesk")
    collect_in_gui_thread(app)  # never in a worker thread (see gui_gc)
    return app


def build_window(library_location: str | Path | None):  # type: ignore[no-untyped-def]
    """Open the library and make the main window (not shown yet)."""
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.main_window import MainWindow
    from cnndesk.gui.settings import AppSettings
    from cnndesk.library import Library

    settings = AppSettings()
    location = library_location or settings.last_library
    try:
        library = Library.open(location)
    except Exception:
        if library_location is not None:
            raise
        log.warning("the last library %s cannot be opened; using the default", location)
        library = Library.open(None)
    if library.path is not None:
        settings.add_recent_library(str(library.path))
    context = AppContext(library, settings=settings)
    return MainWindow(context)


def wait_until_settled(window, *, timeout_s: float = SCREENSHOT_WAIT_S) -> bool:  # type: ignore[no-untyped-def]
    """Process events until the library, thumbnails and viewer have loaded (bounded)."""
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    browser = window.panes.get("browser")
    viewer = window.panes.get("viewer")

    def busy() -> bool:
        if window.context.refreshing:
            return True
        if browser is not None and (browser.model.loading or browser.model.thumbnails.pending):
            return True
        return viewer is not None and not getattr(viewer, "settled", True)

    rounds = 0
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        window.grab()  # paints: the visible rows ask for their thumbnails
        if not busy():
            rounds += 1
            if rounds >= 2:
                return True
        else:
            rounds = 0
        time.sleep(0.01)
    return False


def run_app(
    *,
    library: str | None = None,
    screenshot: str | None = None,
    pane: str | None = None,
    self_test: bool = False,
) -> int:
    """Open the main window on a library (default: the last one) and run the event loop."""
    if self_test:
        return run_self_test()
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cnndesk.gui.platform_check import check_platform_libraries

    missing = check_platform_libraries()  # before Qt: a missing X11 library would abort Qt
    if missing:
        return missing
    app = _application()
    install_excepthook()
    window = build_window(library)
    if screenshot:
        return take_screenshot(window, screenshot, pane=pane)
    if pane:
        window.show_pane(pane)
    window.show_fitted()
    window.preload_in_background()
    code = app.exec()
    _shut_down(window)
    return int(code)


def _shut_down(window) -> None:  # type: ignore[no-untyped-def]
    """Stop every job and pool task before Python finalizes (none may outlive Qt's objects)."""
    from cnndesk.gui.background import stop_background_work

    window.context.cancel_jobs()
    stop_background_work()
    window.close()
    window.context.library.close()
    window.deleteLater()
    _application().processEvents()


def take_screenshot(window, path: str | Path, *, pane: str | None = None) -> int:  # type: ignore[no-untyped-def]
    """Render the window (on ``pane``) into a PNG; 0 when written."""
    from cnndesk.gui.main_window import PANES

    window.persist_layout = False
    if pane and not window.show_pane(pane):
        known = ", ".join(p.id for p in PANES)
        print(f"unknown pane {pane!r} (known: {known})", file=sys.stderr)
        return 2
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    if not wait_until_settled(window):
        log.info("screenshot taken before everything loaded (%.1f s limit)", SCREENSHOT_WAIT_S)
    ok = window.grab().save(str(Path(path)))
    _shut_down(window)
    if not ok:
        print(f"cannot write {path}", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------------- self-test


def run_self_test() -> int:
    """Check this installation end to end; prints ``ok`` and returns 0, or what failed and 1."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    step = "starting"
    try:
        with tempfile.TemporaryDirectory(prefix="cnndesk-self-test-") as tmp:
            os.environ["CNNDESK_HOME"] = tmp
            step = "making a test image"
            image_path = _self_test_image(Path(tmp) / "images" / "red.png")
            step = "round-tripping a library"
            library_path = Path(tmp) / "self-test.cnndesk"
            _self_test_library(library_path, image_path)
            step = "opening the main window"
            _application()
            window = build_window(str(library_path))
            window.show()
            wait_until_settled(window, timeout_s=3.0)
            _shut_down(window)
            step = "importing torch and timm"
            import timm
            import torch

            step = "building a model"
            model = timm.create_model("test_efficientnet", pretrained=False, num_classes=2)
            model.eval()
            step = "running the model on an image"
            config = timm.data.resolve_data_config({}, model=model)
            transform = timm.data.create_transform(**config)
            from PIL import Image

            with Image.open(image_path) as image:
                batch = transform(image.convert("RGB")).unsqueeze(0)
            with torch.no_grad():
                out = model(batch)
            if tuple(out.shape) != (1, 2) or not bool(torch.isfinite(out).all()):
                raise RuntimeError(f"unexpected model output {tuple(out.shape)}")
            step = "predicting on the CPU with OpenVINO or ONNX Runtime"
            _self_test_predictor(model, config, Path(tmp) / "model", image_path)
    except Exception as exc:  # the self-test's boundary: say what failed
        print(f"self-test failed while {step}: {type(exc).__name__}: {exc}")
        log.exception("self-test failed while %s", step)
        return 1
    print("ok")
    return 0


def _self_test_predictor(model, config: dict, folder: Path, image_path: Path) -> None:
    """Save ``model`` as a model folder and predict with it the way the app does on a CPU."""
    from cnndesk.ml import onnx_backend
    from cnndesk.ml.model_io import save_model
    from cnndesk.ml.predict import Predictor

    save_model(folder, model, {"backbone": "test_efficientnet", "classes": ["a", "b"],
                               "data_config": dict(config)})  # fmt: skip
    backends = {}
    for engine in onnx_backend.ENGINES:
        predictor = Predictor(folder, device="cpu", backend=engine)
        backends[engine] = predictor.backend
        top = predictor.predict(image_path).top
        if len(top) != 2 or abs(sum(s.p for s in top) - 1) > 1e-4:
            raise RuntimeError(f"{predictor.backend} gave {top}")
    if set(backends.values()) == {"torch"}:
        raise RuntimeError("neither OpenVINO nor ONNX Runtime runs here (see the log)")
    missing = [engine for engine, used in backends.items() if used != engine]
    if missing:
        print(
            f"note: {', '.join(missing)} cannot run here; prediction uses the others",
            file=sys.stderr,
        )


def _self_test_image(path: Path) -> Path:
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (96, 72), (200, 40, 40))
    ImageDraw.Draw(image).ellipse([20, 10, 70, 60], fill=(250, 220, 40))
    image.save(path)
    return path


def _self_test_library(library_path: Path, image_path: Path) -> None:
    from cnndesk.jobs import drive, import_job
    from cnndesk.library import Library

    with Library.open(library_path) as library:
        result = drive(import_job(library, [image_path.parent]), lambda _event: None)
        if result is None or result.added != 1:
            raise RuntimeError(f"importing one image gave {result}")
        info = library.add_class("red")
        library.set_labels([result.added_ids[0]], info.id)
    with Library.open(library_path) as library:
        records = library.images()
        if len(records) != 1 or records[0].class_id is None:
            raise RuntimeError("the label did not survive closing and reopening the library")
