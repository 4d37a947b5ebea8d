"""Every numeric and path option of the command line is checked before anything runs: a value
outside what is allowed exits 2 with a line that says what is allowed, and touches nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cnndesk.cli import build_parser, main
from cnndesk.model_folder import read_model_info
from tests.conftest import make_image

BAD = [
    (["train", "--lr", "inf"], "lr must be a finite number above 0"),
    (["train", "--lr", "nan"], "lr must be a finite number above 0"),
    (["train", "--lr", "-1"], "lr must be a finite number above 0"),
    (["train", "--lr", "0"], "lr must be a finite number above 0"),
    (["train", "--lr", "fast"], "lr must be a finite number"),
    (["train", "--epochs", "-3"], "epochs must be a whole number from 1"),
    (["train", "--epochs", "0"], "epochs must be a whole number from 1"),
    (["train", "--epochs", "2.5"], "epochs must be a whole number"),
    (["train", "--image-size", "-5"], "image size must be a whole number from 32 to 1024"),
    (["train", "--image-size", "0"], "image size must be a whole number from 32 to 1024"),
    (["train", "--image-size", "100000"], "from 32 to 1024"),
    (["train", "--batch-size", "0"], "batch size must be a whole number from 1"),
    (["train", "--threads", "0"], "threads must be a whole number from 1"),
    (["sort", "m", "s", "d", "--threshold", "1.5"], "threshold must be a finite number at least 0"),
    (["sort", "m", "s", "d", "--threshold", "-0.1"], "at most 1"),
    (["sort", "m", "s", "d", "--threshold", "nan"], "threshold must be a finite number"),
    (["predict", "m", "x.jpg", "--target-precision", "0"], "target precision must be"),
    (["predict", "m", "x.jpg", "--target-precision", "2"], "at most 1"),
    (["audit", "--threshold", "3"], "threshold must be a finite number"),
    (["audit", "--limit", "0"], "limit must be a whole number from 1"),
    (["explain", "m", "x.jpg", "--out", "o", "--top", "0"], "top must be a whole number"),
]


@pytest.mark.parametrize(("argv", "expected"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_value_outside_the_range_exits_2_saying_what_is_allowed(
    argv: list[str], expected: str, capsys
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_values_inside_the_ranges_are_taken() -> None:
    args = build_parser().parse_args(
        [
            "train",
            "--lr",
            "1e-3",
            "--epochs",
            "1",
            "--image-size",
            "32",
            "--batch-size",
            "1",
            "--threads",
            "1",
        ]
    )
    assert (args.lr, args.epochs, args.image_size, args.batch_size, args.threads) == (
        0.001, 1, 32, 1, 1,
    )  # fmt: skip
    assert build_parser().parse_args(["sort", "m", "s", "d", "--threshold", "1"]).threshold == 1.0


def test_out_naming_a_file_is_refused_and_the_file_kept(tmp_path: Path, capsys) -> None:
    photo = make_image(tmp_path / "photo.jpg")
    before = hashlib.sha256(photo.read_bytes()).hexdigest()
    for argv in (
        ["train", "--out", str(photo)],
        ["explain", "m", str(photo), "--out", str(photo)],
    ):
        with pytest.raises(SystemExit) as exited:
            main(["--library", str(tmp_path / "lib.cnndesk"), *argv])
        assert exited.value.code == 2
        assert "is a file, but --out needs a folder" in capsys.readouterr().err
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before
    assert not (tmp_path / "lib.cnndesk").exists()  # refused before the library was opened


def test_export_out_naming_a_folder_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["export", "m", "--format", "onnx", "--out", str(tmp_path)])
    assert "is a folder, but --out needs a file name" in capsys.readouterr().err


def test_a_class_name_of_two_letters_is_one_class(tmp_path: Path, capsys) -> None:
    library = str(tmp_path / "lib.cnndesk")
    assert main(["--library", library, "classes", "add", "ab"]) == 0
    capsys.readouterr()
    assert main(["--library", library, "classes", "--json"]) == 0
    assert [c["name"] for c in json.loads(capsys.readouterr().out)] == ["ab"]


def test_full_mode_trains_the_epochs_asked_for(tmp_path: Path, capsys) -> None:
    library = str(tmp_path / "lib.cnndesk")
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(6):
            make_image(tmp_path / "photos" / name / f"{i}.png", size=(40, 40), colour=colour)
    assert main(["--library", library, "import", str(tmp_path / "photos"),
                 "--classes-from-folders"]) == 0  # fmt: skip
    capsys.readouterr()
    code = main(["--library", library, "train", "--backbone", "simple-cnn", "--mode", "full",
                 "--image-size", "32", "--epochs", "2", "--quiet", "--json"])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    assert main(["--library", library, "runs", "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["status"] == "done"
    assert run["config"]["epochs"] == 2 and run["metrics"]["epochs"] == 2
    history = read_model_info(run["model"]).metrics["history"]
    assert [e["epoch"] for e in history] == [1, 2]  # never the 8-epoch default
