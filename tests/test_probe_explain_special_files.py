"""``cnndesk explain`` on a pipe or a device answers with one line instead of hanging.

Before, explain read the image with ``Path.read_bytes()``: a FIFO blocked it for ever and a link
to /dev/zero read until memory ran out ("unexpected error: " with an empty message). The same
read served the app's heat map (H) of a library image.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.model_folders import make_model_folder


def _limit_memory() -> None:  # a regression reads /dev/zero: let it fail, not the machine
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # torch starts in ~3.8 GB


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_explain_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    model = make_model_folder(tmp_path / "model")
    image = tmp_path / "photo.jpg"
    if kind == "fifo":
        os.mkfifo(image)
    else:
        image.symlink_to("/dev/zero")
    done = subprocess.run(
        [sys.executable, "-m", "cnndesk", "explain", str(model), str(image),
         "--out", str(tmp_path / "maps")],
        capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory, env=os.environ,
    )  # fmt: skip
    assert done.returncode == 1
    reason = "it is a pipe (FIFO)" if kind == "fifo" else "it is a device"
    assert f"photo.jpg: {reason}, not an image file" in done.stderr
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "maps").exists() or not list((tmp_path / "maps").iterdir())
