"""Opening a library file: the engine, the per-connection pragmas, and schema migration.

A file is checked read-only before anything writes to it (:func:`probe_library_file`): it must
be empty, or an SQLite database that cnndesk made (its ``application_id`` is
:data:`APPLICATION_ID`, or, for libraries older than that mark, a ``meta`` table saying
``created_by cnndesk …`` beside cnndesk's tables) with a schema version this cnndesk reads.
Anything else is refused unchanged: not switched to WAL, not migrated, no ``-wal``/``-shm`` left.
A library that cannot be written (a read-only file or folder, or ``read_only=True``) opens for
reading; a write then fails with "this library is read-only".

Every writable SQLite connection gets ``journal_mode=WAL``, ``synchronous=NORMAL``,
``foreign_keys=ON`` and a ``busy_timeout``. Write transactions start with ``BEGIN IMMEDIATE``
(emitted from SQLAlchemy's ``begin`` event, since Python's sqlite3 sends no BEGIN itself): a
deferred transaction that upgrades to a write can fail with SQLITE_BUSY without waiting for the
busy timeout. A PostgreSQL URL
works too; then none of the SQLite specifics apply.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
)

from cnndesk import __version__
from cnndesk.domain import LibraryError
from cnndesk.library.schema import MIGRATIONS, SCHEMA_VERSION, Base, Meta

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
APPLICATION_ID = 0x636E6E64
"""``PRAGMA application_id`` of every cnndesk library ("cnnd"): what marks a file as ours."""
URL_SCHEMES = ("sqlite", "postgresql")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_V1_TABLES = frozenset(
    {"meta", "images", "known_files", "classes", "labels", "runs", "predictions"}
)
"""The tables every cnndesk library has had since schema version 1."""


@dataclass(frozen=True)
class LibraryFile:
    """What :func:`probe_library_file` found, without writing anything."""

    path: Path
    version: int
    """The schema version (0: a new or empty file)."""
    marked: bool
    """Carries cnndesk's ``application_id`` already."""
    writable: bool


def library_url(location: str | Path) -> str:
    """A SQLAlchemy URL for a library path (or the URL itself when one is given)."""
    value = str(location)
    if "://" in value:
        scheme = value.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme not in URL_SCHEMES:
            raise LibraryError(
                f"{value!r} is neither a library file nor a database URL cnndesk opens: give a"
                " file path, sqlite:///PATH or postgresql://USER@HOST/DB."
            )
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[1]
    if rest in ("", "/", "/:memory:"):
        return None
    return Path(rest.removeprefix("/")).expanduser().resolve()


def can_write(path: Path) -> bool:
    """Whether the library file (and its folder, for the WAL's side files) can be written."""
    folder = path.parent
    if path.exists() and not os.access(path, os.W_OK):
        return False
    return os.access(folder, os.W_OK)


def _not_ours(path: Path, why: str) -> LibraryError:
    return LibraryError(
        f"{path} is not a cnndesk library ({why}); it was left unchanged. Choose a library"
        " file cnndesk made, or a new file name to start one."
    )


