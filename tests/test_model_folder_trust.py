"""A saved model folder is read as evidence, not taken on trust.

An adversarial tester found: an edited ``evaluation.json`` (``"confusion": [[1]]`` for a model of
two classes) shown as "100 % on 1 image"; errors such as "cannot be read: 'classes'"; a damaged
``calibration`` entry in ``model.json`` described as "saved by an older cnndesk"; and torch's
TracerWarning, with a source line, on the first ``cnndesk predict`` of a ``simple-cnn`` model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cnndesk.cli import main
from tests.conftest import make_image

TRAIN = ["train", "--backbone", "simple-cnn", "--mode", "full", "--image-size", "32"]
TRAIN += ["--epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small simple-cnn model (red vs blue), trained once for the module."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNDESK_HOME", str(root / "home"))
        for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            for i in range(6):
                make_image(root / "photos" / name / f"{i}.png", size=(40, 40), colour=colour)
        library = str(root / "lib.cnndesk")
        assert main(["--library", library, "import", str(root / "photos"), "--classes-from-folders"]) == 0  # fmt: skip
        assert main(["--library", library, *TRAIN, "--out", str(root / "model")]) == 0
    return root / "model"


@pytest.fixture
def model(trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained model folder, to damage."""
    return Path(shutil.copytree(trained, tmp_path / "model"))


def edit(folder: Path, name: str, change: Callable[[dict[str, Any]], Any]) -> None:
    path = folder / name
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def evaluate(folder: Path, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["evaluate", str(folder), *more])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_untouched_evaluation_is_shown(model: Path, capsys) -> None:
    code, out, err = evaluate(model, capsys)
    assert code == 0, err
    assert out.startswith("Accuracy: ") and "validation+test images" in out


def test_a_confusion_matrix_of_the_wrong_size_is_not_shown_as_100_percent(
    model: Path, capsys
) -> None:
    edit(model, "evaluation.json", lambda d: d.update(confusion=[[1]]))
    for more in ((), ("--json",)):
        code, out, err = evaluate(model, capsys, *more)
        assert code == 1 and out == ""  # no figure at all, not "100 % on 1 image"
        assert str(model / "evaluation.json") in err and "cannot be trusted" in err
        assert "one row per class of the model (2), not 1" in err
        assert "Traceback" not in err


def _scale_bins(d: dict[str, Any]) -> None:
    for b in d["calibration"]["bins_before"]:
        b["count"] *= 2


TAMPERED = [
    (
        "accuracy raised",
        lambda d: d.update(accuracy=0.99),
        "accuracy is 99.0%, but its confusion matrix has",
    ),
    (
        "a negative count",
        lambda d: d["confusion"][0].__setitem__(0, -3),
        "confusion[0][0] must be a count of images",
    ),
    (
        "a count as text",
        lambda d: d["confusion"][1].__setitem__(1, "2"),
        "confusion[1][1] must be a count",
    ),
    (
        "a row too short",
        lambda d: d["confusion"][1].pop(),
        "row 2 of its confusion matrix must hold 2 counts",
    ),
    (
        "recall raised",
        lambda d: d["per_class"][0].update(recall=1.0),
        "the recall of 'blue' is 100.0%, but its confusion matrix gives",
    ),
    (
        "support changed",
        lambda d: d["per_class"][1].update(support=40),
        "per_class says 'red' has 40 images",
    ),
    (
        "classes renamed",
        lambda d: d.update(classes=["cat", "dog"]),
        "its classes (['cat', 'dog']) are not the model's",
    ),
    (
        "a class unknown",
        lambda d: d["predictions"][0].update(predicted=7),
        "predictions[0].predicted must be a class number from 0 to 1",
    ),
    (
        "no probabilities",
        lambda d: d["predictions"][0].update(probabilities=[1.5, 0]),
        "predictions[0].probabilities[0] must be a number from 0 to 1",
    ),
    (
        "bins inflated",
        _scale_bins,
        "calibration.bins_before hold 8 predictions, but calibration.images says 4",
    ),
    (
        "ECE changed",
        lambda d: d["calibration"].update(ece_after=0.9),
        "calibration.ece_after is 0.900, but its bins give",
    ),
    (
        "temperature absurd",
        lambda d: d["calibration"].update(temperature=1e9),
        "calibration.temperature must be a number from",
    ),
    (
        "split invented",
        lambda d: d.update(split="all of them"),
        "split must be one of test, test+val",
    ),
    ("classes missing", lambda d: d.pop("classes"), "its classes (None) are not the model's"),
]


