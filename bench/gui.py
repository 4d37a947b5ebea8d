"""GUI responsiveness: keyboard labeling latency and the longest stall while scrolling the grid.

    python bench/gui.py [--label-images 2000] [--presses 200] [--scroll-images 20000]
                        [--workdir DIR] [--skip-scroll]

Runs offscreen (``QT_QPA_PLATFORM=offscreen``) in one process, against libraries of generated
160×120 JPEGs imported with the library API (images and libraries are cached in the work folder
between runs; the thumbnail cache is emptied before each measurement, so thumbnails are cold).

1. **Labeling** (2,000 images, 200 presses of the key ``1`` in the real main window): time from
   the key event to the next unlabeled image being current, the viewer showing it and the window
   repainted ("keypress → next image"), and the part of that spent in the key handler itself.
   Baseline in the same run: a naive handler that writes the label and then re-queries the
   library for the next unlabeled image (what a first version usually does).
Each row comes with the GUI thread's own CPU time (``time.thread_time``): on a shared machine the
wall-clock times include other processes' turns, the CPU times do not (but miss GIL waits).

2. **Scrolling** (20,000 images): the grid is scrolled from top to bottom one viewport per frame
   (16 ms pacing), thumbnails being made in the background (cnndesk's thumbnail processes); each frame's GUI-thread time is
   measured (scroll + events + repaint), and the longest one is the longest stall. Baseline in the
   same run: the same view with thumbnails loaded synchronously in ``data()`` (first 150 frames).

Targets: keypress → next image p95 ≤ 30 ms; longest scrolling stall ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _make(path: Path, index: int) -> None:
    from PIL import Image, ImageDraw

    image = Image.new(
        "RGB", (160, 120), ((index * 37) % 256, (index * 91) % 256, (index * 13) % 256)
    )
    draw = ImageDraw.Draw(image)
    for k in range(6):  # distinct content per image (no duplicates to dedupe)
        x, y = (index * (k + 3)) % 150, (index * (k + 7) // 3) % 110
        draw.rectangle([x, y, x + 10, y + 10], fill=((index + k * 50) % 256, k * 40, 255 - k * 30))
    draw.text((4, 4), str(index), fill=(255, 255, 255))
    image.save(path, quality=85)


def library_of(workdir: Path, count: int):  # type: ignore[no-untyped-def]
    """A library of ``count`` generated images (made and imported once, then reused)."""
    from cnndesk.library import Library, import_paths

    folder = workdir / f"images-{count}"
    library_path = workdir / f"bench-{count}.cnndesk"
    if library_path.exists():
        return Library.open(library_path)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Generating and importing {count:,} JPEGs in {folder} (cached)…", flush=True)
    for i in range(count):
        path = folder / f"img_{i:05d}.jpg"
        if not path.exists():
            _make(path, i)
    library = Library.open(library_path)
    for _event in import_paths(library, [folder]):
        pass
    return library


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _fresh_thumbnails() -> None:
    from cnndesk import paths

    shutil.rmtree(paths.thumbnails_dir(), ignore_errors=True)


# ------------------------------------------------------------------------------------- labeling


def bench_labeling(app, workdir: Path, *, images: int, presses: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from cnndesk.domain import ImageQuery, ImageView
    from cnndesk.gui.app import wait_until_settled
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.main_window import MainWindow

    library = library_of(workdir, images)
    for info in library.classes():
        library.remove_class(info.name)
    library.set_labels([r.id for r in library.images()], None)
    library.add_class("cat")
    library.add_class("dog")
    _fresh_thumbnails()
    context = AppContext(library)
    window = MainWindow(context)
    window.resize(1440, 900)
    window.show()
    window.activateWindow()
    wait_until_settled(window, timeout_s=5)
    browser = window.browser
    viewer = window.panes["viewer"]
    browser.view.setFocus()
    total: list[float] = []
    cpu: list[float] = []
    handler: list[float] = []
    full_image: list[float] = []
    for _ in range(presses):
        before = browser.current_record().id
        t0 = time.perf_counter()
        c0 = time.thread_time()
        QTest.keyClick(browser.view, Qt.Key.Key_1)
        t1 = time.perf_counter()
        app.processEvents()  # the repaint of the grid, the viewer and the status bar
        t2 = time.perf_counter()
        cpu.append((time.thread_time() - c0) * 1000)
        current = browser.current_record().id
        assert current != before and viewer.shown.record.id == current
        handler.append((t1 - t0) * 1000)
        total.append((t2 - t0) * 1000)
        deadline = t0 + 2.0
        while not viewer.settled and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.001)
        full_image.append((time.perf_counter() - t0) * 1000)
    labeled = sum(1 for r in library.images() if r.class_id is not None)
    assert labeled == presses, f"{labeled} labeled after {presses} presses"

    # Baseline: write the label, then ask the library for the next unlabeled image.
    naive: list[float] = []
    cat = library.classes()[0]
    unlabeled = ImageQuery(view=ImageView.UNLABELED)
    current_id = library.images(unlabeled)[0].id
    for _ in range(presses):
        t0 = time.perf_counter()
        library.set_labels([current_id], cat.id)
        current_id = library.images(unlabeled)[0].id
        naive.append((time.perf_counter() - t0) * 1000)
    window.context.cancel_jobs()
    window.close()
    library.close()
    return {
        "cnndesk: keypress → next image shown": total,
        "  of which the key handler (label + advance)": handler,
        "  GUI-thread CPU time of keypress → shown": cpu,
        "  full-size image decoded in the viewer": full_image,
        "baseline: label + re-query next unlabeled": naive,
    }


# ------------------------------------------------------------------------------------ scrolling


def _scroll(app, window, *, max_frames: int | None = None) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Wall-clock and GUI-thread CPU milliseconds of each frame of a top-to-bottom scroll."""
    view = window.browser.view
    bar = view.verticalScrollBar()
    bar.setValue(0)
    app.processEvents()
    step = max(view.viewport().height(), 100)
    frames: list[float] = []
    cpu: list[float] = []
    value = 0
    while True:
        t0 = time.perf_counter()
        c0 = time.thread_time()
        bar.setValue(value)
        view.viewport().repaint()  # paint now, as a screen refresh would
        app.processEvents()
        frames.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        if value >= bar.maximum() or (max_frames and len(frames) >= max_frames):
            break
        value = min(value + step, bar.maximum())
        # The rest of a 16 ms frame: the pool loads thumbnails meanwhile.
        spare = 0.016 - (time.perf_counter() - t0)
        if spare > 0:
            time.sleep(spare)
    return frames, cpu


