"""Exported models give the same probabilities as cnndesk, outside cnndesk: ONNX in ONNX Runtime
(any batch size), TorchScript through ``torch.jit.load``; the sidecar says how to preprocess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cnndesk.domain import ExportProgress, ModelError
from cnndesk.jobs import drive
from cnndesk.ml import export as export_module
from cnndesk.ml.export import export_model
from cnndesk.ml.predict import Predictor
from tests.conftest import make_image
from tests.model_folders import make_model_folder

CLASSES = ("ants", "bees", "wasps")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "m", classes=CLASSES)


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    return [
        make_image(tmp_path / f"p{i}.jpg", size=(120 + 10 * i, 90), colour=(50 * i, 100, 30))
        for i in range(5)
    ]


def run(gen):
    events: list = []
    result = drive(gen, events.append)
    return events, result


def test_onnx_export_matches_pytorch_and_runs_in_onnxruntime(
    model_dir: Path, photos: list[Path], tmp_path: Path
) -> None:
    import onnx
    import onnxruntime as ort

    out = tmp_path / "exported" / "classifier.onnx"
    events, result = run(export_model(model_dir, out, format="onnx", check_images=photos))

    assert all(isinstance(e, ExportProgress) for e in events) and events[-1].done == 3
    assert result.file == str(out) and result.images_checked == 5
    assert 0.0 <= result.max_abs_diff <= 1e-3
    model = onnx.load(str(out))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17

    sidecar = json.loads(Path(result.sidecar).read_text())
    assert sidecar["classes"] == list(CLASSES)
    pre = sidecar["preprocessing"]
    assert pre["input_size"] == [3, 64, 64] and pre["interpolation"] == "bicubic"
    assert pre["mean"] == [0.485, 0.456, 0.406] and pre["crop_pct"] == 0.875
    assert any("shorter side is 73" in step for step in pre["steps"])
    assert any("central 64×64" in step for step in pre["steps"])
    assert sidecar["check"]["max_abs_diff"] == result.max_abs_diff

    # Someone else's program: preprocess with cnndesk's own steps, run any batch size.
    predictor = Predictor(model_dir, device="cpu")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for n in (1, 3):
        batch = torch.stack([predictor.load(p) for p in photos[:n]])
        (probs,) = session.run(None, {"input": batch.numpy()})
        assert probs.shape == (n, len(CLASSES))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        for row, path in zip(probs, photos[:n]):
            expected = {s.name: s.p for s in predictor.predict(path).top}
            for i, name in enumerate(sidecar["classes"]):
                assert row[i] == pytest.approx(expected[name], abs=1e-4)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_round_trip(model_dir: Path, photos: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "classifier.pt"
    _, result = run(export_model(model_dir, out, format="torchscript", check_images=photos))
    assert result.format == "torchscript" and result.max_abs_diff <= 1e-3

    extra = {"cnndesk.json": ""}
    loaded = torch.jit.load(str(out), map_location="cpu", _extra_files=extra)
    assert json.loads(extra["cnndesk.json"])["classes"] == list(CLASSES)
    predictor = Predictor(model_dir, device="cpu")
    batch = torch.stack([predictor.load(p) for p in photos])
    with torch.no_grad():
        probs = loaded(batch)
    assert probs.shape == (5, 3)
    expected = predictor.predict(photos[2])
    assert dict(zip(CLASSES, probs[2].tolist()))[expected.label] == pytest.approx(
        expected.confidence, abs=1e-5
    )


def test_export_without_images_checks_on_generated_ones(model_dir: Path, tmp_path: Path) -> None:
    _, result = run(export_model(model_dir, tmp_path / "m.onnx", format="onnx"))
    assert result.images_checked == 8 and result.max_abs_diff <= 1e-3
    assert "generated" in json.loads(Path(result.sidecar).read_text())["check"]["images"]


def test_an_export_that_disagrees_fails_and_leaves_no_file(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # nothing can pass
    out = tmp_path / "m.onnx"
    with pytest.raises(ModelError, match="disagrees with PyTorch"):
        run(export_model(model_dir, out, format="onnx"))
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_is_refused(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="choose one of onnx, torchscript"):
        run(export_model(model_dir, tmp_path / "m.tflite", format="tflite"))
