"""The model folder round-trips, and the preprocessing contract holds on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cnndesk.domain import ImageError, ModelError
from cnndesk.ml.model_io import build_model, load_model, save_model
from cnndesk.ml.preprocess import decode_image, eval_transform, load_for_model, scale_size
from tests.conftest import make_image


def _data_config(model: torch.nn.Module) -> dict:
    from timm.data import resolve_model_data_config

    return resolve_model_data_config(model)


@pytest.mark.parametrize("backbone", ["test_efficientnet", "simple-cnn"])
def test_model_folder_round_trips_to_identical_predictions(tmp_path: Path, backbone: str) -> None:
    model = build_model(backbone, 3).eval()
    folder = save_model(
        tmp_path / "m",
        model,
        {
            "backbone": backbone,
            "classes": ["ant", "bee", "wasp"],
            "data_config": _data_config(model),
        },
    )
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.safetensors"]
    loaded, info = load_model(folder)
    assert not loaded.training
    assert info["format"] == "cnndesk-model" and info["format_version"] == 1
    assert info["classes"] == ["ant", "bee", "wasp"]
    assert info["data_config"]["input_size"][0] == 3
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_loading_a_folder_that_is_not_a_model_says_so(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a cnndesk model folder"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text(
        json.dumps({"format": "cnndesk-model", "format_version": 9})
    )
    with pytest.raises(ModelError, match="newer cnndesk"):
        load_model(tmp_path)


def test_decode_respects_exif_orientation_and_gives_rgb(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "rotated.jpg"
    image = Image.new("L", (80, 40), 128)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    image.save(path, exif=exif)
    decoded = decode_image(path, size=20)
    assert decoded.mode == "RGB"
    assert decoded.width < decoded.height  # shown upright, as a photo viewer shows it


def test_draft_decode_shrinks_big_jpegs_but_never_below_the_size_asked(tmp_path: Path) -> None:
    path = make_image(tmp_path / "big.jpg", size=(1600, 1200))
    decoded = decode_image(path, size=256)
    assert min(decoded.size) >= 256
    assert decoded.size[0] <= 800  # decoded at 1/2 or less, not full size


def test_broken_files_raise_image_error_with_a_reason(tmp_path: Path) -> None:
    good = make_image(tmp_path / "good.jpg", size=(200, 200))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(good.read_bytes()[:300])
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    with pytest.raises(ImageError, match="damaged or truncated"):
        decode_image(broken)
    with pytest.raises(ImageError, match="not an image"):
        decode_image(text)
    with pytest.raises(ImageError, match="missing"):
        decode_image(tmp_path / "gone.jpg")


@pytest.mark.parametrize("size", [(300, 200), (200, 300), (357, 500), (64, 48), (1000, 257)])
def test_load_for_model_is_timms_eval_transform(tmp_path: Path, size) -> None:
    """Resampling only the crop gives timm's pixels to within two 8-bit levels (one on photos)."""
    path = make_image(tmp_path / "photo.jpg", size=size)
    config = _data_config(build_model("test_efficientnet", 2))
    tensor = load_for_model(path, config)
    assert tensor.shape == (3, *config["input_size"][1:])
    expected = eval_transform(config)(decode_image(path, size=scale_size(config)))
    level = 1 / 255 / min(config["std"])  # one 8-bit level after normalising
    assert float((tensor - expected).abs().max()) <= 2 * level + 1e-6


def test_simple_cnn_keeps_its_weight_names_and_works_at_any_size() -> None:
    """Models saved by earlier versions still load: the same parameter names and shapes."""
    model = build_model("simple-cnn", 10).eval()
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert shapes["hidden.2.weight"] == (64, 64 * 8 * 8) and shapes["fc.weight"] == (10, 64)
    assert not [name for name in shapes if name.startswith("hidden.") and ".2." not in name]
    with torch.no_grad():
        for side in (32, 48, 20):  # 32 px skips the pool; other sizes are pooled to 8×8
            assert model(torch.rand(2, 3, side, side)).shape == (2, 10)
