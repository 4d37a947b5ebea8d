"""A cache that cannot be written (full disk, a file in the way) never stops training or explain.

The pixel, feature and heat-map caches are optional: before, the first failed cache write ended
``cnndesk train`` with "unexpected error: 270336 requested and 196480 written" (a full disk) and
``cnndesk explain`` the same way, with nothing trained or explained.
"""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import numpy as np
import pytest

from cnndesk.cli import main
from cnndesk.domain import TrainingSample
from tests.conftest import make_image, result_of
from tests.probe_helpers import red_blue_library, small_pixel_cache


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return red_blue_library(tmp_path)


def _block(cnndesk_home: Path, *names: str) -> None:
    """Put a file where each cache folder would go, so nothing can be written under it."""
    (cnndesk_home / "cache").mkdir(exist_ok=True)
    for name in names:
        (cnndesk_home / "cache" / name).write_text("not a folder")


def test_training_and_explain_go_on_without_their_caches(
    library: Path, tmp_path: Path, cnndesk_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _block(cnndesk_home, "pixels", "features", "gradcam", "onnx")
    model = tmp_path / "model"
    code = main(
        ["--library", str(library), "train", "--backbone", "simple-cnn", "--mode", "full",
         "--image-size", "32", "--epochs", "1", "--quiet", "--out", str(model)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (model / "weights.safetensors").is_file()
    photo = next((tmp_path / "photos" / "red").iterdir())
    out = tmp_path / "maps"
    capsys.readouterr()
    assert main(["explain", str(model), str(photo), "--out", str(out)]) == 0
    assert "unexpected error" not in capsys.readouterr().err
    heat = np.load(next(out.glob("*.npy")), allow_pickle=False)
    assert heat.ndim == 2 and 0.0 <= heat.min() <= heat.max() <= 1.0


def test_a_full_disk_while_caching_pixels_keeps_the_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = make_image(tmp_path / "a.png", size=(40, 40))
    key = hashlib.sha256(photo.read_bytes()).hexdigest()
    sample = TrainingSample(path=str(photo), key=key, label=0)

    def disk_full(handle, *args, **kwargs) -> None:
        handle.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    found, failed = result_of(small_pixel_cache(tmp_path / "cache").load([sample]))
    assert failed == [] and found[sample.key].shape == (32, 32, 3)
    # Nothing half-written is left to be read as a shard next time.
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
