"""Grad-CAM: the map lights up where the class evidence is, for hooked timm-style and plain models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnndesk.domain import ModelError
from cnndesk.ml.gradcam import GradCam, colormap, last_conv_stage, overlay
from tests.model_folders import make_model_folder

DATA_CONFIG = {
    "input_size": (3, 64, 64),
    "interpolation": "bilinear",
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
}


class RedDetector(torch.nn.Module):
    """Class 1 ("red") is evidence of red pixels; class 0 of green ones. timm-style API."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)
        self.stage = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, padding=1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(2, 2)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.zero_()
            self.conv.weight[0, 0, 1, 1], self.conv.weight[0, 1, 1, 1] = 1.0, -1.0  # red - green
            self.conv.weight[1, 1, 1, 1], self.conv.weight[1, 0, 1, 1] = 1.0, -1.0  # green - red
            self.stage[0].weight.zero_()
            self.stage[0].bias.zero_()
            for c in range(2):
                self.stage[0].weight[c, c] = 1.0 / 9
            self.fc.weight.copy_(torch.tensor([[0.0, 4.0], [4.0, 0.0]]))
            self.fc.bias.zero_()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage(torch.relu(self.conv(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _image_with_patch(path: Path, quadrant: tuple[int, int], *, size: int = 96) -> Path:
    """A grey image with a red square in one quadrant (row, column) and nothing else."""
    pixels = np.full((size, size, 3), 128, dtype=np.uint8)
    half = size // 2
    r, c = quadrant
    pixels[r * half + 12 : r * half + 36, c * half + 12 : c * half + 36] = (230, 20, 20)
    Image.fromarray(pixels).save(path)
    return path


def _peak_quadrant(heat: np.ndarray) -> tuple[int, int]:
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return int(y >= heat.shape[0] / 2), int(x >= heat.shape[1] / 2)


@pytest.mark.parametrize("quadrant", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_map_peak_lies_in_the_quadrant_holding_the_evidence(
    tmp_path: Path, quadrant: tuple[int, int]
) -> None:
    path = _image_with_patch(tmp_path / "patch.png", quadrant)
    cam = GradCam(RedDetector(), classes=["green", "red"], data_config=DATA_CONFIG)
    (red,) = cam.explain(path, ["red"])
    assert red.class_name == "red" and red.probability > 0.5
    assert red.heat.shape == (96, 96)
    assert _peak_quadrant(red.heat) == quadrant
    # The other three quadrants are (nearly) dark: the evidence is only where the patch is.
    rows, cols = np.indices(red.heat.shape)
    inside = ((rows >= 48) == quadrant[0]) & ((cols >= 48) == quadrant[1])
    assert red.heat[~inside].max() < 0.25 * red.heat[inside].max()


def test_a_model_without_forward_features_is_traced_past_its_global_pool(tmp_path: Path) -> None:
    detector = RedDetector()
    plain = torch.nn.Sequential(
        detector.conv,
        torch.nn.ReLU(),
        detector.stage,
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        detector.fc,
    )
    assert last_conv_stage(plain, torch.zeros(1, 3, 64, 64)) is detector.stage
    path = _image_with_patch(tmp_path / "patch.png", (1, 0))
    (top,) = GradCam(plain, classes=["green", "red"], data_config=DATA_CONFIG).explain(path)
    assert top.class_name == "red"
    assert _peak_quadrant(top.heat) == (1, 0)


class TokenModel(torch.nn.Module):
    """A transformer-like model: its features are tokens, not a map."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3, 4)
        self.fc = torch.nn.Linear(4, 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(2).transpose(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x).mean(1))


def test_a_backbone_without_a_convolutional_map_is_refused_clearly(tmp_path: Path) -> None:
    path = _image_with_patch(tmp_path / "patch.png", (0, 0))
    cam = GradCam(TokenModel(), classes=["a", "b"], data_config=DATA_CONFIG)
    with pytest.raises(ModelError, match="convolutional backbone"):
        cam.explain(path)


def test_maps_are_cached_per_model_image_and_class(tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "model", classes=("ants", "bees", "wasps"))
    path = _image_with_patch(tmp_path / "patch.png", (0, 1))
    cam = GradCam.from_folder(folder, cache_root=tmp_path / "cache")
    first = cam.explain(path, top=2)
    assert len(first) == 2 and first[0].probability >= first[1].probability
    cached = sorted(p.name for p in (tmp_path / "cache").rglob("*.npy"))
    assert len([n for n in cached if not n.endswith("probs.npy")]) == 2
    # A second explainer (a new process, say) reads the same maps instead of computing them.
    again = GradCam.from_folder(folder, cache_root=tmp_path / "cache")
    again.model = None  # would raise if it ran the network
    second = again.explain(path, top=2)
    assert [m.class_index for m in second] == [m.class_index for m in first]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.heat, b.heat)
    with pytest.raises(ModelError, match="no class 'cats'"):
        again.explain(path, ["cats"])


def test_overlay_is_the_image_size_and_coloured_where_the_map_is_hot() -> None:
    heat = np.zeros((10, 10), dtype=np.float32)
    heat[:5, :5] = 1.0
    shown = np.asarray(overlay(Image.new("RGB", (40, 40), (128, 128, 128)), heat))
    assert shown.shape == (40, 40, 3)
    assert tuple(colormap(np.array([[1.0]]))[0, 0]) != tuple(colormap(np.array([[0.0]]))[0, 0])
    assert not np.array_equal(shown[2, 2], shown[37, 37])
