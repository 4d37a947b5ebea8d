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
from tests.conftest import make_image, result_of
from tests.model_folders import make_model_folder
from tests.probe_helpers import small_pixel_cache


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


@pytest.fixture
def labeled(tmp_path: Path) -> list[str]:
    for name in ("a", "b"):
        for i in range(2):
            os.chmod(make_image(tmp_path / "photos" / name / f"{i}.png", size=(40, 40)), 0o600)
    library = ["--library", str(tmp_path / "lib.cnndesk")]
    assert main([*library, "import", str(tmp_path / "photos"), "--classes-from-folders"]) == 0
    return library


def test_export_imagefolder_keeps_a_private_photo_private(
    tmp_path: Path, labeled: list[str]
) -> None:
    assert main([*labeled, "export-labels", "--format", "imagefolder", str(tmp_path / "o")]) == 0
    copies = list((tmp_path / "o").rglob("*.png"))
    assert len(copies) == 4
    assert {oct(c.stat().st_mode & 0o777) for c in copies} == {oct(0o600)}  # not 0644


def test_export_imagefolder_that_leaves_photos_out_exits_1_and_ends_its_progress(
    tmp_path: Path, labeled: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from cnndesk.jobs import export_labels_job
    from cnndesk.library import Library

    for photo in (tmp_path / "photos").rglob("*.png"):
        photo.unlink()  # every record left out, the last one included
    capsys.readouterr()
    assert main([*labeled, "export-labels", "--format", "imagefolder", str(tmp_path / "o")]) == 1
    assert "4 photos left out" in capsys.readouterr().err
    with Library.open(tmp_path / "lib.cnndesk") as library:
        job = export_labels_job(library, tmp_path / "o2", format="imagefolder")
        events = []
        while True:
            try:
                events.append(next(job))
            except StopIteration as stop:
                result = stop.value
                break
    assert events and (events[-1].done, events[-1].total) == (4, 4)  # a bar that reaches its end
    assert len(result.left_out) == 4 and "missing" in result.left_out[0][1]


def test_ctrl_c_while_saving_a_model_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    import safetensors.torch
    import torch

    from cnndesk.ml.model_io import save_model

    def interrupted(state, filename, metadata=None) -> None:
        Path(filename).write_bytes(b"\x00" * 100)  # half the weights, then Ctrl+C
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", interrupted)
    info = {"backbone": "simple-cnn", "classes": ["a", "b"], "data_config": {}}
    with pytest.raises(KeyboardInterrupt):  # as it was: the run stops, not a ModelError
        save_model(tmp_path / "model", torch.nn.Linear(2, 2), info)
    assert os.listdir(tmp_path / "model") == []


def test_a_pixel_shard_whose_keys_file_fails_is_not_left_on_disk(
    tmp_path: Path, monkeypatch
) -> None:
    import hashlib

    import numpy as np

    from cnndesk.domain import TrainingSample

    photo = make_image(tmp_path / "a.png", size=(40, 40))
    sample = TrainingSample(path=str(photo), key=hashlib.sha256(photo.read_bytes()).hexdigest(), label=0)  # fmt: skip
    real_save = np.save

    def keys_fail(handle, array, *args, **kwargs) -> None:
        if array.dtype.kind == "U":  # the keys file: the disk filled after the data shard
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(handle, array, *args, **kwargs)

    monkeypatch.setattr(np, "save", keys_fail)
    found, failed = result_of(small_pixel_cache(tmp_path / "cache").load([sample]))
    assert failed == [] and found[sample.key].shape == (32, 32, 3)
    # A shard without its keys is never read: it would only take disk space.
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_train_out_with_a_tilde_is_checked_and_written_in_the_same_folder(
    tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("red", "blue"):
        for i in range(4):
            make_image(tmp_path / "photos" / name / f"{i}.png", size=(40, 40))
    library = ["--library", str(tmp_path / "lib.cnndesk")]
    assert main([*library, "import", str(tmp_path / "photos"), "--classes-from-folders"]) == 0
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    train = [
        "train",
        "--backbone",
        "simple-cnn",
        "--mode",
        "full",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--quiet",
        "--out=~/model",
    ]  # fmt: skip  (no shell expands it)
    assert main([*library, *train]) == 0, capsys.readouterr().err
    assert (tmp_path / "home" / "model" / "weights.safetensors").is_file()
    assert list(work.iterdir()) == []  # not a folder named '~' here
    capsys.readouterr()
    assert main([*library, *train]) == 1  # the same folder is the one checked
    assert "already holds model.json" in capsys.readouterr().err


def test_a_file_system_that_refuses_the_photos_mode_still_gets_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAT USB stick allows only its mount's mode: the photo's 0600 is refused with EPERM,
    and the copy is written with the mode the stick gives, not given up."""
    from cnndesk import outputs

    real_chmod = os.chmod

    def fat_chmod(path, mode, *args, **kwargs):
        if mode & 0o777 != 0o666 & ~outputs._UMASK:
            raise OSError(errno.EPERM, "Operation not permitted")
        return real_chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", fat_chmod)
    out = tmp_path / "copy.jpg"
    with outputs.replacing(out, "wb", permissions=0o600) as handle:
        handle.write(b"photo")
    assert out.read_bytes() == b"photo"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
