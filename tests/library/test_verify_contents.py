"""``check --verify``: a photo rewritten in place with the same byte size and its mtime put back is
trusted by the plain (stat-based) check but found by the verifying one, and a cancelled verify
keeps every status committed so far."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cnndesk.domain import ImageRecord
from cnndesk.library import Library, file_check, import_paths
from tests.conftest import make_image


def bmp_folder(folder: Path, count: int) -> list[Path]:
    """``count`` distinct BMP photos (uncompressed: the same pixel size is the same byte size)."""
    return [
        make_image(folder / f"img_{n}.bmp", size=(40, 30), colour=(20 * n, 90, 200), fmt="BMP")
        for n in range(count)
    ]


def rewrite_keeping_size_and_mtime(path: Path, *, colour: tuple[int, int, int]) -> str:
    """Other pixels in ``path``, same byte size, its size and mtime as before; the new sha256."""
    before = path.stat()
    make_image(path, size=(40, 30), colour=colour, fmt="BMP")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _library(tmp_path: Path, count: int) -> tuple[Library, list[Path]]:
    photos = bmp_folder(tmp_path / "photos", count)
    library = Library.open(tmp_path / "lib.cnndesk")
    for _event in import_paths(library, [tmp_path / "photos"]):
        pass
    library.add_class("red")
    return library, photos


def _run(job):  # type: ignore[no-untyped-def]
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def _record(library: Library, path: Path) -> ImageRecord:
    record = library.find_image(path)
    assert record is not None
    return record


def test_plain_check_trusts_the_stat_and_verify_finds_the_new_pixels(tmp_path: Path) -> None:
    library, photos = _library(tmp_path, 3)
    edited = photos[1]
    assert library.label_files([edited], "red") == (1, [])
    red, split = _record(library, edited).class_id, _record(library, edited).split
    old_sha = _record(library, edited).sha256
    new_sha = rewrite_keeping_size_and_mtime(edited, colour=(250, 250, 10))
    assert new_sha != old_sha

    plain = _run(library.check())
    assert (plain.checked, plain.ok, plain.changed) == (3, 3, 0)
    assert _record(library, edited).sha256 == old_sha  # the gap --verify closes

    verified = _run(library.check(verify=True))
    assert (verified.checked, verified.ok, verified.changed) == (3, 3, 1)
    record = _record(library, edited)
    assert record.sha256 == new_sha and record.changed
    assert (record.class_id, record.split) == (red, split)
    assert red is not None  # the label is kept, and the image is marked to be checked
    assert library.stats().changed == 1
    # A second verify finds nothing new: the new hash is what the file holds.
    assert _run(library.check(verify=True)).changed == 0
    library.close()


def test_verify_marks_content_that_another_image_has_missing(tmp_path: Path) -> None:
    library, photos = _library(tmp_path, 2)
    before = photos[1].stat()
    photos[1].write_bytes(photos[0].read_bytes())  # same size: the same BMP dimensions
    os.utime(photos[1], ns=(before.st_atime_ns, before.st_mtime_ns))
    result = _run(library.check(verify=True))
    assert (result.ok, result.missing, result.changed) == (1, 1, 0)
    assert "same as another image" in result.problems[0].reason
    library.close()


def test_a_cancelled_verify_keeps_what_it_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_check, "STEP", 2)
    library, photos = _library(tmp_path, 6)
    new = {
        p: rewrite_keeping_size_and_mtime(p, colour=(5, 250, 5 + n)) for n, p in enumerate(photos)
    }
    job = library.check(verify=True)
    assert next(job).done == 0
    assert next(job).done == 2  # two images verified and committed
    job.close()  # what the worker does on Cancel, between two yields

    shas = {p: _record(library, p).sha256 for p in photos}
    done = [p for p in photos if shas[p] == new[p]]
    assert len(done) == 2 and all(_record(library, p).changed for p in done)
    assert all(not _record(library, p).changed for p in photos if p not in done)
    assert library.stats().changed == 2

    rest = _run(library.check(verify=True))  # the next verify finishes the job, nothing lost
    assert rest.changed == 4
    assert {p: _record(library, p).sha256 for p in photos} == new
    library.close()
