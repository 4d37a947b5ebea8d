"""A file name's carriage return or new line never reaches the terminal raw.

The CLI keeps the new lines and carriage returns it writes itself, so a name printed as is could
rewrite the line it is on (``photo\\rall fine.jpg``) or pose as a line of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.conftest import make_image
from tests.model_folders import make_model_folder

CR_NAME = "a\rFAKE all fine.png"
NL_NAME = "b\nnot sorted: nothing.png"


@pytest.fixture
def odd_photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    make_image(root / CR_NAME, size=(40, 40), colour=(200, 20, 20))
    make_image(root / NL_NAME, size=(40, 40), colour=(20, 20, 200))
    (root / "c\rbroken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def _assert_shown(text: str) -> None:
    assert "\r" not in text
    for line in text.splitlines():
        assert not line.startswith(("nothing.png", "not sorted: nothing")), text
    assert "a\\rFAKE all fine.png" in text and "b\\nnot sorted: nothing.png" in text


def test_predict_table_shows_odd_names_escaped(
    tmp_path: Path, odd_photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model_folder(tmp_path / "model")
    capsys.readouterr()
    main(["predict", str(model), *sorted(str(p) for p in odd_photos.iterdir())])
    out = capsys.readouterr().out
    _assert_shown(out)
    assert "c\\rbroken.jpg" in out


def test_sort_and_its_undo_show_odd_names_escaped(
    tmp_path: Path, odd_photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_model_folder(tmp_path / "model")
    dest = tmp_path / "sorted"
    library = ["--library", str(tmp_path / "lib.cnndesk")]
    capsys.readouterr()
    main([*library, "sort", str(model), str(odd_photos), str(dest), "--move"])
    out = capsys.readouterr().out
    assert "c\\rbroken.jpg" in out and "\r" not in out
    # The user moves both sorted photos away before undoing: undo lists each by name.
    for photo in dest.glob("*/*.png"):
        photo.rename(tmp_path / f"away{len(list(tmp_path.glob('away*')))}.png")
    assert main(["sort", "--undo", str(dest)]) == 0
    _assert_shown(capsys.readouterr().out)


def test_label_lists_a_missing_name_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = ["--library", str(tmp_path / "lib.cnndesk")]
    assert main([*library, "classes", "add", "ants"]) == 0
    capsys.readouterr()
    assert main([*library, "label", str(tmp_path / CR_NAME), "--class", "ants"]) == 1
    err = capsys.readouterr().err
    assert "\r" not in err and "a\\rFAKE all fine.png" in err