@pytest.mark.parametrize(
    ("change", "said"), [t[1:] for t in TAMPERED], ids=[t[0] for t in TAMPERED]
)
def test_an_edited_evaluation_is_refused_with_what_is_wrong(
    model: Path, capsys, change: Callable[[dict[str, Any]], Any], said: str
) -> None:
    edit(model, "evaluation.json", change)
    code, out, err = evaluate(model, capsys)
    assert code == 1 and out == ""
    assert f"{model / 'evaluation.json'} is damaged, so this model's evaluation cannot be trusted" in err  # fmt: skip
    assert said in err
    assert "Traceback" not in err and "unexpected error" not in err


@pytest.mark.parametrize(
    ("name", "change", "said"),
    [
        ("model.json", lambda d: d.pop("classes"), "model description: it lacks classes"),
        (
            "model.json",
            lambda d: d["data_config"].pop("std"),
            "data_config.std must be 3 finite numbers",
        ),
        ("evaluation.json", lambda d: d.pop("confusion"), "it has no confusion matrix (confusion)"),
        (
            "evaluation.json",
            lambda d: d["per_class"][0].pop("name"),
            "per_class[0] must be the class 'blue'",
        ),
        (
            "evaluation.json",
            lambda d: d["calibration"].pop("images"),
            "calibration.images must be a count",
        ),
    ],
)
def test_a_missing_field_is_named_in_words(
    model: Path, capsys, name: str, change: Callable[[dict[str, Any]], Any], said: str
) -> None:
    edit(model, name, change)
    code, _, err = evaluate(model, capsys)
    assert code == 1 and said in err
    assert "cannot be read: '" not in err  # a KeyError's bare text


def test_a_damaged_calibration_entry_says_damaged_not_older(model: Path, capsys) -> None:
    edit(model, "model.json", lambda d: d["calibration"].update(confidence="garbage"))
    code, _, err = evaluate(model, capsys, "--target-precision", "0.9")
    assert code == 1
    assert "model.json's calibration entry is damaged: calibration.confidence must be a list" in err
    assert "older cnndesk" not in err
    edit(model, "model.json", lambda d: d["calibration"].update(confidence=[0.7, 2.0, 0.6, 0.9]))
    code, _, err = evaluate(model, capsys, "--target-precision", "0.9")
    assert code == 1 and "calibration.confidence[1] must be from 0 to 1, not 2.0" in err


def test_a_model_truly_without_calibration_says_it_is_older(model: Path, capsys) -> None:
    edit(model, "model.json", lambda d: d.pop("calibration"))
    code, _, err = evaluate(model, capsys, "--target-precision", "0.9")
    assert code == 1 and "saved by an older cnndesk" in err and "damaged" not in err


def test_the_first_predict_of_a_simple_cnn_prints_no_tracer_warning(model: Path) -> None:
    image = make_image(model.parent / "red.png", size=(40, 40), colour=(220, 30, 30))
    env = {**os.environ, "CNNDESK_HOME": str(model.parent / "fresh-home")}  # no ONNX cache yet
    done = subprocess.run(
        [sys.executable, "-m", "cnndesk", "predict", str(model), str(image)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "red" in done.stdout and "blue" in done.stdout
    assert "TracerWarning" not in done.stderr, done.stderr
    assert "x.shape" not in done.stderr  # nor the source line it quoted


def test_an_evaluation_too_large_to_read_says_so_not_damaged(
    model: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model of many classes evaluated on many images writes a large file: it is not called
    damaged, only too large to read."""
    import cnndesk.evaluation_file as evaluation_file

    size = (model / "evaluation.json").stat().st_size
    monkeypatch.setattr(evaluation_file, "MAX_EVALUATION_BYTES", size - 1)
    code, out, err = evaluate(model, capsys)
    assert code == 1 and out == ""
    assert "more than cnndesk reads" in err and "damaged" not in err
