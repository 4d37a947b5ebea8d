"""Outputs on a full disk or from files that changed under the library: one clear line, no
partial file, nothing read without end.

Before: ``export-labels --format imagefolder`` copied a photo replaced by a link to /dev/zero
until the disk was full (13 GB in 20 s) and stopped with "unexpected error" at a photo that was
moved away or became a FIFO; a full disk while writing a sort's report ended a sort that had
already moved the files with "unexpected error" and left half a report; explain the same.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from cnndesk.cli import main
from tests.model_folders import make_model_folder
from tests.probe_helpers import red_blue_photos


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return red_blue_photos(tmp_path / "photos", per_class=3)


def test_export_imagefolder_leaves_out_what_is_no_longer_a_file(
    tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = ["--library", str(tmp_path / "lib.cnndesk")]
    assert main([*library, "import", str(photos), "--classes-from-folders"]) == 0
    (photos / "red" / "0.png").unlink()  # moved away since the import
    (photos / "blue" / "0.png").unlink()
    os.mkfifo(photos / "blue" / "0.png")  # a pipe where a photo was: reading it would block
    out = tmp_path / "export"
    capsys.readouterr()
    assert main([*library, "export-labels", "--format", "imagefolder", str(out)]) == 1
    err = capsys.readouterr().err
    assert "unexpected error" not in err and "2 photos left out" in err
    assert "red/0.png out of the export: the file is missing" in err
    assert "blue/0.png out of the export: it is a pipe (FIFO)" in err
    exported = sorted(p.name.split("_", 1)[1] for p in out.rglob("*.png"))
    assert exported == ["1.png", "1.png", "2.png", "2.png"]
    for copy in out.rglob("*.png"):  # byte for byte
        assert copy.read_bytes() == (photos / copy.parent.name / copy.name[13:]).read_bytes()


def test_a_full_disk_at_the_sort_report_says_the_files_were_sorted(
    tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    model = make_model_folder(tmp_path / "model", classes=("blue", "red"))
    dest = tmp_path / "sorted"
    capsys.readouterr()
    with monkeypatch.context() as patched:  # only the report's JSON meets the full disk
        patched.setattr(json, "dump", _full)
        code = main(
            ["--library", str(tmp_path / "lib.cnndesk"), "sort", str(model), str(photos),
             str(dest), "--move"]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "unexpected error" not in err
    assert "the disk is full" in err and f"cnndesk sort --undo {dest}" in err
    assert "try again" not in err  # sorting again would sort the sorted files
    assert not list(dest.glob("*.json")) and not list(dest.glob(".*.part"))
    assert not list(dest.glob("*.csv"))  # no half report beside a message saying none was written
    assert main(["sort", "--undo", str(dest)]) == 0  # the journal puts every photo back
    assert len(list(photos.rglob("*.png"))) == 6


def test_explain_on_a_full_disk_writes_no_map_and_says_so(
    tmp_path: Path, photos: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    model = make_model_folder(tmp_path / "model", classes=("blue", "red"))
    out = tmp_path / "maps"
    monkeypatch.setattr(np, "save", _full)  # the cache and the output alike
    capsys.readouterr()
    assert main(["explain", str(model), str(photos / "red" / "0.png"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Could not write 0.red" in err or "Could not write 0.blue" in err
    assert "No space left on device" in err and "unexpected error" not in err
    assert not out.exists() or not [p for p in out.iterdir() if p.suffix in (".npy", ".png")]
