"""The ``cnndesk`` command as scripts use it: exact names, JSON shapes, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.conftest import make_image


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def pics(tmp_path: Path) -> Path:
    for cls in ("cat", "dog"):
        for i in range(3):
            make_image(
                tmp_path / "pics" / cls / f"{cls}{i}.jpg",
                colour=(90 * i, 20, 200 if cls == "dog" else 0),
            )
    return tmp_path / "pics"


def test_stats_json_keys(capsys, pics: Path) -> None:
    run(capsys, "import", str(pics), "--classes-from-folders")
    code, out, _ = run(capsys, "stats", "--json")
    stats = json.loads(out)
    assert code == 0
    assert {"images", "unreadable", "unlabeled", "classes", "splits"} <= set(stats)
    assert stats["images"] == 6 and stats["classes"] == {"cat": 3, "dog": 3}
    assert sum(stats["splits"].values()) == 6


def test_classes_add_rename_remove(capsys, pics: Path) -> None:
    run(capsys, "import", str(pics), "--classes-from-folders")
    assert run(capsys, "classes", "add", "../../escaped", "--key", "e")[0] == 0
    code, out, _ = run(capsys, "classes", "--json")
    assert [c["name"] for c in json.loads(out)] == ["cat", "dog", "../../escaped"]
    assert json.loads(out)[2]["key"] == "E"
    assert run(capsys, "classes", "rename", "cat", "kitten")[0] == 0
    code, _, err = run(capsys, "classes", "remove", "kitten")
    assert code == 1 and "--yes" in err
    assert run(capsys, "classes", "remove", "kitten", "--yes")[0] == 0
    _, out, _ = run(capsys, "stats", "--json")
    assert json.loads(out)["unlabeled"] == 3
    code, _, err = run(capsys, "classes", "rename", "nope", "x")
    assert code == 1 and "no class named 'nope'" in err


def test_label_and_clear(capsys, pics: Path) -> None:
    run(capsys, "import", str(pics))
    run(capsys, "classes", "add", "animal")
    files = [str(p) for p in sorted(pics.rglob("*.jpg"))[:4]]
    code, out, _ = run(capsys, "label", *files, "--class", "animal")
    assert code == 0 and "4 images" in out
    assert json.loads(run(capsys, "stats", "--json")[1])["classes"] == {"animal": 4}
    run(capsys, "label", files[0], "--clear")
    assert json.loads(run(capsys, "stats", "--json")[1])["classes"] == {"animal": 3}
    code, _, err = run(capsys, "label", str(pics / "nothere.jpg"), "--class", "animal")
    assert code == 1 and "import it first" in err
    code, _, err = run(capsys, "label", files[0], "--class", "ghost")
    assert code == 1 and "no class named 'ghost'" in err


def test_export_labels_csv_and_imagefolder_stay_inside_out(
    capsys, pics: Path, tmp_path: Path
) -> None:
    run(capsys, "import", str(pics), "--classes-from-folders")
    run(capsys, "classes", "rename", "dog", "../../escaped")
    assert run(capsys, "export-labels", "--format", "csv", str(tmp_path / "labels.csv"))[0] == 0
    rows = list(csv.DictReader((tmp_path / "labels.csv").open(encoding="utf-8")))
    assert len(rows) == 6 and {r["class"] for r in rows} == {"cat", "../../escaped"}
    out = tmp_path / "deep" / "out"
    assert run(capsys, "export-labels", "--format", "imagefolder", str(out))[0] == 0
    written = [p for p in tmp_path.rglob("*.jpg") if not p.is_relative_to(pics)]
    assert len(written) == 6 and all(p.is_relative_to(out) for p in written)


def test_version_and_module_entry_point(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and "cnndesk" in capsys.readouterr().out
