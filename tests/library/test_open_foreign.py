"""Opening something that is not a cnndesk library leaves it exactly as it was.

The check is read-only: a foreign SQLite database (even one with a ``meta(key, value)`` table),
a photo, a text file, a damaged schema version or a URL of an unknown kind is refused with one
clear line, and the file's bytes are the same afterwards, with no ``-wal``/``-shm`` beside it.
A library that cannot be written opens for reading; a write says it is read-only.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from cnndesk.cli import main
from cnndesk.domain import LibraryError
from cnndesk.library import Library, database
from cnndesk.library.schema import SCHEMA_VERSION
from tests.conftest import make_image


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def _sqlite(path: Path, *statements: str, wal: bool = False) -> Path:
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()
    return path


def _refused_unchanged(path: Path, match: str) -> str:
    before, files_before = sha(path), side_files(path)
    with pytest.raises(LibraryError, match=match) as caught:
        Library.open(path)
    assert sha(path) == before
    assert side_files(path) == files_before  # no -wal, no -shm, no journal
    assert "\n" not in str(caught.value)
    return str(caught.value)


FOREIGN = {
    "meta(key, value) of another program": (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
        "INSERT INTO meta VALUES ('version', '3')",
    ),
    "meta with a schema_version of its own": (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
        "INSERT INTO meta VALUES ('schema_version', '1')",
    ),
    "meta and every cnndesk table name, not made by cnndesk": (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
        "INSERT INTO meta VALUES ('schema_version', '1')",
        *(
            f"CREATE TABLE {t} (id INTEGER)"
            for t in ("images", "known_files", "classes", "labels", "runs", "predictions")
        ),
    ),
    "meta with other columns": ("CREATE TABLE meta (a INTEGER, b INTEGER)",),
    "an accounts database": ("CREATE TABLE accounts (id INTEGER, balance REAL)",),
    "another program's application_id": (
        "PRAGMA application_id = 1234",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    ),
}


@pytest.mark.parametrize("kind", list(FOREIGN))
@pytest.mark.parametrize("wal", [False, True], ids=["rollback", "wal"])
def test_a_foreign_sqlite_file_is_refused_unchanged(tmp_path: Path, kind: str, wal: bool) -> None:
    path = _sqlite(tmp_path / "other.db", *FOREIGN[kind], wal=wal)
    message = _refused_unchanged(path, "not a cnndesk library")
    assert "left unchanged" in message
    with sqlite3.connect(path) as db:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == ("wal" if wal else "delete")  # never switched to WAL by cnndesk


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("photo.jpg", lambda p: make_image(p)),
        ("notes.txt", lambda p: p.write_text("shopping list\n" * 50)),
        ("short.db", lambda p: p.write_bytes(b"SQLite format 3\x00")),
        ("zeros.cnndesk", lambda p: p.write_bytes(bytes(4096))),
    ],
)
def test_a_file_that_is_no_database_is_refused_unchanged(tmp_path: Path, name: str, make) -> None:
    path = tmp_path / name
    make(path)
    _refused_unchanged(path, "not an SQLite database")


def test_the_cli_refuses_a_photo_as_library_in_one_line(tmp_path: Path, capsys) -> None:
    photo = make_image(tmp_path / "photo.jpg")
    before = sha(photo)
    assert main(["--library", str(photo), "stats"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a cnndesk library" in err[0] and "Traceback" not in err[0]
    assert sha(photo) == before


def test_a_folder_is_not_a_library(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="not a regular file"):
        Library.open(tmp_path)


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", " 1", "0", "١"])
def test_a_damaged_schema_version_is_refused_unchanged(tmp_path: Path, value: str) -> None:
    path = tmp_path / "lib.cnndesk"
    Library.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    message = _refused_unchanged(path, "damaged|does not exist")
    assert repr(value) in message or value in message
    assert "restore a backup" in message


def test_a_newer_schema_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "lib.cnndesk"
    Library.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    _refused_unchanged(path, "newer cnndesk")


@pytest.mark.parametrize("url", ["foo://bar", "http://example.com/lib", "mysql://u@h/db"])
def test_a_url_of_an_unknown_kind_gets_a_clear_message(url: str, capsys) -> None:
    assert main(["--library", url, "stats"]) == 1
    err = capsys.readouterr().err
    assert "neither a library file nor a database URL" in err
    assert "unexpected" not in err and "Traceback" not in err


def test_a_library_made_before_the_mark_still_opens_and_keeps_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "old.cnndesk"
    make_image(tmp_path / "pics" / "a.png")
    with Library.open(path) as library:
        from cnndesk.library import import_paths
        from tests.conftest import result_of

        result_of(import_paths(library, [tmp_path / "pics"]))
        cat = library.add_class("cat")
        library.set_labels([library.images()[0].id], cat.id)
    with sqlite3.connect(path) as db:  # what a library of the previous cnndesk looks like
        db.execute("PRAGMA application_id = 0")
    with Library.open(path) as library:
        assert library.stats().classes == {"cat": 1}
        assert library.integrity_ok()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == database.APPLICATION_ID


def test_an_empty_file_becomes_a_library(tmp_path: Path) -> None:
    path = tmp_path / "new.cnndesk"
    path.touch()
    with Library.open(path) as library:
        assert library.add_class("dog").name == "dog"
    with Library.open(path) as library:
        assert [c.name for c in library.classes()] == ["dog"]


def test_opening_a_current_library_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lib.cnndesk"
    with Library.open(path) as library:
        library.add_class("dog")
    before = sha(path)
    with Library.open(path) as library:
        assert library.stats().classes == {"dog": 0}
    assert sha(path) == before


# ------------------------------------------------------------------------------- read-only


@pytest.fixture
def labeled(tmp_path: Path) -> Path:
    from cnndesk.library import import_paths
    from tests.conftest import result_of

    path = tmp_path / "lib" / "lib.cnndesk"
    path.parent.mkdir()
    make_image(tmp_path / "pics" / "a.png")
    make_image(tmp_path / "pics" / "b.png", colour=(0, 0, 200))
    with Library.open(path) as library:
        result_of(import_paths(library, [tmp_path / "pics"]))
        cat = library.add_class("cat")
        library.set_labels([library.images()[0].id], cat.id)
        run = library.create_run({"backbone": "x", "mode": "quick"})
        library.finish_run(run, status="done", metrics={"val_accuracy": 0.5}, model_path=None)
    return path


def test_a_read_only_library_opens_for_reading_and_refuses_writes(labeled: Path) -> None:
    before = sha(labeled)
    with Library.open(labeled, read_only=True) as library:
        assert library.read_only
        assert library.stats().classes == {"cat": 1}
        assert [c.name for c in library.classes()] == ["cat"]
        assert [r.status for r in library.runs()] == ["done"]
        with pytest.raises(LibraryError, match="this library is read-only"):
            library.add_class("dog")
        with pytest.raises(LibraryError, match="this library is read-only"):
            library.set_labels([library.images()[1].id], library.classes()[0].id)
    assert sha(labeled) == before


def test_a_library_in_a_read_only_folder_opens_for_reading(
    labeled: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    os.chmod(labeled, 0o444)
    os.chmod(labeled.parent, 0o555)
    try:
        if os.geteuid() == 0:  # root writes anyway: make cnndesk see what a user would see
            monkeypatch.setattr(database, "can_write", lambda path: False)
        before = sha(labeled)
        assert main(["--library", str(labeled), "stats", "--json"]) == 0
        assert '"cat": 1' in capsys.readouterr().out
        assert main(["--library", str(labeled), "runs"]) == 0
        assert "done" in capsys.readouterr().out
        assert main(["--library", str(labeled), "classes", "add", "dog"]) == 1
        err = capsys.readouterr().err
        assert "this library is read-only" in err and "Traceback" not in err
        assert sha(labeled) == before
    finally:
        os.chmod(labeled.parent, 0o755)
        os.chmod(labeled, 0o644)


def test_a_read_only_place_cannot_start_a_new_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "can_write", lambda path: False)
    with pytest.raises(LibraryError, match="read-only"):
        Library.open(tmp_path / "new.cnndesk")
    assert not (tmp_path / "new.cnndesk").exists()
