"""Right after ``cnndesk train``: every image has the model's prediction, and ``cnndesk evaluate``
says what the accuracy rests on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.conftest import make_image

TRAIN = ["train", "--backbone", "test_efficientnet", "--no-pretrained", "--epochs", "3",
         "--image-size", "32", "--json"]  # fmt: skip


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for split, n in (("train", 6), ("val", 3), ("test", 2)):
        for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            for i in range(n):
                make_image(root / split / name / f"{i}.png", size=(40, 40), colour=colour)
    for i in range(5):  # photos nobody labeled yet
        make_image(tmp_path / "new" / f"n{i}.png", size=(40, 40), colour=(200, 40, 60))
    lib = tmp_path / "lib.cnndesk"
    assert main(["--library", str(lib), "import", str(root), "--classes-from-folders"]) == 0
    assert main(["--library", str(lib), "import", str(tmp_path / "new")]) == 0
    return lib


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_after_train_every_image_is_predicted_and_evaluate_says_on_what(
    library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--library", str(library), *TRAIN]) == 0
    trained = _last_json(capsys)
    assert trained["predicted"] == 27

    assert main(["--library", str(library), "stats", "--json"]) == 0
    stats = _last_json(capsys)
    assert stats["images"] == 27 and stats["unlabeled"] == 5
    assert stats["predicted"] == stats["images"]

    model = trained["model"]
    assert main(["evaluate", model, "--json"]) == 0
    evaluation = _last_json(capsys)
    assert evaluation == {**evaluation, **trained["evaluation"]}  # the same figures
    assert evaluation["images"] == 22 and len(evaluation["per_class"]) == 2
    lo, hi = evaluation["ci95"]
    assert 0.0 <= lo <= evaluation["accuracy"] <= hi <= 1.0

    assert main(["evaluate", model]) == 0
    text = capsys.readouterr().out
    assert "on 22 labeled (5-fold cross-validation) images" in text
    cv_line = next(line for line in text.splitlines() if line.startswith("5-fold cross-validation"))
    assert cv_line.endswith(" on 22 labeled images")  # said once, not twice in one line
    assert "95 % CI" in text and "only 22 images: this number can be far off" in text
    assert "calibration error (ECE)" in text

    assert main(["--library", str(library), "runs"]) == 0
    runs = capsys.readouterr().out
    assert "n=22 cross-validation" in runs and runs.splitlines()[1].startswith("*")


def test_evaluate_refuses_a_folder_that_is_not_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "not a cnndesk model folder" in err and "Traceback" not in err