def probe_library_file(path: Path) -> LibraryFile:
    """Check, reading only, that ``path`` is a new, empty or cnndesk library file we can open."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise LibraryError(
                f"Cannot create the library {path}: its folder does not exist."
            ) from None
        return LibraryFile(path, 0, False, can_write(path))
    except OSError as exc:
        raise LibraryError(f"Cannot open the library {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(status.st_mode):
        raise _not_ours(path, "it is not a regular file")
    writable = can_write(path)
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise LibraryError(f"Cannot read the library {path}: {exc.strerror or exc}") from exc
    if not header:
        return LibraryFile(path, 0, False, writable)
    if not header.startswith(_SQLITE_MAGIC) or len(header) < 100:
        raise _not_ours(path, "it is not an SQLite database")
    wal = header[18] == 2 and header[19] == 2
    try:
        application_id, tables, meta = _read_tables_and_meta(path, wal=wal, writable=writable)
    except sqlite3.DatabaseError as exc:
        raise LibraryError(
            f"{path} cannot be read as a library ({exc}); it was left unchanged."
        ) from exc
    if application_id not in (0, APPLICATION_ID):
        raise _not_ours(path, f"it is the database of another program, id {application_id:#x}")
    if not tables and application_id == 0:
        return LibraryFile(path, 0, False, writable)  # an empty SQLite file: start a library
    if not tables >= _V1_TABLES or meta is None:
        raise _not_ours(path, "an SQLite database without cnndesk's tables")
    if application_id != APPLICATION_ID and not meta.get("created_by", "").startswith("cnndesk"):
        raise _not_ours(path, "its meta table was not written by cnndesk")
    version = parse_schema_version(meta.get("schema_version"), path)
    return LibraryFile(path, version, application_id == APPLICATION_ID, writable)


def _read_tables_and_meta(
    path: Path, *, wal: bool, writable: bool
) -> tuple[int, set[str], dict[str, str] | None]:
    # mode=ro never writes the file. A WAL-mode file without a -wal beside it has everything in
    # the main file: open it immutable, so not even a -shm is created (in a read-only folder too).
    immutable = wal and (not Path(f"{path}-wal").exists() or not writable)
    uri = f"file:{quote(str(path))}?{'immutable=1' if immutable else 'mode=ro'}"
    with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)) as db:
        # Read from SQLite, not the file's header: a newer page 1 may still be in the -wal.
        application_id = int(db.execute("PRAGMA application_id").fetchone()[0])
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "meta" not in tables:
            return application_id, tables, None
        try:
            rows = db.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError:  # a meta table with other columns
            return application_id, tables, None
    return application_id, tables, {str(k): v if isinstance(v, str) else repr(v) for k, v in rows}


def parse_schema_version(value: object, where: object) -> int:
    """A stored schema version: a whole number from 1 to :data:`SCHEMA_VERSION` (or refused)."""
    text_value = value if isinstance(value, str) else None
    if text_value is None or not text_value.isascii() or not text_value.isdigit():
        raise LibraryError(
            f"The library {where} records the schema version {value!r}, which no cnndesk writes:"
            " the file is damaged. It was left unchanged; restore a backup of it."
        )
    version = int(text_value)
    if version > SCHEMA_VERSION:
        raise LibraryError(
            f"This library was made by a newer cnndesk (schema {version}; this one reads up "
            f"to {SCHEMA_VERSION}). Update cnndesk to open it."
        )
    if version < 1:
        raise LibraryError(
            f"The library {where} records the schema version {version}, which does not exist:"
            " the file is damaged. It was left unchanged; restore a backup of it."
        )
    return version


def make_engine(location: str | Path, *, read_only: bool | None = None) -> Engine:
    """Create the engine for a library, with the pragmas and transaction behaviour we rely on.

    A SQLite file is probed first (:func:`probe_library_file`); it opens read-only when it
    cannot be written or ``read_only`` is true. ``engine.info`` holds ``read_only`` and, for
    SQLite, the probe (``library_file``).
    """
    url = library_url(location)
    path = _sqlite_path(url)
    probe = probe_library_file(path) if path is not None else None
    if read_only is None:
        read_only = probe is not None and not probe.writable
    if read_only and probe is not None and probe.version == 0:
        raise LibraryError(f"Cannot create the library {path}: its folder or file is read-only.")
    if probe is not None and read_only:
        # Nobody can be writing a file this process cannot write either (and with no -wal there
        # is nothing beyond the main file): immutable creates no -shm, in a read-only folder too.
        immutable = not Path(f"{path}-wal").exists() and not can_write(path)
        mode = "immutable=1" if immutable else "mode=ro"
        url = f"sqlite:///file:{quote(str(path))}?{mode}&uri=true"
    try:
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if path is not None else {}
        )
    except (ArgumentError, NoSuchModuleError) as exc:
        raise LibraryError(f"Cannot open the library {location}: {exc}") from exc
    engine.cnndesk_read_only = bool(read_only)  # type: ignore[attr-defined]
    engine.cnndesk_file = probe  # type: ignore[attr-defined]
    if url.startswith("sqlite"):
        _install_sqlite_events(engine, read_only=bool(read_only))
    return engine


def is_read_only(engine: Engine) -> bool:
    """Whether the library behind ``engine`` was opened for reading only."""
    return bool(getattr(engine, "cnndesk_read_only", False))


def library_file(engine: Engine) -> LibraryFile | None:
    """What the read-only check found for a SQLite library (``None`` for other databases)."""
    return getattr(engine, "cnndesk_file", None)


def _install_sqlite_events(engine: Engine, *, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's legacy mode would not).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.close()
            return
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("cnndesk_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One committed write transaction: everything inside lands together or not at all.

    A write the database refuses (busy, disk full, a broken constraint) is a
    :class:`~cnndesk.domain.LibraryError` saying so, and nothing of the transaction lands.
    """
    if is_read_only(engine):
        raise LibraryError(
            f"this library is read-only: {engine.url.database or engine.url} cannot be changed"
            " (its file or folder is not writable). Fix its permissions, or open a copy."
        )
    try:
        with engine.connect() as raw:
            connection = raw.execution_options(cnndesk_write=True)
            with connection.begin():
                yield connection
    except OperationalError as exc:
        raise LibraryError(_explain(exc)) from exc
    except IntegrityError as exc:
        raise LibraryError(
            f"The library refused a change that conflicts with what it holds ({exc.orig});"
            " nothing was changed."
        ) from exc


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent snapshot for reading."""
    try:
        with engine.connect() as connection, connection.begin():
            yield connection
    except OperationalError as exc:
        raise LibraryError(_explain(exc)) from exc


def _explain(exc: Exception) -> str:
    message = str(getattr(exc, "orig", exc))
    if "disk" in message.lower() and "full" in message.lower():
        return "The disk holding the library is full; free some space and try again."
    if "locked" in message.lower() or "busy" in message.lower():
        return "The library is busy in another program; try again in a moment."
    if "readonly" in message.lower() or "read-only" in message.lower():
        return "The library file is read-only; open a copy or fix its permissions."
    return f"The library could not be read or written: {message}"


def schema_version(connection: Connection) -> int:
    """The version of an open library (0 for an empty file)."""
    if not connection.dialect.has_table(connection, Meta.__tablename__):
        tables = connection.dialect.get_table_names(connection)
        if tables:
            raise LibraryError("This file is an SQLite database, but not a cnndesk library.")
        return 0
    rows = dict(connection.execute(select(Meta.key, Meta.value)).all())
    tables = set(connection.dialect.get_table_names(connection))
    if not tables >= _V1_TABLES or not str(rows.get("created_by", "")).startswith("cnndesk"):
        raise LibraryError("This database has a meta table, but it is not a cnndesk library.")
    return parse_schema_version(rows.get("schema_version"), "database")


def migrate(engine: Engine) -> int:
    """Bring the library to :data:`SCHEMA_VERSION`; return the version it had before.

    Writes nothing when the library is current already (and marked as cnndesk's). A read-only
    library that would need upgrading is refused: upgrading writes.
    """
    probe = library_file(engine)
    if (
        probe is not None
        and probe.version == SCHEMA_VERSION
        and (probe.marked or is_read_only(engine))
    ):
        return probe.version
    if is_read_only(engine):
        raise LibraryError(
            f"this library is read-only, and it was made by an older cnndesk (schema"
            f" {probe.version if probe else '?'}): opening it here means upgrading it, which"
            " writes to it. Fix its permissions, or open a copy."
        )
    try:
        with write_transaction(engine) as connection:
            before = schema_version(connection)
            if engine.url.get_backend_name() == "sqlite":
                connection.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
            for version in range(before, SCHEMA_VERSION):
                log.info("Migrating library schema %d -> %d", version, version + 1)
                MIGRATIONS[version](connection)
            if before != SCHEMA_VERSION:
                _set_meta(connection, "schema_version", str(SCHEMA_VERSION))
                if before == 0:
                    _set_meta(connection, "created_by", f"cnndesk {__version__}")
            return before
    except DatabaseError as exc:
        raise LibraryError(
            f"This file is not a cnndesk library, or it is damaged: {exc.orig}"
        ) from exc


def _set_meta(connection: Connection, key: str, value: str) -> None:
    table = Meta.__table__
    connection.execute(table.delete().where(table.c.key == key))
    connection.execute(table.insert().values(key=key, value=value))


def integrity_ok(engine: Engine) -> bool:
    """SQLite's own integrity check (always true elsewhere)."""
    if not engine.url.get_backend_name().startswith("sqlite"):
        return True
    with engine.connect() as connection:
        return connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"


__all__ = [
    "Base",
    "integrity_ok",
    "make_engine",
    "migrate",
    "read_transaction",
    "write_transaction",
]
