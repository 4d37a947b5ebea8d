"""Class names in one Unicode form, an honest ``label`` for a copy of a library photo, and an
image-folder export that a full disk does not leave half written.

Before: ``classes add "Café"`` typed with é as one character (NFC) and as e + a combining accent
(NFD, what a macOS disk gives as a folder name) made two classes that look the same everywhere;
``label COPY --class C`` on a copy of a photo the library holds said "import it first", which the
import then refused as a duplicate; an image-folder export that met a full disk said "try again",
and the retry was refused because the folder was no longer empty.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
import unicodedata
from contextlib import contextmanager
from pathlib import Path

import pytest

import cnndesk.library.export as export_module
from cnndesk.cli import main
from cnndesk.library import Library
from tests.conftest import make_image
from tests.probe_helpers import red_blue_photos

NFC = unicodedata.normalize("NFC", "Café")
NFD = unicodedata.normalize("NFD", "Café")


@pytest.fixture
def lib(tmp_path: Path) -> list[str]:
    return ["--library", str(tmp_path / "lib.cnndesk")]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return red_blue_photos(tmp_path / "photos", per_class=3)


def _class_names(lib: list[str]) -> list[str]:
    with Library.open(lib[1]) as library:
        return [c.name for c in library.classes()]


def test_the_two_forms_of_a_name_are_one_class(
    lib: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert NFC != NFD
    assert main([*lib, "classes", "add", NFC]) == 0
    capsys.readouterr()
    assert main([*lib, "classes", "add", NFD]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main([*lib, "classes", "add", "dog"]) == 0
    assert main([*lib, "classes", "rename", "dog", NFD]) == 1  # taken, in its other form
    assert _class_names(lib) == [NFC, "dog"]
    make_image(tmp_path / "cup.png")
    assert main([*lib, "import", str(tmp_path / "cup.png")]) == 0
    capsys.readouterr()
    assert main([*lib, "label", str(tmp_path / "cup.png"), "--class", NFD]) == 0
    assert "Labeled" in capsys.readouterr().out
    with Library.open(lib[1]) as library:
        assert library.require_class(NFD).count == 1
    assert main([*lib, "classes", "rename", "dog", "Dog"]) == 0  # case alone: a rename, as before
    assert main([*lib, "classes", "add", "dog"]) == 0  # and names differing in case stay apart
    assert _class_names(lib) == [NFC, "Dog", "dog"]


def test_a_macos_folder_name_is_the_class_typed_on_the_keyboard(
    lib: list[str], tmp_path: Path
) -> None:
    assert main([*lib, "classes", "add", NFC]) == 0
    make_image(tmp_path / "mac" / NFD / "0.png")
    make_image(tmp_path / "mac" / NFD / "1.png")
    assert main([*lib, "import", str(tmp_path / "mac"), "--classes-from-folders"]) == 0
    assert _class_names(lib) == [NFC]
    with Library.open(lib[1]) as library:
        assert library.require_class(NFC).count == 2


def test_a_folder_import_stores_the_name_composed(lib: list[str], tmp_path: Path) -> None:
    make_image(tmp_path / "mac" / NFD / "0.png")
    assert main([*lib, "import", str(tmp_path / "mac"), "--classes-from-folders"]) == 0
    assert _class_names(lib) == [NFC]


def test_a_library_that_stored_a_decomposed_name_keeps_working(
    lib: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*lib, "classes", "add", "placeholder"]) == 0
    with sqlite3.connect(lib[1]) as db:  # as an older cnndesk stored a macOS folder name
        db.execute("UPDATE classes SET name = ?", (NFD,))
    make_image(tmp_path / "cup.png")
    assert main([*lib, "import", str(tmp_path / "cup.png")]) == 0
    assert main([*lib, "label", str(tmp_path / "cup.png"), "--class", NFC]) == 0
    capsys.readouterr()
    assert main([*lib, "classes", "add", NFC]) == 1
    assert "already exists" in capsys.readouterr().err
    make_image(tmp_path / "typed" / NFC / "0.png")
    assert main([*lib, "import", str(tmp_path / "typed"), "--classes-from-folders"]) == 0
    assert _class_names(lib) == [NFD]  # shown as stored, one class
    with Library.open(lib[1]) as library:
        assert library.require_class(NFC).count == 2


def test_a_library_holding_both_forms_changes_the_class_it_is_told(
    lib: list[str], tmp_path: Path
) -> None:
    """An older cnndesk made both forms into two classes; deleting, labeling and importing by
    name reach the class stored in exactly that form (the composed one owns the typed name)."""
    for name in ("first", "second"):
        assert main([*lib, "classes", "add", name]) == 0
    with sqlite3.connect(lib[1]) as db:  # as an older cnndesk stored them
        db.execute("UPDATE classes SET name = ? WHERE name = 'first'", (NFD,))
        db.execute("UPDATE classes SET name = ? WHERE name = 'second'", (NFC,))
    for name in ("d", "c"):
        make_image(tmp_path / f"{name}.png", colour=(10, 200, 10) if name == "d" else (200, 9, 9))
        assert main([*lib, "import", str(tmp_path / f"{name}.png")]) == 0
    assert main([*lib, "label", str(tmp_path / "d.png"), "--class", NFD]) == 0
    assert main([*lib, "label", str(tmp_path / "c.png"), "--class", NFC]) == 0
    make_image(tmp_path / "typed" / NFC / "0.png", colour=(9, 9, 200))
    assert main([*lib, "import", str(tmp_path / "typed"), "--classes-from-folders"]) == 0
    with Library.open(lib[1]) as library:
        counts = {c.name: c.count for c in library.classes()}
        assert counts == {NFD: 1, NFC: 2}  # the folder went to the class stored composed
        assert library.remove_class(NFD) == 1  # the decomposed one, with its one label
        assert [(c.name, c.count) for c in library.classes()] == [(NFC, 2)]


def test_undo_of_a_removal_finds_a_decomposed_class_made_again_composed(tmp_path: Path) -> None:
    """A removed image of a class stored decomposed (an older library), whose class was deleted
    and typed again on the keyboard: undo gives the label to the class typed again."""
    from cnndesk.library.removal import remove_images_undoably, restore_images

    make_image(tmp_path / "cup.png")
    with Library.open(tmp_path / "lib.cnndesk") as library:
        library.add_class("placeholder")
        with sqlite3.connect(tmp_path / "lib.cnndesk") as db:  # as an older cnndesk stored it
            db.execute("UPDATE classes SET name = ?", (NFD,))
        assert main(["--library", str(tmp_path / "lib.cnndesk"), "import", str(tmp_path)]) == 0
        (image,) = [r.id for r in library.images()]
        library.set_labels([image], library.require_class(NFD).id)
        removed = remove_images_undoably(library, [image])
        library.remove_class(NFD)
        library.add_class("wasps")  # takes the freed id
        again = library.add_class(NFC)
        back = restore_images(library, removed)
        assert back.lost == ()
        assert library.image(image).class_id == again.id


def test_explain_finds_the_class_in_either_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.model_folders import make_model_folder

    model = make_model_folder(tmp_path / "model", classes=(NFC, "red"))
    photo = make_image(tmp_path / "cup.png")
    capsys.readouterr()
    code = main(["explain", str(model), str(photo), "--class", NFD, "--out", str(tmp_path / "m")])
    assert code == 0, capsys.readouterr().err
    assert list((tmp_path / "m").glob("*.png"))


# --------------------------------------------------------------- label: a copy of a library photo


def test_label_on_a_copy_names_the_photo_the_library_holds(
    lib: list[str], tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*lib, "import", str(photos), "--classes-from-folders"]) == 0
    copy = tmp_path / "a\rcopy.png"
    shutil.copyfile(photos / "red" / "0.png", copy)
    capsys.readouterr()
    assert main([*lib, "label", str(copy), "--class", "blue"]) == 1
    err = capsys.readouterr().err
    assert "import it first" not in err and "\r" not in err
    assert "a\\rcopy.png is the same photo as " + str(photos / "red" / "0.png") in err
    assert "label that path instead" in err
    assert main([*lib, "label", str(photos / "red" / "0.png"), "--class", "blue"]) == 0


def test_label_on_a_file_the_library_lacks_still_says_import_it(
    lib: list[str], tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*lib, "import", str(photos), "--classes-from-folders"]) == 0
    moved = tmp_path / "moved.png"
    (photos / "red" / "0.png").rename(moved)  # its library file is gone: an import moves it
    new = make_image(tmp_path / "new.png")
    capsys.readouterr()
    assert main([*lib, "label", str(moved), str(new), "--class", "blue"]) == 1
    err = capsys.readouterr().err
    assert f"not in the library (import it first): {moved}" in err
    assert f"not in the library (import it first): {new}" in err
    assert "same photo" not in err


# ------------------------------------------------------------- export-labels onto a full disk


@contextmanager
def _disk_full_after(copies: int, real=export_module.replacing):  # type: ignore[no-untyped-def]
    calls = [0]

    @contextmanager
    def replacing(path, mode="w", **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        with real(path, mode, **kwargs) as handle:
            if calls[0] > copies:
                raise OSError(errno.ENOSPC, "No space left on device")
            yield handle

    yield replacing


@pytest.mark.parametrize("existing", [False, True])
def test_a_full_disk_takes_back_the_export_so_a_retry_works(
    lib: list[str],
    tmp_path: Path,
    photos: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    existing: bool,
) -> None:
    assert main([*lib, "import", str(photos), "--classes-from-folders"]) == 0
    out = tmp_path / "new" / "export"
    if existing:  # an empty folder the user made: it stays
        out.mkdir(parents=True)
    export = [*lib, "export-labels", "--format", "imagefolder", str(out)]
    capsys.readouterr()
    with monkeypatch.context() as patched, _disk_full_after(4) as replacing:
        patched.setattr(export_module, "replacing", replacing)
        assert main(export) == 1
    err = capsys.readouterr().err
    assert "the disk is full" in err and "unexpected error" not in err
    assert "removed the files and folders it had written" in err
    assert "free some space" in err and "try again" in err
    if existing:
        assert out.is_dir() and not list(out.iterdir())
    else:
        assert not (tmp_path / "new").exists()
    assert main(export) == 0  # the retry the message promises
    assert len(list(out.rglob("*.png"))) == 6


def test_a_failed_export_leaves_files_it_did_not_write(
    lib: list[str],
    tmp_path: Path,
    photos: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main([*lib, "import", str(photos), "--classes-from-folders"]) == 0
    out = tmp_path / "export"
    real = export_module.replacing
    mine = out / "train" / "mine.txt"

    @contextmanager
    def replacing(path, mode="w", **kwargs):  # type: ignore[no-untyped-def]
        if mine.parent.is_dir() and not mine.exists():  # someone else writes there meanwhile
            mine.write_text("not the export's")
        with real(path, mode, **kwargs) as handle:
            if len(list(out.rglob("*.png"))) >= 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            yield handle

    monkeypatch.setattr(export_module, "replacing", replacing)
    capsys.readouterr()
    assert main([*lib, "export-labels", "--format", "imagefolder", str(out)]) == 1
    assert mine.read_text() == "not the export's"
    assert not list(out.rglob("*.png"))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "train",
        "train/mine.txt",
    ]
