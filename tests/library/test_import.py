"""Importing files and folders: counts, dedupe, splits, bad files, speed shortcuts."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from cnndesk.domain import ImportProgress, Split
from cnndesk.jobs import drive
from cnndesk.library import Library, import_paths
from cnndesk.library import importer as importer_module
from tests.conftest import make_image


def _import(library: Library, *paths: Path, folders: bool = False):
    job = import_paths(library, list(paths), classes_from_folders=folders)
    events: list = []
    return drive(job, events.append), events


def _png_bomb(path: Path, side: int = 40_000) -> Path:
    """A real 40000×40000 1-bit PNG that compresses to about 200 KB (1.6 G pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + side // 8)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def _bad_folder(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True)
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("this is a shopping list, not a photo\n")
    good = make_image(root / "source.jpg", size=(320, 240))
    data = good.read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    good.unlink()
    _png_bomb(root / "bomb.png")
    make_image(root / "ünïcødé photo 猫 1.jpg", size=(320, 240))
    return {p.name: p for p in root.iterdir()}


def test_hymenoptera_imports_as_imagefolder(hymenoptera_copy: Path) -> None:
    library = Library.open()
    result, events = _import(library, hymenoptera_copy, folders=True)
    stats = library.stats()
    assert stats.images == 398
    assert stats.classes == {"ants": 194, "bees": 204}
    assert stats.splits == {"train": 245, "val": 153, "test": 0}
    assert result.added == 398 and not result.refused
    assert all(isinstance(e, ImportProgress) for e in events) and events[-1].done == 398

    again, _ = _import(library, hymenoptera_copy, folders=True)
    assert again.added == 0 and again.unchanged == 398
    assert library.stats().images == 398


def test_bad_files_are_refused_one_by_one_with_reasons(tmp_path: Path) -> None:
    files = _bad_folder(tmp_path / "mixed")
    library = Library.open()
    result, _ = _import(library, tmp_path / "mixed")
    assert result.added == 1
    assert library.images()[0].name == "ünïcødé photo 猫 1.jpg"
    reasons = {Path(r.path).name: r.reason for r in result.refused}
    assert set(reasons) == set(files) - {"ünïcødé photo 猫 1.jpg"}
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "decompression bomb" in reasons["bomb.png"]


def test_cli_import_of_bad_files_names_them_without_traceback(tmp_path: Path) -> None:
    _bad_folder(tmp_path / "mixed")
    run = subprocess.run(
        [sys.executable, "-m", "cnndesk", "import", str(tmp_path / "mixed")],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Traceback" not in output
    assert "Added 1 image," in output
    for name in ("empty.jpg", "notes.jpg", "truncated.jpg", "bomb.png"):
        assert name in output


def test_same_content_under_another_path_is_a_duplicate(tmp_path: Path) -> None:
    first = make_image(tmp_path / "a" / "cat.jpg")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "copy of cat.jpg").write_bytes(first.read_bytes())
    library = Library.open()
    result, _ = _import(library, tmp_path / "a", tmp_path / "b")
    assert (result.added, result.duplicates) == (1, 1)
    assert library.count() == 1


def test_every_supported_format_imports_and_exif_orientation_counts(tmp_path: Path) -> None:
    for fmt, suffix in [
        ("JPEG", "jpg"),
        ("PNG", "png"),
        ("BMP", "bmp"),
        ("GIF", "gif"),
        ("TIFF", "tif"),
        ("WEBP", "webp"),
    ]:
        make_image(tmp_path / f"image.{suffix}", size=(40, 30), fmt=fmt)
    rotated = Image.new("RGB", (40, 30), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    rotated.save(tmp_path / "rotated.jpg", exif=exif)
    library = Library.open()
    result, _ = _import(library, tmp_path)
    assert result.added == 7, result.refused
    by_name = {r.name: r for r in library.images()}
    assert {r.format for r in by_name.values()} == {"JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP"}
    assert (by_name["rotated.jpg"].width, by_name["rotated.jpg"].height) == (30, 40)
    assert (by_name["image.png"].width, by_name["image.png"].height) == (40, 30)


def test_unchanged_files_are_not_read_again_but_edited_ones_are(
    tmp_path: Path, monkeypatch
) -> None:
    for i in range(5):
        make_image(tmp_path / f"{i}.png", colour=(i * 40, 0, 0))
    library = Library.open()
    _import(library, tmp_path)
    calls: list[Path] = []
    real = importer_module.probe
    monkeypatch.setattr(importer_module, "probe", lambda p, **kw: calls.append(p) or real(p, **kw))
    result, _ = _import(library, tmp_path)
    assert calls == [] and result.unchanged == 5
    edited = tmp_path / "3.png"
    make_image(edited, size=(70, 70), colour=(1, 2, 3))
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 10**9))
    result, _ = _import(library, tmp_path)
    # An edited file is the same image with new content (DESIGN §3): re-read, not a new image.
    assert calls == [edited] and result.added == 0 and result.changed == 1
    assert library.count() == 5
    assert library.find_image(edited).width == 70
    assert library.find_image(edited).changed


