"""OpenVINO IR export: ``m.xml`` + ``m.bin`` that OpenVINO runs with cnndesk's probabilities on real
photos, never written over files cnndesk did not write, and no telemetry on the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cnndesk.domain import ModelError, OutputError
from cnndesk.ml import export as export_module
from cnndesk.ml.export import export_model
from cnndesk.ml.predict import Predictor
from tests.conftest import make_image, result_of
from tests.model_folders import make_model_folder

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("ants", "bees")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "m", classes=CLASSES)


def test_openvino_ir_matches_pytorch_on_real_photos(
    model_dir: Path, hymenoptera_copy: Path, tmp_path: Path
) -> None:
    import openvino as ov

    photos = sorted(hymenoptera_copy.rglob("*.jpg"))[:6]
    out = tmp_path / "export" / "m.xml"
    result = result_of(export_model(model_dir, out, format="openvino", check_images=photos))

    assert result.format == "openvino" and result.images_checked == 6
    assert 0.0 <= result.max_abs_diff <= 1e-3
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.bin", "m.xml", "m.xml.json"]
    sidecar = json.loads(Path(result.sidecar).read_text())
    assert sidecar["format"] == "openvino" and sidecar["files"] == ["m.xml", "m.bin"]
    assert sidecar["classes"] == list(CLASSES) and "real images" in sidecar["check"]["images"]

    # Someone else's program: OpenVINO reads m.xml (and m.bin beside it) on its own.
    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(out)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    predictor = Predictor(model_dir, device="cpu")
    batch = torch.stack([predictor.load(p) for p in photos])
    probs = np.asarray(compiled({0: batch.numpy()})[0])
    assert probs.shape == (6, 2)
    for row, path in zip(probs, photos):
        expected = {s.name: s.p for s in predictor.predict(path).top}
        for i, name in enumerate(sidecar["classes"]):
            assert row[i] == pytest.approx(expected[name], abs=1e-4)


def test_a_bin_cnndesk_did_not_write_is_kept_even_with_force(
    model_dir: Path, tmp_path: Path
) -> None:
    """--force (or the file dialog's "replace?") is about m.xml, the file the user named."""
    foreign = tmp_path / "m.bin"
    foreign.write_bytes(b"someone's weights")
    for force in (False, True):
        with pytest.raises(
            OutputError, match=r"m\.bin already exists and cnndesk did not write it"
        ):
            result_of(export_model(model_dir, tmp_path / "m.xml", format="openvino", force=force))
        assert foreign.read_bytes() == b"someone's weights"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin"]

    # Once it is gone, a second export replaces the first one's files freely.
    foreign.unlink()
    result_of(export_model(model_dir, tmp_path / "m.xml", format="openvino"))
    first = (tmp_path / "m.bin").stat().st_ino
    again = result_of(export_model(model_dir, tmp_path / "m.xml", format="openvino"))
    assert again.max_abs_diff <= 1e-3 and (tmp_path / "m.bin").stat().st_ino != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml", "m.xml.json"]


def test_an_xml_cnndesk_did_not_write_is_kept(model_dir: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "m.xml"
    foreign.write_text("<config/>")
    with pytest.raises(OutputError, match=r"m\.xml already exists"):
        result_of(export_model(model_dir, foreign, format="openvino"))
    assert foreign.read_text() == "<config/>" and not (tmp_path / "m.bin").exists()


def test_an_ir_that_disagrees_leaves_nothing_behind(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # nothing can pass
    make_image(tmp_path / "photo.jpg", size=(90, 70))
    with pytest.raises(ModelError, match="openvino model disagrees with PyTorch"):
        result_of(export_model(model_dir, tmp_path / "m.xml", format="openvino"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]  # no temp files either


def test_exporting_openvino_ir_sends_no_telemetry(model_dir: Path, tmp_path: Path) -> None:
    """``import openvino`` alone writes a client id under ~/intel and sends an event; converting
    and checking an IR through cnndesk writes nothing in HOME."""
    home = tmp_path / "home"
    home.mkdir()
    code = (
        "from cnndesk.ml.export import export_model\n"
        "from tests.conftest import result_of\n"
        f"r = result_of(export_model({str(model_dir)!r}, {str(tmp_path / 'm.xml')!r},"
        " format='openvino'))\n"
        "assert r.max_abs_diff <= 1e-3\n"
    )
    env = {**os.environ, "HOME": str(home), "CNNDESK_HOME": str(tmp_path / "cnndesk")}
    env.pop("CI", None)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, timeout=300)
    assert (tmp_path / "m.bin").is_file()
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == []
