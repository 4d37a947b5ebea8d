"""``cnndesk check``, the import summary for edited files, escaped names on the terminal, and
training when files moved away or changed (repros 3, 7, 8 and 11 of issue 11, end to end)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.conftest import make_image


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for split, n in (("train", 5), ("val", 2)):
        for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            for i in range(n):
                make_image(root / split / name / f"{i}.png", size=(40, 40), colour=colour)
    return root


def _cli(library: Path, *args: str) -> int:
    return main(["--library", str(library), *args])


def test_import_says_an_edited_photo_changed_and_kept_its_label(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "lib.cnndesk"
    assert _cli(library, "import", str(photos), "--classes-from-folders") == 0
    photo = photos / "train" / "red" / "1.png"
    make_image(photo, size=(44, 40), colour=(200, 60, 60))
    capsys.readouterr()
    assert _cli(library, "import", str(photos), "--classes-from-folders") == 0
    out = capsys.readouterr().out
    assert "Added 0 images" in out and "1 changed (label kept, check it)" in out
    assert _cli(library, "stats") == 0
    assert "1 changed (check the label)" in capsys.readouterr().out


def test_check_finds_missing_files_and_their_return(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "lib.cnndesk"
    assert _cli(library, "import", str(photos), "--classes-from-folders") == 0
    away = tmp_path / "away"
    shutil.move(photos, away)
    capsys.readouterr()
    assert _cli(library, "check", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["checked"], report["missing"], report["ok"]) == (14, 14, 0)
    assert _cli(library, "stats", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["images"], stats["missing"]) == (0, 14)

    shutil.move(away, photos)
    assert _cli(library, "check") == 0
    out = capsys.readouterr().out
    assert "Checked 14 images: 14 readable, 0 missing" in out and "14 readable again" in out


def test_training_with_every_photo_moved_away_stops_with_a_clear_message(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repro 7: no `float division by zero`; the message counts what is missing, nothing runs."""
    library = tmp_path / "lib.cnndesk"
    assert _cli(library, "import", str(photos), "--classes-from-folders") == 0
    shutil.move(photos, tmp_path / "away")
    capsys.readouterr()
    code = _cli(library, "train", "--backbone", "test_efficientnet", "--no-pretrained",
                "--mode", "quick", "--image-size", "32")  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "none of the 14 labeled images can be read: 14 missing" in err
    assert "cnndesk check" in err and "unexpected" not in err and "division" not in err


def test_a_changed_photo_is_embedded_again_in_quick_mode(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repro 8: the feature cache follows the bytes: one edited photo → embedded 1."""
    library = tmp_path / "lib.cnndesk"
    assert _cli(library, "import", str(photos), "--classes-from-folders") == 0
    train = ["train", "--backbone", "test_efficientnet", "--no-pretrained", "--mode", "quick",
             "--image-size", "32", "--epochs", "2", "--json"]  # fmt: skip
    assert _cli(library, *train) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["embedded"] == 14
    photo = photos / "train" / "blue" / "0.png"
    make_image(photo, size=(40, 40), colour=(0, 250, 0))
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 10**9))
    assert _cli(library, *train) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (second["embedded"], second["reused"]) == (1, 13)


def test_names_reach_the_terminal_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Repro 11: an ESC sequence in a class name (from an older library) or a file name is shown
    as text (\\x1b), never sent raw; a name that is not UTF-8 prints instead of crashing."""
    library = tmp_path / "lib.cnndesk"
    folder = tmp_path / "odd"
    make_image(folder / "\x1b[31mred.png")
    (folder / os.fsdecode(b"\xff.png")).write_bytes(b"not even an image")
    assert _cli(library, "import", str(folder)) == 0
    assert _cli(library, "classes", "add", "fine") == 0
    with sqlite3.connect(library) as db:  # as a library made before names were checked could be
        db.execute("update classes set name = ? where name = 'fine'", ("\x1b]0;pwned\x07bad",))
    capsys.readouterr()
    assert _cli(library, "classes") == 0
    assert _cli(library, "classes", "--json") == 0
    assert _cli(library, "import", str(folder)) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07bad\t0 images" in captured.out
    assert json.loads(captured.out.splitlines()[1])[0]["name"] == "\x1b]0;pwned\x07bad"
    assert "\\udcff.png" in captured.out and "not valid UTF-8" in captured.out
