"""Review fixes: outputs that fail part way leave nothing the next run refuses or misreads.

Before: explain whose PNG met a full disk left its ``.npy`` unrecorded, so the next run refused
with "... exists and was not written by cnndesk explain; use --force"; a manifest that could not
be written was only logged, with the same result for every map.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import cnndesk.ml.gradcam as gradcam
from cnndesk.cli import main
from tests.conftest import make_image
from tests.model_folders import make_model_folder


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_explain_whose_png_meets_a_full_disk_can_be_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    model = make_model_folder(tmp_path / "model", classes=("blue", "red"))
    image = make_image(tmp_path / "p.png", size=(40, 40))
    out = tmp_path / "maps\x1b[2J"  # a terminal escape in the folder's name
    command = ["explain", str(model), str(image), "--out", str(out)]
    with monkeypatch.context() as patched:
        patched.setattr(gradcam, "_write_png", _full)
        assert main(command) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "\x1b" not in err and "\\x1b[2J" in err
    assert not [p for p in out.iterdir() if p.suffix in (".npy", ".png")]  # no half pair
    assert main(command) == 0  # the retry the message implies works
    assert sorted(p.suffix for p in out.iterdir() if not p.name.startswith(".")) == [".npy", ".png"]


def test_explain_whose_manifest_cannot_be_written_says_so_and_keeps_no_unrecorded_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    model = make_model_folder(tmp_path / "model", classes=("blue", "red"))
    image = make_image(tmp_path / "p.png", size=(40, 40))
    out = tmp_path / "maps"
    command = ["explain", str(model), str(image), "--out", str(out)]
    real_replace = os.replace

    def manifest_fails(src, dst, *args, **kwargs):
        if Path(dst).name == gradcam.MANIFEST:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", manifest_fails)
        assert main(command) == 1
    err = capsys.readouterr().err
    assert f"Could not record the maps in {out / gradcam.MANIFEST}" in err
    assert "unexpected error" not in err and len(err.strip().splitlines()) == 1
    assert os.listdir(out) == []  # neither maps nor a temporary manifest
    assert main(command) == 0
    assert len(json.loads((out / gradcam.MANIFEST).read_text())) == 2
