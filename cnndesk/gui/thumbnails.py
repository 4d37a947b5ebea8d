"""Loading thumbnails and images off the GUI thread.

:class:`ThumbnailLoader` asks the library's thumbnail cache for an image's thumbnail on a
``QThreadPool`` and hands back a ``QPixmap`` at display size. Views ask from ``data()``, so only
rows that are on screen are ever loaded; the newest request runs first (a scrolled-past row's
request is dropped before it starts), and pixmaps are kept in a bounded LRU cache.

:class:`ImageDecoder` decodes one large image for the viewer, tagging each result with its
request id so a stale decode (the user already pressed on) is dropped.

Results cross threads as signals of a ``QObject`` that lives in the GUI thread, received by bound
``@Slot`` methods (a lambda or free function would run in the pool thread, even with a
queued connection). Workers only make
``QImage`` objects; ``QPixmap`` is made on the GUI thread.
"""

from __future__ import annotations

import functools
import itertools
import logging
import multiprocessing
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

from cnndesk.domain import CnndeskError, ImageRecord
from cnndesk.gui.background import emit_from_pool
from cnndesk.gui.thumbnail_maker import make_thumbnail_pixels, warm_up
from cnndesk.library import thumbnail
from cnndesk.library.imagefile import open_upright

log = logging.getLogger(__name__)

CACHE_LIMIT = 1500
"""Pixmaps kept in memory (about 100 MB at 128 px); the disk cache holds the rest."""
WANTED_LIMIT = 400
"""Only the newest requests still count as wanted: older ones belong to rows scrolled past."""


_THUMBNAIL_POOL: QThreadPool | None = None
_PROCESSES: ProcessPoolExecutor | None = None
_PROCESSES_BROKEN = False


def thumbnail_processes() -> ProcessPoolExecutor | None:
    """The processes that make thumbnails (cores-1 of them); ``None`` where they cannot run.

    Processes, not threads: JPEG decoding holds the GIL for 5-20 ms at a time, which the GUI
    thread would feel as stutter while scrolling. They are started with ``spawn`` (forking a
    process that runs Qt threads is unsafe) and import no Qt. ``spawn`` re-imports the main
    script in each process, so a script that opens the GUI needs the usual
    ``if __name__ == "__main__":`` guard (``cnndesk``, ``python -m cnndesk``, ``main.py``,
    pytest and the ``bench/`` scripts have it).
    """
    global _PROCESSES, _PROCESSES_BROKEN
    if multiprocessing.parent_process() is not None:
        return None  # never a pool inside a pool's process (an unguarded script re-run there)
    if (
        _PROCESSES is None
        and not _PROCESSES_BROKEN
        and not os.environ.get("CNNDESK_THUMBNAIL_THREADS")
    ):
        try:
            _PROCESSES = ProcessPoolExecutor(
                max_workers=max(1, (os.cpu_count() or 2) - 1),
                mp_context=multiprocessing.get_context("spawn"),
            )
            _PROCESSES.submit(warm_up)
        except Exception:  # no processes here (a sandbox, say): threads will do
            log.exception("thumbnail processes cannot start; using threads")
            _PROCESSES_BROKEN = True
            _PROCESSES = None
    return _PROCESSES


def stop_thumbnail_processes() -> None:
    """Cancel queued thumbnails and stop the processes (quitting)."""
    global _PROCESSES
    if _PROCESSES is not None:
        _PROCESSES.shutdown(wait=True, cancel_futures=True)
        _PROCESSES = None


def _processes_failed() -> None:
    global _PROCESSES
    _PROCESSES = None  # a broken pool is replaced on the next request


def thumbnail_pool() -> QThreadPool:
    """Thumbnail loads get all cores but one: the GUI thread keeps a core (and the GIL) to itself."""
    global _THUMBNAIL_POOL
    if _THUMBNAIL_POOL is None:
        _THUMBNAIL_POOL = QThreadPool()
        _THUMBNAIL_POOL.setMaxThreadCount(max(1, (os.cpu_count() or 2) - 1))
        _THUMBNAIL_POOL.setExpiryTimeout(5000)
    return _THUMBNAIL_POOL


def pil_to_qimage(image) -> QImage:  # type: ignore[no-untyped-def]
    """A PIL RGB image as a ``QImage`` that owns its pixels (safe to hand to another thread)."""
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    qimage = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888)
    return qimage.copy()  # detach from ``data``, which Python frees


class _Signals(QObject):
    """Lives in the GUI thread; pool threads emit through it (queued to the receivers)."""

    loaded = Signal(int, int, QImage)  # image id, generation, image
    pixels = Signal(int, int, int, int, bytes)  # image id, generation, width, height, RGB
    failed = Signal(int, int, str)  # image id, generation, reason


