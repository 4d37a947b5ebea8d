"""Using a model from the command line: ``cnndesk predict``, ``sort``, ``sort --undo``, ``suggest``
and ``export``, as a script or a user would call them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cnndesk.cli import main
from cnndesk.paths import UNCERTAIN_FOLDER
from tests.conftest import make_image
from tests.model_folders import make_model_folder


def sha_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def varied_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight model: different images get different, unremarkable probabilities."""
    return make_model_folder(
        tmp_path_factory.mktemp("m") / "varied", classes=("ants", "bees", "wasps")
    )


@pytest.fixture(scope="module")
def sure_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Says "bees" with probability 0.88 about every image."""
    return make_model_folder(
        tmp_path_factory.mktemp("m") / "sure", classes=("ants", "bees"), constant=(0.0, 2.0)
    )


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for i in range(4):
        make_image(root / "day1" / f"p{i}.jpg", size=(90, 70), colour=(60 * i, 90, 200 - 40 * i))
    make_image(root / "day2" / "p0.jpg", size=(50, 80), colour=(5, 5, 5))  # same name as day1's
    make_image(root / "day2" / "scan.png", size=(120, 40), colour=(250, 250, 0))
    (root / "day2" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "notes.txt").write_text("not an image, not a candidate")
    return root


def test_predict_json_lists_every_class_sorted(varied_model: Path, photos: Path, capsys) -> None:
    files = sorted(str(p) for p in photos.rglob("*.jpg"))
    code = main(["predict", str(varied_model), *files, "--json"])
    rows = json.loads(capsys.readouterr().out)

    assert code == 1  # one file could not be read
    assert [r["file"] for r in rows] == files
    for row in rows:
        if row["file"].endswith("broken.jpg"):
            assert row["top"] == [] and "broken.jpg" in row["error"]
            continue
        assert set(row) == {"file", "top"}
        assert sorted(t["class"] for t in row["top"]) == ["ants", "bees", "wasps"]
        ps = [t["p"] for t in row["top"]]
        assert ps == sorted(ps, reverse=True) and sum(ps) == pytest.approx(1.0, abs=1e-5)


def test_predict_text_is_a_table(sure_model: Path, photos: Path, capsys) -> None:
    assert main(["predict", str(sure_model), str(photos / "day1" / "p0.jpg")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["FILE", "CLASS", "PROBABILITY"]
    assert lines[1].split()[1:] == ["bees", "88.08%"]
    assert lines[2].split() == ["ants", "11.92%"]


def test_predict_with_a_folder_that_is_no_model_says_so(
    tmp_path: Path, photos: Path, capsys
) -> None:
    assert main(["predict", str(tmp_path), str(photos / "day1" / "p0.jpg")]) == 1
    err = capsys.readouterr().err
    assert "not a cnndesk model folder" in err and "Traceback" not in err


def test_sort_copy_with_threshold_then_summary_and_report(
    sure_model: Path, photos: Path, tmp_path: Path, capsys
) -> None:
    before = sha_tree(photos)
    dest = tmp_path / "sorted"
    assert main(["sort", str(sure_model), str(photos), str(dest), "--threshold", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "bees" in out and "Undo with: cnndesk sort --undo" in out
    assert sha_tree(photos) == before
    copied = sha_tree(dest / "bees")
    assert len(copied) == 6 and sorted(copied.values()) == sorted(
        h for name, h in before.items() if not name.endswith(("broken.jpg", ".txt"))
    )
    report = json.loads(next(dest.glob("cnndesk-report*.json")).read_text())
    broken = next(r for r in report["files"] if r["file"].endswith("broken.jpg"))
    assert broken["status"] == "skipped" and broken["error"]

    # Above the model's confidence, everything is uncertain.
    dest2 = tmp_path / "sorted2"
    main(["sort", str(sure_model), str(photos), str(dest2), "--threshold", "0.9", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"] == {UNCERTAIN_FOLDER: 6}
    assert [Path(u["file"]).name for u in summary["unreadable"]] == ["broken.jpg"]


def test_sort_move_then_undo_restores_the_source_tree(
    varied_model: Path, photos: Path, tmp_path: Path, capsys
) -> None:
    before = sha_tree(photos)
    dest = tmp_path / "out"
    assert main(["sort", str(varied_model), str(photos), str(dest), "--move", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mode"] == "move" and summary["sorted"] == 6
    assert set(sha_tree(photos)) == {"day2/broken.jpg", "notes.txt"}

    assert main(["sort", "--undo", str(dest)]) == 0
    assert "6 files put back" in capsys.readouterr().out
    assert sha_tree(photos) == before


def test_dry_run_writes_only_the_report(sure_model: Path, photos: Path, tmp_path: Path) -> None:
    before = sha_tree(photos)
    dest = tmp_path / "plan"
    assert main(["sort", str(sure_model), str(photos), str(dest), "--move", "--dry-run"]) == 0
    assert sha_tree(photos) == before
    assert sorted(p.name for p in dest.iterdir()) == ["cnndesk-report.csv", "cnndesk-report.json"]


def test_sort_usage_errors_are_clear(sure_model: Path, photos: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sort", str(sure_model), str(photos)])
    assert exit_info.value.code == 2
    assert "give MODEL SRC DEST (or --undo DEST)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sort", "--undo", str(photos), str(sure_model)])
    assert "--undo DEST takes no MODEL" in capsys.readouterr().err
    assert main(["sort", "--undo", str(photos)]) == 1
    assert "no sort to undo" in capsys.readouterr().err


def test_sorting_a_folder_without_images_says_so(sure_model: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures here")
    assert main(["sort", str(sure_model), str(tmp_path / "empty"), str(tmp_path / "out")]) == 1
    assert "There are no images under" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_class_named_to_escape_stays_inside_dest(photos: Path, tmp_path: Path) -> None:
    model = make_model_folder(
        tmp_path / "evil", classes=("../../escaped", "/etc"), constant=(3.0, 0.0)
    )
    dest = tmp_path / "a" / "b" / "dest"
    before = {p for p in tmp_path.rglob("*")}
    assert main(["sort", str(model), str(photos), str(dest)]) == 0
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(p == dest.parent.parent or p.is_relative_to(dest.parent.parent) for p in new)
    assert all(p.is_relative_to(dest) for p in new if p not in (dest.parent, dest.parent.parent))
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "a" / "escaped").exists()
    folders = [p for p in dest.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert [p.name for p in folders] == ["_.._escaped"]  # sanitised, directly inside DEST
    assert len(list(folders[0].iterdir())) == 6


def test_suggest_fills_the_unlabeled_queue_least_confident_first(
    varied_model: Path, tmp_path: Path, capsys
) -> None:
    from cnndesk.library import Library

    for i in range(3):
        make_image(tmp_path / "lab" / "ants" / f"a{i}.jpg", colour=(200, 10 * i, 0))
    for i in range(5):
        make_image(tmp_path / "new" / f"n{i}.jpg", size=(80, 80), colour=(40 * i, 200, 40))
    library_file = tmp_path / "lib.cnndesk"
    assert (
        main(
            [
                "--library",
                str(library_file),
                "import",
                str(tmp_path / "lab"),
                "--classes-from-folders",
            ]
        )
        == 0
    )
    assert main(["--library", str(library_file), "import", str(tmp_path / "new")]) == 0
    capsys.readouterr()

    assert main(["--library", str(library_file), "suggest", str(varied_model), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["suggested"] == 5

    with Library.open(library_file) as library:
        queue = library.unlabeled_queue(order="least_confident")
        names = {c.id: c.name for c in library.classes()}
        labeled = [r for r in library.images() if r.class_id is not None]
    confidences = [r.suggestion_confidence for r in queue]
    assert len(queue) == 5 and confidences == sorted(confidences)
    assert {names[r.suggested_class_id] for r in queue} <= {"ants", "bees", "wasps"}
    # Human labels are untouched.
    assert len(labeled) == 3 and {names[r.class_id] for r in labeled} == {"ants"}
    assert [Path(r["file"]).name for r in out["least_confident"]] == [
        Path(r.path).name for r in queue
    ]


def test_export_onnx_cli_reports_max_abs_diff(
    varied_model: Path, photos: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "exp" / "model.onnx"
    code = main(
        [
            "export",
            str(varied_model),
            "--format",
            "onnx",
            "--out",
            str(out),
            "--check-images",
            str(photos),
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["format"] == "onnx" and result["file"] == str(out) and out.is_file()
    assert 0 <= result["max_abs_diff"] <= 1e-3
    assert result["images_checked"] == 6  # the readable photos; the broken one is skipped


def test_classify_folder_job_writes_a_report_listing_unreadable_files(
    varied_model: Path, photos: Path, tmp_path: Path
) -> None:
    import csv

    from cnndesk.jobs import classify_folder_job, drive

    job = classify_folder_job(varied_model, photos, report_dir=tmp_path / "report")
    result = drive(job, lambda _event: None)
    assert len(result.predictions) == 7 and len(result.unreadable) == 1
    with open(result.report_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7
    broken = next(r for r in rows if r["file"].endswith("broken.jpg"))
    assert broken["status"] == "unreadable" and broken["error"] and broken["predicted"] == ""
    for row in rows:
        if row is not broken:
            ps = [float(row[f"p_{c}"]) for c in ("ants", "bees", "wasps")]
            assert sum(ps) == pytest.approx(1.0, abs=1e-4)
            assert row["predicted"] == ("ants", "bees", "wasps")[ps.index(max(ps))]


def test_predict_with_bf16_precision(sure_model: Path, photos: Path, capsys) -> None:
    image = str(photos / "day1" / "p1.jpg")
    assert main(["predict", str(sure_model), image, "--precision", "bf16", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["top"][0]["class"] == "bees"
    assert row["top"][0]["p"] == pytest.approx(0.8808, abs=0.01)
    assert sum(t["p"] for t in row["top"]) == pytest.approx(1.0, abs=1e-5)
