"""Test harness: Qt offscreen, a fresh ``CNNDESK_HOME`` per test, and images the tests make.

``QT_QPA_PLATFORM`` is set before anything can import Qt (without a platform Qt aborts the whole
process). Every test gets its own data and cache folders, so nothing touches the user's library.
"""

from __future__ import annotations

import os
import shutil
import zlib
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Nothing may reach the network from a test: make hub downloads fail fast and clearly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[2] / "shared"
HYMENOPTERA = SHARED / "data" / "hymenoptera"
CIFAR10_TGZ = SHARED / "data" / "cifar10-jpeg.tar.gz"
LITE0_WEIGHTS = SHARED / "models" / "tf_efficientnet_lite0_in1k.safetensors"


@pytest.fixture(autouse=True)
def cnndesk_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets an empty ``CNNDESK_HOME``: its own default library, models and caches."""
    home = tmp_path_factory.mktemp("cnndesk_home")
    monkeypatch.setenv("CNNDESK_HOME", str(home))
    return home


def make_image(
    path: Path, *, size: tuple[int, int] = (64, 48), colour=(200, 30, 30), fmt=None
) -> Path:
    """Write a small real image (a coloured rectangle with some texture) and return its path."""
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    # Texture that depends on the path, so two images never share content by accident, but only
    # on its last four parts (within the test's tmp_path, e.g. test_x0/train/red/0.png): the same
    # test gets the same pixels on every run, so a training test cannot pass or fail by chance.
    seed = zlib.crc32("/".join(path.parts[-4:]).encode())
    for i in range(6):
        x = (seed >> (i * 3)) % max(size[0] - 4, 1)
        y = (seed >> (i * 2 + 5)) % max(size[1] - 4, 1)
        fill = ((seed >> i) % 256, (seed >> (i + 8)) % 256, (seed >> (i + 16)) % 256)
        draw.rectangle([x, y, x + 3, y + 3], fill=fill)
    image.save(path, format=fmt)
    return path


@pytest.fixture
def hymenoptera_copy(tmp_path: Path) -> Path:
    """A private copy of the real ants/bees photos (never write into ../shared)."""
    if not HYMENOPTERA.is_dir():
        pytest.skip(
            f"real photos not found at {HYMENOPTERA} (../shared/data is beside the checkout in CI)"
        )
    dest = tmp_path / "hymenoptera"
    shutil.copytree(HYMENOPTERA, dest)
    return dest


def result_of(gen):
    """Run a job generator to its end and return its result (the events are dropped)."""
    from cnndesk.jobs import drive

    return drive(gen, lambda _event: None)
