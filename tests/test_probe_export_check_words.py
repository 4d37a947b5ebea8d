"""``cnndesk export`` says which images its check rests on: the user's, or generated ones.

Before, ``--check-images DIR`` with no readable image in it fell back to 8 generated pictures
and still printed "Largest probability difference from PyTorch on 8 images", as if on DIR's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.conftest import make_image
from tests.model_folders import make_model_folder


@pytest.mark.parametrize("readable", [0, 2])
def test_the_check_line_names_its_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], readable: int
) -> None:
    model = make_model_folder(tmp_path / "model")
    folder = tmp_path / "check"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    for i in range(readable):
        make_image(folder / f"{i}.png", size=(50, 40))
    args = ["export", str(model), "--format", "onnx", "--check-images", str(folder)]
    assert main([*args, "--out", str(tmp_path / "a.onnx")]) == 0
    words = "8 generated images" if readable == 0 else f"{readable} real images"
    assert f"from PyTorch on {words}:" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b.onnx"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checked_on"] == words and result["images_checked"] == (readable or 8)
