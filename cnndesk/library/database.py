"""Opening a library file: the engine, the per-connection pragmas, and schema migration.

Every SQLite connection gets ``journal_mode=WAL``, ``synchronous=NORMAL``, ``foreign_keys=ON`` and
a ``busy_timeout``. Write transactions start with ``BEGIN IMMEDIATE`` (see ``NOTES.md``: a deferred
transaction that upgrades to a write can fail with SQLITE_BUSY without waiting). A PostgreSQL URL
works too; then none of the SQLite specifics apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.exc import DatabaseError, OperationalError

from cnndesk import __version__
from cnndesk.domain import LibraryError
from cnndesk.library.schema import MIGRATIONS, SCHEMA_VERSION, Base, Meta

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


def library_url(location: str | Path) -> str:
    """A SQLAlchemy URL for a library path (or the URL itself when one is given)."""
    value = str(location)
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def make_engine(location: str | Path) -> Engine:
    """Create the engine for a library, with the pragmas and transaction behaviour we rely on."""
    url = library_url(location)
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.parent.is_dir():
            raise LibraryError(f"Cannot create the library {path}: its folder does not exist.")
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if is_sqlite else {}
    )
    if is_sqlite:
        _install_sqlite_events(engine)
    return engine


def _install_sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's legacy mode would not).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
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
    """One committed write transaction: everything inside lands together or not at all."""
    try:
        with engine.connect() as raw:
            connection = raw.execution_options(cnndesk_write=True)
            with connection.begin():
                yield connection
    except OperationalError as exc:
        raise LibraryError(_explain(exc)) from exc


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
    value = connection.execute(select(Meta.value).where(Meta.key == "schema_version")).scalar()
    return int(value or 0)


def migrate(engine: Engine) -> int:
    """Bring the library to :data:`SCHEMA_VERSION`; return the version it had before."""
    try:
        with write_transaction(engine) as connection:
            before = schema_version(connection)
            if before > SCHEMA_VERSION:
                raise LibraryError(
                    f"This library was made by a newer cnndesk (schema {before}; this one reads up "
                    f"to {SCHEMA_VERSION}). Update cnndesk to open it."
                )
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
