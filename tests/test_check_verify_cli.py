"""``cnndesk check --verify``: a photo rewritten with other pixels of the same byte size, its mtime
put back, passes the plain check unnoticed and is marked changed by the verifying one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.library.test_verify_contents import bmp_folder, rewrite_keeping_size_and_mtime


def _cli(library: Path, *args: str) -> int:
    return main(["--library", str(library), *args])


def test_check_verify_finds_content_the_plain_check_trusts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = tmp_path / "lib.cnndesk"
    photos = bmp_folder(tmp_path / "photos", 4)
    assert _cli(library, "import", str(tmp_path / "photos")) == 0
    rewrite_keeping_size_and_mtime(photos[2], colour=(255, 0, 255))
    capsys.readouterr()

    assert _cli(library, "check") == 0
    out = capsys.readouterr().out
    assert "Checked 4 images: 4 readable, 0 missing, 0 unreadable, 0 changed" in out

    assert _cli(library, "check", "--verify") == 0
    out = capsys.readouterr().out
    assert "Verified 4 of 4 images byte by byte (sha256): 1 with changed content" in out
    assert _cli(library, "stats") == 0
    assert "1 changed (check the label)" in capsys.readouterr().out

    assert _cli(library, "check", "--verify", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["verified"], report["changed"]) == (4, 0)  # already re-hashed


def test_check_help_says_what_verify_costs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--verify" in out and "re-hash every file" in out and "size and modification time" in out
