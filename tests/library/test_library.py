"""The library file: classes, labels and undo, suggestions, schema versions, durability."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnndesk.domain import ImageQuery, ImageView, LibraryError
from cnndesk.library import Library, import_paths
from cnndesk.library.schema import SCHEMA_VERSION
from tests.conftest import make_image


@pytest.fixture
def library(tmp_path: Path) -> Library:
    for i in range(6):
        make_image(tmp_path / "pics" / f"img{i}.png", colour=(40 * i, 10, 10))
    lib = Library.open()
    list(import_paths(lib, [tmp_path / "pics"]))
    return lib


def test_class_names_are_stored_exactly_as_typed(library: Library) -> None:
    for name in ["../../escaped", "a/b\\c", " spaced out ", "猫 ünïcødé", ".."]:
        library.add_class(name)
    assert [c.name for c in library.classes()] == [
        "../../escaped",
        "a/b\\c",
        " spaced out ",
        "猫 ünïcødé",
        "..",
    ]
    with pytest.raises(LibraryError, match="already exists"):
        library.add_class("..")
    with pytest.raises(LibraryError, match="needs a name"):
        library.add_class("   ")


def test_hotkeys_are_unique_and_digits_stay_positional(library: Library) -> None:
    library.add_class("cat", hotkey="c")
    assert library.require_class("cat").hotkey == "C"
    with pytest.raises(LibraryError, match="already labels"):
        library.add_class("cow", hotkey="C")
    with pytest.raises(LibraryError, match="1–9"):
        library.add_class("one", hotkey="1")


def test_labels_undo_and_class_removal(library: Library) -> None:
    cat = library.add_class("cat")
    dog = library.add_class("dog")
    ids = [r.id for r in library.images()]
    library.set_labels(ids[:3], cat.id)
    previous = library.set_labels(ids[:2], dog.id)
    assert previous == {ids[0]: cat.id, ids[1]: cat.id}
    assert library.stats().classes == {"cat": 1, "dog": 2}
    library.restore_labels(previous)
    assert library.stats().classes == {"cat": 3, "dog": 0}
    assert library.remove_class("cat") == 3
    stats = library.stats()
    assert stats.classes == {"dog": 0} and stats.unlabeled == 6


def test_rename_keeps_labels(library: Library) -> None:
    cat = library.add_class("cat")
    library.set_labels([library.images()[0].id], cat.id)
    library.rename_class("cat", "kitten")
    assert library.stats().classes == {"kitten": 1}
    with pytest.raises(LibraryError, match="no class named"):
        library.rename_class("cat", "x")


def test_filters_and_search(library: Library) -> None:
    cat = library.add_class("cat")
    dog = library.add_class("dog")
    images = library.images()
    library.set_labels([images[0].id, images[1].id], cat.id)
    library.set_suggestions(
        [(images[1].id, "dog", 0.9), (images[2].id, "cat", 0.55), (images[3].id, "dog", 0.2)]
    )
    assert len(library.images(ImageQuery(view=ImageView.UNLABELED))) == 4
    assert [r.id for r in library.images(ImageQuery(view=ImageView.CLASS, class_id=cat.id))] == [
        images[0].id,
        images[1].id,
    ]
    assert [r.id for r in library.images(ImageQuery(view=ImageView.MISCLASSIFIED))] == [
        images[1].id
    ]
    assert {
        r.id for r in library.images(ImageQuery(view=ImageView.PREDICTED, class_id=dog.id))
    } == {images[1].id, images[3].id}
    low = {
        r.id
        for r in library.images(ImageQuery(view=ImageView.LOW_CONFIDENCE, confidence_below=0.6))
    }
    assert low == {images[2].id, images[3].id}
    assert [r.name for r in library.images(ImageQuery(search="IMG3"))] == ["img3.png"]
    chosen = (images[1].id, images[4].id)
    assert [r.id for r in library.images(ImageQuery(image_ids=chosen))] == list(chosen)
    assert [
        r.id for r in library.images(ImageQuery(view=ImageView.UNLABELED, image_ids=chosen))
    ] == [images[4].id]


def test_suggestions_never_overwrite_human_labels_and_order_the_queue(library: Library) -> None:
    cat = library.add_class("cat")
    images = library.images()
    library.set_labels([images[0].id], cat.id)
    library.set_suggestions(
        [(images[0].id, "dog", 0.99), (images[1].id, "dog", 0.7), (images[2].id, "cat", 0.51)]
    )
    assert library.image(images[0].id).class_id == cat.id
    queue = library.unlabeled_queue()
    assert [r.id for r in queue[:2]] == [images[2].id, images[1].id]
    assert library.class_by_name("dog") is not None
    previous = library.accept_suggestions([images[1].id])
    assert library.image(images[1].id).class_id == library.require_class("dog").id
    library.restore_labels(previous)
    assert library.image(images[1].id).class_id is None


def test_training_set_holds_labeled_readable_images_only(library: Library) -> None:
    cat = library.add_class("cat")
    library.add_class("empty class")
    dog = library.add_class("dog")
    images = library.images()
    library.set_labels([r.id for r in images[:3]], cat.id)
    library.set_labels([images[3].id], dog.id)
    library.mark_unreadable([images[0].id])
    training = library.training_set()
    assert training.classes == ("cat", "dog")
    assert training.total == 3
    labels = sorted(s.label for s in training.train + training.val + training.test)
    assert labels == [0, 0, 1]


def test_runs_and_predictions_round_trip(library: Library) -> None:
    run_id = library.create_run(
        {"backbone": "simple-cnn"}, dataset=[{"key": "abc", "class": "cat"}]
    )
    library.finish_run(run_id, status="done", metrics={"val_accuracy": 0.9}, model_path="/m")
    (run,) = library.runs()
    assert (run.status, run.metrics["val_accuracy"], run.model_path) == ("done", 0.9, "/m")
    image = library.images()[0]
    library.store_predictions(
        model_path="/m",
        run_id=run_id,
        rows=[
            {
                "image_id": image.id,
                "class": "cat",
                "confidence": 0.8,
                "probabilities": {"cat": 0.8, "dog": 0.2},
                "loss": 0.2,
            }
        ],
    )
    (prediction,) = library.predictions(run_id=run_id)
    assert prediction["path"] == image.path and prediction["probabilities"]["dog"] == 0.2


def test_connection_settings(library: Library) -> None:
    with library.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_schema_version_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "lib.cnndesk"
    Library.open(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("select value from meta where key='schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
        db.execute("update meta set value='999' where key='schema_version'")
    with pytest.raises(LibraryError, match="newer cnndesk"):
        Library.open(path)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("create table accounts (id integer)")
    with pytest.raises(LibraryError, match="not a cnndesk library"):
        Library.open(other)
    junk = tmp_path / "junk.cnndesk"
    junk.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(LibraryError):
        Library.open(junk)


def test_a_label_survives_a_killed_process(tmp_path: Path) -> None:
    """Every action is committed when it returns: SIGKILL right after loses nothing."""
    make_image(tmp_path / "pics" / "a.png")
    path = tmp_path / "lib.cnndesk"
    script = textwrap.dedent(
        f"""
        import os, signal
        from cnndesk.library import Library, import_paths
        lib = Library.open({str(path)!r})
        list(import_paths(lib, [{str(tmp_path / "pics")!r}]))
        cat = lib.add_class("cat")
        lib.set_labels([lib.images()[0].id], cat.id)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert run.returncode == -9
    library = Library.open(path)
    assert library.stats().classes == {"cat": 1}
    assert library.integrity_ok()


def test_backup_is_a_consistent_copy(library: Library, tmp_path: Path) -> None:
    library.add_class("cat")
    copy = Library.open(library.backup(tmp_path / "backup.cnndesk"))
    assert copy.stats() == library.stats()
