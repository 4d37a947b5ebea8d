"""What an image is: its content, found at a path. Edited, moved, vanished and
restored files, names that are not UTF-8, and class names taken from folder names."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image

from cnndesk.domain import ImageQuery, ImageStatus, ImageView
from cnndesk.library import Library, import_paths
from tests.conftest import make_image, result_of


def _labeled_library(root: Path) -> Library:
    for cls in ("cats", "dogs"):
        for i in range(3):
            make_image(
                root / cls / f"{cls}{i}.png", colour=(30 * i, 80, 200 if cls == "cats" else 9)
            )
    library = Library.open()
    result_of(import_paths(library, [root], classes_from_folders=True))
    return library


def test_an_edited_photo_keeps_its_label_and_split_and_is_marked_changed(tmp_path: Path) -> None:
    """Repro 3: rotate one photo and import again → same image, label and split kept, changed."""
    root = tmp_path / "photos"
    library = _labeled_library(root)
    photo = root / "cats" / "cats1.png"
    before = library.find_image(photo)
    with Image.open(photo) as image:
        image.rotate(90, expand=True).save(photo)
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 10**9))

    result = result_of(import_paths(library, [root], classes_from_folders=True))

    assert (result.added, result.changed, result.unchanged) == (0, 1, 5)
    after = library.find_image(photo)
    assert after.id == before.id and after.class_id == before.class_id
    assert after.split == before.split
    assert after.sha256 != before.sha256 and (after.width, after.height) == (48, 64)
    assert after.changed and library.stats().changed == 1
    assert [r.path for r in library.images(ImageQuery(view=ImageView.CHANGED))] == [str(photo)]
    library.set_labels([after.id], after.class_id)  # the user checked the label
    assert not library.find_image(photo).changed


def test_a_moved_photo_is_found_again_by_its_content_and_keeps_its_label(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    library = _labeled_library(root)
    photo = root / "dogs" / "dogs2.png"
    before = library.find_image(photo)
    moved = tmp_path / "elsewhere" / "renamed.png"
    moved.parent.mkdir()
    shutil.move(photo, moved)

    result = result_of(import_paths(library, [moved.parent]))

    assert (result.added, result.moved, result.duplicates) == (0, 1, 0)
    found = library.find_image(moved)
    assert found.id == before.id and found.class_id == before.class_id
    assert library.find_image(photo) is None and library.count() == 6


def test_a_copy_of_a_photo_whose_original_is_still_there_is_a_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    library = _labeled_library(root)
    copy = tmp_path / "copies" / "copy.png"
    copy.parent.mkdir()
    shutil.copy(root / "cats" / "cats0.png", copy)
    result = result_of(import_paths(library, [copy.parent]))
    assert (result.added, result.moved, result.duplicates) == (0, 0, 1)
    assert library.find_image(root / "cats" / "cats0.png") is not None


def test_one_name_that_is_not_utf8_never_aborts_the_batch(tmp_path: Path) -> None:
    """Repro 5: 24 good files and one named b'\\xff.jpg' → 24 imported, that one refused."""
    folder = tmp_path / "card"
    for i in range(24):
        make_image(folder / f"img{i}.png", colour=(i * 9, 1, 2))
    bad = folder / os.fsdecode(b"\xff.jpg")
    bad.write_bytes(make_image(tmp_path / "good.jpg", fmt="JPEG").read_bytes())
    library = Library.open()
    result = result_of(import_paths(library, [folder]))
    assert result.added == 24 and library.count() == 24
    assert [r.path for r in result.refused] == [str(bad)]
    assert "not valid UTF-8" in result.refused[0].reason


def test_unreadable_and_missing_are_not_forever(tmp_path: Path) -> None:
    """Repro 7: check marks moved-away files missing and corrupted ones unreadable; both come
    back when the files do, byte for byte; stats counts them."""
    root = tmp_path / "photos"
    library = _labeled_library(root)
    away = tmp_path / "away"
    shutil.move(root / "dogs", away)
    photo = root / "cats" / "cats0.png"
    original = photo.read_bytes()
    photo.write_bytes(original[:40])  # damaged

    report = library.refresh_status()

    assert (report.checked, report.missing, report.unreadable, report.ok) == (6, 3, 1, 2)
    stats = library.stats()
    assert (stats.images, stats.missing, stats.unreadable) == (2, 3, 1)
    assert {p.path for p in report.problems} == {
        str(photo),
        *(str(root / "dogs" / f"dogs{i}.png") for i in range(3)),
    }

    shutil.move(away, root / "dogs")
    photo.write_bytes(original)
    report = library.refresh_status()
    assert (report.ok, report.missing, report.unreadable, report.restored) == (6, 0, 0, 4)
    assert library.stats().images == 6
    assert all(r.class_id is not None for r in library.images())


def test_a_file_marked_unreadable_is_read_again_by_the_next_import(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    library = _labeled_library(root)
    photo = root / "cats" / "cats2.png"
    image_id = library.find_image(photo).id
    library.mark_unreadable([image_id])  # e.g. training failed to decode it once
    result = result_of(import_paths(library, [root], classes_from_folders=True))
    assert result.restored == 1
    assert library.image(image_id).status is ImageStatus.OK


def test_a_file_replaced_by_another_picture_is_reported_as_changed(tmp_path: Path) -> None:
    """Repro 15: the check re-hashes a file whose size or mtime changed and says so."""
    root = tmp_path / "photos"
    library = _labeled_library(root)
    photo = root / "dogs" / "dogs0.png"
    make_image(photo, size=(90, 90), colour=(250, 250, 0))
    report = library.refresh_status()
    assert report.changed == 1 and report.ok == 6
    record = library.find_image(photo)
    assert record.changed and record.class_id is not None and record.width == 90


def test_unsupported_formats_in_folders_are_listed_not_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "phone"
    make_image(folder / "a.jpg", fmt="JPEG")
    (folder / "b.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (folder / "c.svg").write_text("<svg/>")
    result = result_of(import_paths(Library.open(), [folder]))
    assert result.added == 1
    reasons = {Path(r.path).name: r.reason for r in result.skipped}
    assert reasons["b.heic"].startswith("unsupported format .heic")
    assert reasons["c.svg"].startswith("unsupported format .svg")


def test_class_names_from_folders_pass_the_same_checks_as_classes_add(tmp_path: Path) -> None:
    """Repro 11: a folder named with an ESC sequence, a newline, only spaces or 250 characters
    does not become a class; its files are refused with the reason; good folders import."""
    root = tmp_path / "photos"
    names = [
        "\x1b[2Jclear",
        "two\nlines",
        "   ",
        "x" * 250,
        "tab\there",
        "bidi\u202eevil",
        "del\x7f",
    ]
    for i, name in enumerate(names):
        make_image(root / name / f"{i}.png", colour=(i, 2, 3))
    make_image(root / "fine" / "ok.png")
    library = Library.open()
    result = result_of(import_paths(library, [root], classes_from_folders=True))
    assert [c.name for c in library.classes()] == ["fine"]
    assert len(result.refused) == len(names)
    assert all("folder name cannot be a class name" in r.reason for r in result.refused)
