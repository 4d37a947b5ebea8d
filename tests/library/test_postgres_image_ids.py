"""A team library on a real PostgreSQL server: two cnndesk instances handing out image ids or
reserving removed ones at the same time take turns instead of colliding, and the ``images.id``
sequence is moved past the ids cnndesk gives, so an insert that draws from it is free.

Starts a throw-away server (``initdb`` + ``pg_ctl``, unix socket only); skipped, saying why,
where the PostgreSQL binaries or the psycopg driver are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from cnndesk.library import Library, import_paths
from cnndesk.library.database import write_transaction
from cnndesk.library.image_ids import next_image_id, reserve_image_ids
from cnndesk.library.schema import ImageRow, utcnow
from tests.conftest import make_image

PORT = 55441


def _as_postgres(command: list[str]) -> list[str]:
    """``initdb`` refuses to run as root: run the server's tools as the ``postgres`` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not on PATH")
    pytest.importorskip("psycopg", reason="the psycopg driver (pip install 'psycopg[binary]')")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root without runuser: initdb cannot be started")
    root = Path(tempfile.mkdtemp(prefix="cnndesk-pg-"))
    root.chmod(0o755)
    (root / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(root / "sock", "postgres")
    data, sock = root / "data", root / "sock"
    subprocess.run(
        _as_postgres(["initdb", "-D", str(data), "-U", "postgres", "-A", "trust"]),
        check=True,
        capture_output=True,
    )
    options = f"-k {sock} -p {PORT} -c listen_addresses=''"
    ctl = ["pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w"]
    subprocess.run(_as_postgres([*ctl, "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={sock}&port={PORT}"
    finally:
        subprocess.run(_as_postgres([*ctl, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def libraries(pg_url: str) -> Iterator[tuple[Library, Library]]:
    """Two cnndesk instances on one fresh library."""
    first = Library.open(pg_url)
    with write_transaction(first.engine) as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    first.close()
    first, second = Library.open(pg_url), Library.open(pg_url)
    yield first, second
    first.close()
    second.close()


def _image(image_id: int | None, name: str) -> dict:
    row = {
        "path": f"/photos/{name}.png",
        "sha256": name.encode().hex().ljust(64, "0"),
        "size": 1,
        "mtime_ns": 1,
        "width": 1,
        "height": 1,
        "format": "PNG",
        "split": "train",
        "added": utcnow(),
    }
    return row if image_id is None else {**row, "id": image_id}


def _waiting(library: Library) -> bool:
    """Whether a transaction of this database waits for a lock another one holds."""
    with library.engine.connect() as c:
        query = "SELECT count(*) FROM pg_locks WHERE NOT granted"
        return bool(c.execute(text(query)).scalar())


def _race(
    first: Library, second: Library, write: Callable[[object, str], None]
) -> list[BaseException]:
    """``write`` in a transaction of ``first``, kept open until ``second``'s ``write`` waits
    for it (or ran without waiting); then both commit. The errors raised."""
    errors: list[BaseException] = []
    done = threading.Event()

    def other() -> None:
        try:
            with write_transaction(second.engine) as c:
                write(c, "second")
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        done.set()

    with write_transaction(first.engine) as c:
        write(c, "first")
        thread = threading.Thread(target=other)
        thread.start()
        deadline = time.monotonic() + 10
        while not done.is_set() and not _waiting(first) and time.monotonic() < deadline:
            done.wait(0.02)  # a poll of the server's lock table, not a timed assertion
    thread.join(30)
    assert not thread.is_alive()
    return errors


def test_two_instances_importing_at_once_get_different_image_ids(libraries) -> None:
    first, second = libraries
    given: dict[str, int] = {}

    def add_image(c, who: str) -> None:  # type: ignore[no-untyped-def]
        given[who] = next_image_id(c)
        c.execute(insert(ImageRow).values(**_image(given[who], who)))

    assert _race(first, second, add_image) == []
    assert sorted(given.values()) == [1, 2]
    assert sorted(r.path for r in second.images()) == ["/photos/first.png", "/photos/second.png"]


def test_two_removals_at_once_both_reserve_their_ids(libraries) -> None:
    first, second = libraries
    with write_transaction(first.engine) as c:
        reserve_image_ids(c, [3])
    ids = {"first": [5], "second": [9]}

    def reserve(c, who: str) -> None:  # type: ignore[no-untyped-def]
        reserve_image_ids(c, ids[who])

    assert _race(first, second, reserve) == []
    with write_transaction(first.engine) as c:
        assert next_image_id(c) == 10


def test_an_insert_drawing_from_the_sequence_after_an_import_does_not_collide(
    libraries, tmp_path: Path
) -> None:
    first, _second = libraries
    for n in range(3):
        make_image(tmp_path / "photos" / f"ant{n}.png", colour=(30, 40 * n, 9))
    for _event in import_paths(first, [tmp_path / "photos"]):
        pass
    imported = sorted(r.id for r in first.images())
    assert imported == [1, 2, 3]
    with write_transaction(first.engine) as c:  # e.g. a script or another tool on the database
        drawn = c.execute(insert(ImageRow).values(**_image(None, "script"))).inserted_primary_key[0]
    assert drawn == 4