class _ThumbnailTask(QRunnable):
    def __init__(
        self, loader: ThumbnailLoader, record: ImageRecord, *, generation: int, side: int
    ) -> None:
        super().__init__()
        self._loader = loader
        self._signals = loader._signals
        self._record = record
        self._generation = generation
        self._side = side

    def run(self) -> None:
        record = self._record
        if not self._loader.still_wanted(record.id, self._generation):
            self._loader.forget(record.id)
            return
        try:
            path = thumbnail(record.path, record.sha256)
            image = QImage(str(path))
            if image.isNull():
                raise CnndeskError("the cached thumbnail cannot be read")
            if max(image.width(), image.height()) > self._side:
                image = image.scaled(
                    QSize(self._side, self._side),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            emit_from_pool(self._signals.loaded, record.id, self._generation, image)
        except CnndeskError as exc:
            emit_from_pool(self._signals.failed, record.id, self._generation, str(exc))
        except Exception as exc:  # a worker boundary: never lose a thumbnail silently
            log.exception("thumbnail of %s failed", record.path)
            emit_from_pool(
                self._signals.failed, record.id, self._generation, f"unexpected error: {exc}"
            )


class ThumbnailLoader(QObject):
    """Thumbnails as pixmaps: cached ones at once, others loaded in the background.

    ``loaded(int)`` and ``failed(int, str)`` name the image whose thumbnail arrived (or cannot be
    made); ``idle()`` is emitted when no load is pending.
    """

    loaded = Signal(int)
    failed = Signal(int, str)
    idle = Signal()

    def __init__(self, *, side: int = 128, pool: QThreadPool | None = None, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._pool = pool or thumbnail_pool()
        self._signals = _Signals(self)
        self._signals.loaded.connect(self._on_task_loaded)
        self._signals.pixels.connect(self._on_task_pixels)
        self._signals.failed.connect(self._on_task_failed)
        self._use_processes = pool is None
        self._futures: dict[int, Future] = {}
        self._side = side
        self._generation = 0
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._errors: dict[int, str] = {}
        self._pending: set[int] = set()
        self._lock = threading.Lock()
        self._wanted: OrderedDict[int, int] = OrderedDict()  # id -> request number
        self._counter = itertools.count(1)

    @property
    def side(self) -> int:
        return self._side

    def set_side(self, side: int) -> None:
        """Change the display size: every cached pixmap is dropped and reloaded on demand."""
        if side != self._side:
            self._side = side
            self.clear()

    def clear(self) -> None:
        """Forget all pixmaps and pending requests (results of older requests are dropped)."""
        for future in list(self._futures.values()):
            future.cancel()
        self._generation += 1
        self._cache.clear()
        self._errors.clear()
        with self._lock:
            self._pending.clear()
            self._wanted.clear()

    def pixmap(self, record: ImageRecord) -> QPixmap | None:
        """The thumbnail if it is in memory; else ``None`` and a background load is queued."""
        cached = self._cache.get(record.id)
        if cached is not None:
            self._cache.move_to_end(record.id)
            return cached
        if record.id not in self._errors:
            self.request(record)
        return None

    def error(self, image_id: int) -> str | None:
        """Why this image has no thumbnail, if its load failed."""
        return self._errors.get(image_id)

    def request(self, record: ImageRecord) -> None:
        number = next(self._counter)
        evicted: list[int] = []
        with self._lock:
            self._wanted[record.id] = number
            self._wanted.move_to_end(record.id)
            while len(self._wanted) > WANTED_LIMIT:
                evicted.append(self._wanted.popitem(last=False)[0])
            if record.id in self._pending:
                return
            self._pending.add(record.id)
        for image_id in evicted:  # scrolled past: drop it unless it is already being made
            future = self._futures.get(image_id)
            if future is not None:
                future.cancel()
        processes = thumbnail_processes() if self._use_processes else None
        if processes is not None:
            try:
                future = processes.submit(
                    make_thumbnail_pixels,
                    record.path,
                    record.sha256,
                    self._side,
                    os.environ.get("CNNDESK_HOME"),
                )
            except (BrokenProcessPool, RuntimeError):
                _processes_failed()
            else:
                self._futures[record.id] = future
                future.add_done_callback(
                    functools.partial(self._on_future_done, record.id, self._generation)
                )
                return
        task = _ThumbnailTask(self, record, generation=self._generation, side=self._side)
        # Newest first: a fast scroll leaves older requests queued behind the visible rows.
        self._pool.start(task, number % 1_000_000_000)

    def _on_future_done(self, image_id: int, generation: int, future: Future) -> None:
        """Runs in the executor's thread (or here, when cancelled): hand over to the GUI thread."""
        if future.cancelled():
            self.forget(image_id)
            return
        try:
            width, height, data = future.result()
        except CnndeskError as exc:
            emit_from_pool(self._signals.failed, image_id, generation, str(exc))
        except BrokenProcessPool:
            _processes_failed()
            emit_from_pool(
                self._signals.failed, image_id, generation, "the thumbnail process stopped"
            )
        except Exception as exc:  # a worker boundary: never lose a thumbnail silently
            log.error("thumbnail of image %d failed: %s", image_id, exc)
            emit_from_pool(self._signals.failed, image_id, generation, f"unexpected error: {exc}")
        else:
            emit_from_pool(self._signals.pixels, image_id, generation, width, height, data)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # Called from pool threads -------------------------------------------------------------

    def still_wanted(self, image_id: int, generation: int) -> bool:
        with self._lock:
            return generation == self._generation and image_id in self._wanted

    def forget(self, image_id: int) -> None:
        with self._lock:
            self._futures.pop(image_id, None)
            self._pending.discard(image_id)
            idle = not self._pending
        if idle:
            emit_from_pool(self._signals.failed, -1, -1, "")  # wakes the GUI thread to report idle

    # GUI thread ----------------------------------------------------------------------------

    @Slot(int, int, int, int, bytes)
    def _on_task_pixels(
        self, image_id: int, generation: int, width: int, height: int, data: bytes
    ) -> None:
        image = QImage(data, width, height, width * 3, QImage.Format.Format_RGB888)
        self._on_task_loaded(image_id, generation, image)

    @Slot(int, int, QImage)
    def _on_task_loaded(self, image_id: int, generation: int, image: QImage) -> None:
        self._futures.pop(image_id, None)
        with self._lock:
            self._pending.discard(image_id)
            idle = not self._pending
        if generation == self._generation:
            self._cache[image_id] = QPixmap.fromImage(image)
            while len(self._cache) > CACHE_LIMIT:
                self._cache.popitem(last=False)
            self.loaded.emit(image_id)
        if idle:
            self.idle.emit()

    @Slot(int, int, str)
    def _on_task_failed(self, image_id: int, generation: int, reason: str) -> None:
        self._futures.pop(image_id, None)
        with self._lock:
            self._pending.discard(image_id)
            idle = not self._pending
        if image_id >= 0 and generation == self._generation:
            self._errors[image_id] = reason
            self.failed.emit(image_id, reason)
        if idle:
            self.idle.emit()


# ------------------------------------------------------------------------------ full images


class _DecodeSignals(QObject):
    decoded = Signal(int, QImage)  # request id, image
    failed = Signal(int, str)


class _DecodeTask(QRunnable):
    def __init__(self, signals: _DecodeSignals, request: int, path: str, max_side: int) -> None:
        super().__init__()
        self._signals = signals
        self._request = request
        self._path = path
        self._max_side = max_side

    def run(self) -> None:
        try:
            image = open_upright(self._path, max_side=self._max_side)
            if max(image.size) > self._max_side:
                image.thumbnail((self._max_side, self._max_side))
            emit_from_pool(self._signals.decoded, self._request, pil_to_qimage(image))
        except CnndeskError as exc:
            emit_from_pool(self._signals.failed, self._request, str(exc))
        except Exception as exc:  # a worker boundary
            log.exception("decoding %s failed", self._path)
            emit_from_pool(self._signals.failed, self._request, f"unexpected error: {exc}")


class ImageDecoder(QObject):
    """Decodes one image at a time for display; only the newest request's result is delivered.

    ``decoded(int, QImage)`` and ``failed(int, str)`` carry the request id :meth:`decode` returned.
    """

    decoded = Signal(int, QImage)
    failed = Signal(int, str)

    def __init__(self, *, pool: QThreadPool | None = None, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._signals = _DecodeSignals(self)
        self._signals.decoded.connect(self._on_task_decoded)
        self._signals.failed.connect(self._on_task_failed)
        self._latest = 0

    def decode(self, path: str, *, max_side: int = 2048) -> int:
        self._latest += 1
        self._pool.start(_DecodeTask(self._signals, self._latest, path, max_side), 1_000_000_001)
        return self._latest

    @property
    def latest(self) -> int:
        return self._latest

    @Slot(int, QImage)
    def _on_task_decoded(self, request: int, image: QImage) -> None:
        if request == self._latest:
            self.decoded.emit(request, image)

    @Slot(int, str)
    def _on_task_failed(self, request: int, reason: str) -> None:
        if request == self._latest:
            self.failed.emit(request, reason)
