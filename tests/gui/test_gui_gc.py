"""Cyclic garbage is collected by the GUI thread's timer, never by a worker thread."""

from __future__ import annotations

import gc
import threading
import weakref

from cnndesk.gui.gui_gc import GuiThreadCollector, collect_in_gui_thread


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector can free it


def test_a_worker_thread_never_runs_a_collection_the_gui_timer_does(qtbot, qapp) -> None:  # type: ignore[no-untyped-def]
    assert not gc.isenabled()  # the GUI tests run as the app does (tests/gui/conftest.py)
    threads: list[str] = []

    def seen(phase: str, _info: dict) -> None:
        if phase == "start":
            threads.append(threading.current_thread().name)

    gc.callbacks.append(seen)
    try:
        node = _Node()
        gone = weakref.ref(node)
        del node
        worker = threading.Thread(
            target=lambda: [_Node() for _ in range(50_000)], name="worker"
        )  # far past every threshold
        worker.start()
        worker.join()
        assert "worker" not in threads and gone() is not None  # nothing collected there
        qtbot.waitUntil(lambda: gone() is None, timeout=5000)  # the GUI thread's timer did
        assert threads and set(threads) == {threading.main_thread().name}
    finally:
        gc.callbacks.remove(seen)


def test_the_app_starts_one_collector_and_gives_collection_back_on_stop(qapp) -> None:  # type: ignore[no-untyped-def]
    first = collect_in_gui_thread(qapp)
    assert collect_in_gui_thread(qapp) is first
    first.stop()  # what aboutToQuit does: gc as it was when the app's collector started
    assert not gc.isenabled()  # (off: this test's own collector, conftest, holds it off)
    first.setParent(None)
    first.deleteLater()
    standalone = GuiThreadCollector()
    gc.enable()
    standalone.start()
    assert not gc.isenabled()
    standalone.stop()
    assert gc.isenabled()
    gc.disable()  # back to the conftest collector's state
