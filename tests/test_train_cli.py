"""``cnndesk train`` and ``cnndesk runs`` end to end on a library the test imports itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.conftest import make_image
from tests.fresh_imports import loaded_by


@pytest.fixture
def toy_folders(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for split, n in (("train", 6), ("val", 3), ("test", 2)):
        for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            for i in range(n):
                make_image(root / split / name / f"{i}.png", size=(40, 40), colour=colour)
    return root


def _import(library: Path, folder: Path) -> None:
    assert main(["--library", str(library), "import", str(folder), "--classes-from-folders"]) == 0


def test_train_prints_one_json_line_and_the_run_is_recorded(
    toy_folders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "lib.cnndesk"
    _import(library, toy_folders)
    capsys.readouterr()
    code = main(
        ["--library", str(library), "train", "--backbone", "test_efficientnet", "--no-pretrained",
         "--epochs", "3", "--image-size", "32", "--json"]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0
    result = json.loads(out.out.strip().splitlines()[-1])
    assert {"model", "val_accuracy", "test_accuracy", "epochs", "seconds", "device"} <= set(result)
    assert result["device"].startswith("cpu")
    # 4 test + 6 validation images are too few: quick mode measures by 5-fold cross-validation
    # over all 22 labeled images instead, and says so.
    assert result["test_accuracy"] is None
    evaluation = result["evaluation"]
    assert evaluation["on"] == "cross-validation" and evaluation["images"] == 22
    assert evaluation["ci95"][0] <= evaluation["accuracy"] <= evaluation["ci95"][1]
    assert (
        result["cv_accuracy"] == evaluation["accuracy"]
        and "only 22 images" in evaluation["warning"]
    )
    assert (Path(result["model"]) / "weights.safetensors").is_file()
    assert "train epoch 1/3" in out.err  # the per-epoch lines a user watches

    assert main(["--library", str(library), "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in runs] == ["done"]
    assert runs[0]["model"] == result["model"]
    assert runs[0]["metrics"]["val_accuracy"] == result["val_accuracy"]

    from cnndesk.library import Library

    stored = Library.open(library).predictions(model_path=result["model"])
    # The model's view of every image, not only the evaluated ones.
    assert len(stored) == 22 and all(p["true_class"] in ("red", "blue") for p in stored)


def test_runs_without_any_run_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--library", str(tmp_path / "empty.cnndesk"), "runs"]) == 0
    assert "No training runs yet" in capsys.readouterr().out


def test_default_backbone_offline_fails_with_the_ways_out_and_no_traceback(
    toy_folders: Path, tmp_path: Path
) -> None:
    library = tmp_path / "lib.cnndesk"
    _import(library, toy_folders)
    done = subprocess.run(
        [sys.executable, "-m", "cnndesk", "--library", str(library), "train"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "--weights FILE" in done.stderr and "--backbone simple-cnn" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout

    runs = subprocess.run(
        [sys.executable, "-m", "cnndesk", "--library", str(library), "runs", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert [r["status"] for r in json.loads(runs.stdout)] == ["failed"]


def test_importing_jobs_and_cli_does_not_load_torch() -> None:
    assert loaded_by("import cnndesk.jobs, cnndesk.cli", ("torch", "timm")) == []


def test_an_image_damaged_after_import_is_left_out_and_marked_unreadable(
    toy_folders: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "lib.cnndesk"
    _import(library, toy_folders)
    damaged = toy_folders / "train" / "red" / "0.png"
    damaged.write_bytes(damaged.read_bytes()[:40])  # cut off after the import checked it
    capsys.readouterr()
    code = main(
        ["--library", str(library), "train", "--backbone", "test_efficientnet", "--no-pretrained",
         "--epochs", "2", "--image-size", "32", "--json"]
    )  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["val_accuracy"] is not None
    from cnndesk.library import Library

    with Library.open(library) as lib:
        stats = lib.stats()
        assert stats.unreadable == 1 and stats.images == 21
        assert all(s.path != str(damaged) for s in lib.training_set().train)
