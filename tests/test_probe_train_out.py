"""``cnndesk train --out DIR`` never replaces a model's files already in DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.probe_helpers import SIMPLE_CNN_TRAIN as TRAIN
from tests.probe_helpers import red_blue_library, runs_json


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return red_blue_library(tmp_path)


@pytest.mark.parametrize("name", ["model.json", "weights.safetensors", "evaluation.json"])
def test_a_file_of_another_program_is_kept(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / name).write_text("someone else's work\n")
    capsys.readouterr()
    code = main(["--library", str(library), *TRAIN, "--epochs", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"already holds {name}" in err and "Traceback" not in err
    assert (out / name).read_text() == "someone else's work\n"
    assert sorted(p.name for p in out.iterdir()) == [name]
    assert runs_json(library, capsys) == []  # refused before any run was recorded


def test_an_earlier_runs_model_is_not_replaced(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    assert main(["--library", str(library), *TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = main(["--library", str(library), *TRAIN, "--epochs", "2", "--out", str(out)])
    assert code == 1
    assert "choose a new or empty folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert len(runs_json(library, capsys)) == 1