def test_auto_splits_are_stratified_and_deterministic(tmp_path: Path) -> None:
    for cls, colour in [("cats", (200, 0, 0)), ("dogs", (0, 0, 200))]:
        for i in range(40):
            make_image(tmp_path / cls / f"{cls}{i}.png", size=(16, 16), colour=colour)
    splits = []
    for name in ("one", "two"):
        library = Library.open(tmp_path / f"{name}.cnndesk")
        _import(library, tmp_path / "cats", tmp_path / "dogs", folders=True)
        per_class = {
            cls.name: Counter(r.split for r in library.images() if r.class_id == cls.id)
            for cls in library.classes()
        }
        splits.append({r.sha256: r.split for r in library.images()})
        for counts in per_class.values():
            assert counts == {Split.TRAIN: 28, Split.VAL: 6, Split.TEST: 6}
    assert splits[0] == splits[1]


def test_cancelled_import_keeps_what_was_committed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(importer_module, "BATCH_SIZE", 4)
    for i in range(12):
        make_image(tmp_path / f"{i}.png", colour=(i * 20, 5, 5))
    library = Library.open()
    job = import_paths(library, [tmp_path])
    seen = [next(job) for _ in range(3)]  # searching, started, first batch written
    job.close()
    assert seen[-1].added == 4
    assert library.count() == 4
    result, _ = _import(library, tmp_path)
    assert result.added == 8 and library.count() == 12


def test_missing_path_is_reported_not_fatal(tmp_path: Path) -> None:
    make_image(tmp_path / "ok.png")
    library = Library.open()
    result, _ = _import(library, tmp_path / "ok.png", tmp_path / "nope", tmp_path / "readme.txt")
    assert result.added == 1
    assert {Path(r.path).name for r in result.refused} == {"nope", "readme.txt"}


def test_json_summary_names_refused_files(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    make_image(tmp_path / "fine.png")
    run = subprocess.run(
        [sys.executable, "-m", "cnndesk", "import", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = json.loads(run.stdout.splitlines()[-1])
    assert summary["added"] == 1
    assert [Path(r["file"]).name for r in summary["refused"]] == ["broken.png"]
    assert summary["library"]["images"] == 1


@pytest.mark.parametrize("pixels_ok", [True])
def test_thumbnails_are_made_lazily_and_cached(tmp_path: Path, pixels_ok: bool) -> None:
    from cnndesk.library import thumbnail

    make_image(tmp_path / "big.jpg", size=(1200, 900))
    library = Library.open()
    _import(library, tmp_path)
    record = library.images()[0]
    from cnndesk.library.thumbnails import thumbnail_path

    assert not thumbnail_path(record.sha256).exists()
    made = thumbnail(record.path, record.sha256)
    assert made.exists() and max(Image.open(io.BytesIO(made.read_bytes())).size) == 256
    assert thumbnail(record.path, record.sha256) == made