def bench_scrolling(app, workdir: Path, *, images: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QPixmap

    from cnndesk.gui.app import wait_until_settled
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.main_window import MainWindow
    from cnndesk.library import thumbnail

    library = library_of(workdir, images)
    _fresh_thumbnails()
    context = AppContext(library)
    t0 = time.perf_counter()
    window = MainWindow(context)
    window.resize(1440, 900)
    window.show()
    while window.browser.model.rowCount() < images:
        app.processEvents()
        time.sleep(0.002)
    first_rows = (time.perf_counter() - t0) * 1000
    wait_until_settled(window, timeout_s=5)
    wall, cpu = _scroll(app, window)
    worst = max(range(len(wall)), key=wall.__getitem__)
    print(
        f"longest frame: #{worst} of {len(wall)}, {wall[worst]:.0f} ms wall-clock, "
        f"{cpu[worst]:.0f} ms of GUI-thread CPU"
    )
    results = {
        "cnndesk: thumbnails made in background processes": wall,
        "  GUI-thread CPU time per frame": cpu,
    }

    # Baseline: the same view, thumbnails read on the GUI thread inside data().
    loader = window.browser.model.thumbnails
    cache: dict[int, QPixmap] = {}

    def pixmap_now(record):  # type: ignore[no-untyped-def]
        if record.id not in cache:
            cache[record.id] = QPixmap(str(thumbnail(record.path, record.sha256)))
        return cache[record.id]

    loader.pixmap = pixmap_now  # type: ignore[method-assign]
    _fresh_thumbnails()
    wall, cpu = _scroll(app, window, max_frames=150)
    results["baseline: thumbnails loaded in data() (150 frames)"] = wall
    results["  GUI-thread CPU time per frame "] = cpu
    print(f"\n{images:,}-image library: window to all rows in the model: {first_rows:.0f} ms")
    window.context.cancel_jobs()
    window.close()
    library.close()
    return results


def _table(title: str, rows: dict[str, list[float]], *, stall: bool = False) -> None:
    print(f"\n{title}")
    head = "longest" if stall else "max"
    print(f"{'variant':52} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {head + ' ms':>11}")
    for name, values in rows.items():
        print(
            f"{name:52} {len(values):5d} {statistics.median(values):8.1f} "
            f"{_percentile(values, 0.95):8.1f} {max(values):11.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label-images", type=int, default=2000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--scroll-images", type=int, default=20000)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cnndesk-bench-gui"
    )
    parser.add_argument("--skip-scroll", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ["CNNDESK_HOME"] = str(args.workdir / "home")

    from PySide6.QtWidgets import QApplication

    from cnndesk.gui.app import tune_interpreter
    from cnndesk.gui.background import stop_background_work

    app = QApplication(sys.argv[:1])
    tune_interpreter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} cores, load average {load:.1f}, Qt platform {app.platformName()}")
    labeling = bench_labeling(app, args.workdir, images=args.label_images, presses=args.presses)
    _table(
        f"Labeling: {args.presses} presses of '1' on a {args.label_images:,}-image library",
        labeling,
    )
    print("target: keypress → next image p95 ≤ 30 ms")
    if not args.skip_scroll:
        scrolling = bench_scrolling(app, args.workdir, images=args.scroll_images)
        _table(
            f"Scrolling the grid top to bottom ({args.scroll_images:,} images, cold thumbnails): "
            "GUI-thread time per frame",
            scrolling,
            stall=True,
        )
        print("target: longest stall ≤ 50 ms")
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    stop_background_work()


if __name__ == "__main__":
    main()
