"""Outputs never replace a file the command did not write (unless --force), and never the open
library or a model's own files; a failed write (a full disk) leaves nothing behind."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from cnndesk import outputs
from cnndesk.cli import main
from cnndesk.domain import OutputError
from cnndesk.paths import default_library_path
from tests.conftest import make_image
from tests.model_folders import make_model_folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): digest(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith((".part", ".tmp"))]


@pytest.fixture
def labeled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The default library with six labeled photos; returns the photos' folder."""
    pics = tmp_path / "pics"
    for cls in ("cat", "dog"):
        for i in range(3):
            make_image(pics / cls / f"{cls}{i}.jpg", colour=(80 * i, 30, 200 * (cls == "dog")))
    assert main(["import", str(pics), "--classes-from-folders"]) == 0
    capsys.readouterr()
    return pics


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("m") / "model", classes=("cat", "dog"))


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# ------------------------------------------------------------------------------ export-labels


def test_export_labels_never_replaces_the_library_even_with_force(labeled: Path, capsys) -> None:
    library = default_library_path()
    before = digest(library)
    for extra in ([], ["--force"]):
        code, err = cli(capsys, "export-labels", str(library), *extra)
        assert code == 1
        assert "never replaces" in err and "Traceback" not in err
        assert digest(library) == before
    wal = library.with_name(library.name + "-wal")
    code, err = cli(capsys, "export-labels", str(wal), "--force")
    assert code == 1 and "never replaces" in err
    assert main(["stats", "--json"]) == 0 and '"images": 6' in capsys.readouterr().out


def test_export_labels_over_a_photo_needs_force(labeled: Path, capsys) -> None:
    photo = labeled / "cat" / "cat0.jpg"
    before = digest(photo)
    code, err = cli(capsys, "export-labels", str(photo))
    assert code == 1 and "already exists and cnndesk did not write it" in err and "--force" in err
    assert digest(photo) == before
    assert not leftovers(labeled)
    code, _ = cli(capsys, "export-labels", str(photo), "--force")
    assert code == 0 and photo.read_text().startswith("path,class,split,sha256")


def test_an_earlier_labels_csv_is_replaced_without_force(
    labeled: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "labels.csv"
    assert cli(capsys, "export-labels", str(out))[0] == 0
    out.write_text(out.read_text().splitlines()[0] + "\nstale,row,,,,\n")
    assert cli(capsys, "export-labels", str(out))[0] == 0
    assert "stale" not in out.read_text() and len(out.read_text().splitlines()) == 7


def test_export_labels_into_a_folder_or_a_missing_folder_says_so(
    labeled: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "existing"
    folder.mkdir()
    code, err = cli(capsys, "export-labels", str(folder))
    assert code == 1 and "is a folder" in err and "unexpected" not in err
    assert list(folder.iterdir()) == [] and not leftovers(tmp_path)
    code, err = cli(capsys, "export-labels", str(tmp_path / "new" / "labels.csv"))
    assert code == 0 and (tmp_path / "new" / "labels.csv").is_file()  # folders are created
    code, err = cli(capsys, "export-labels", str(labeled / "cat" / "cat0.jpg" / "x.csv"))
    assert code == 1 and "cat0.jpg is a file, not a folder" in err
    (tmp_path / "file").write_text("keep me")
    code, err = cli(capsys, "export-labels", str(tmp_path / "file"), "--format", "imagefolder")
    assert code == 1 and "is a file, not a folder" in err
    assert (tmp_path / "file").read_text() == "keep me"


def test_a_full_disk_leaves_the_old_file_and_no_partial_one(
    labeled: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "labels.csv"
    assert cli(capsys, "export-labels", str(out))[0] == 0
    before = digest(out)

    class FullDisk:
        def __init__(self, handle) -> None:  # type: ignore[no-untyped-def]
            self.handle = handle

        def writerow(self, row: list[object]) -> None:
            self.handle.write(",".join(map(str, row)) + "\n")
            raise OSError(errno.ENOSPC, "No space left on device")

    import cnndesk.library.export as export_module

    monkeypatch.setattr(export_module.csv, "writer", FullDisk)
    code, err = cli(capsys, "export-labels", str(out), "--force")
    monkeypatch.undo()
    assert code == 1 and "the disk is full" in err and "unexpected" not in err
    assert digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv", "pics"]


def test_replacing_removes_its_temporary_file_on_any_error(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(ZeroDivisionError), outputs.replacing(target, "w") as f:
        f.write("half")
        1 / 0  # noqa: B018
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with outputs.replacing(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]


# ------------------------------------------------------------------------------------- export


def test_export_never_writes_over_the_models_own_files(model: Path, tmp_path: Path, capsys) -> None:
    before = snapshot(model)
    for out in ("weights.safetensors", "model.json", "model"):  # "model": its sidecar is model.json
        for extra in ([], ["--force"]):
            code, err = cli(
                capsys, "export", str(model), "--format", "onnx", "--out", str(model / out), *extra
            )
            assert code == 1, out
            assert "never replaces" in err and "Traceback" not in err
    assert snapshot(model) == before
    with pytest.raises(SystemExit) as refused:  # argparse refuses it before any work
        main(["export", str(model), "--format", "onnx", "--out", str(model)])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and "is a folder" in err and "Traceback" not in err
    assert snapshot(model) == before


def test_export_replaces_a_foreign_file_only_with_force_and_its_own_export_always(
    model: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "mine.onnx"
    out.write_bytes(b"someone else's file")
    args = ["export", str(model), "--format", "onnx", "--out", str(out)]
    code, err = cli(capsys, *args)
    assert code == 1 and "cnndesk did not write it" in err
    assert out.read_bytes() == b"someone else's file"
    assert cli(capsys, *args, "--force")[0] == 0
    exported = digest(out)
    assert exported != digest(tmp_path / "mine.onnx.json")
    assert cli(capsys, *args)[0] == 0  # an earlier export: its sidecar names it
    assert out.stat().st_size > 1000 and not leftovers(tmp_path)
    # Into the model's folder as a new file is fine; the model still loads.
    assert (
        cli(capsys, "export", str(model), "--format", "onnx", "--out", str(model / "m.onnx"))[0]
        == 0
    )
    assert (model / "m.onnx").is_file()


def test_export_never_replaces_the_library(labeled: Path, model: Path, capsys) -> None:
    library = default_library_path()
    before = digest(library)
    code, err = cli(
        capsys, "export", str(model), "--format", "onnx", "--out", str(library), "--force"
    )
    assert code == 1 and "never replaces" in err
    assert digest(library) == before


# ------------------------------------------------------------------------------ check_output


def test_links_to_protected_files_are_protected_too(tmp_path: Path) -> None:
    library = tmp_path / "lib.cnndesk"
    library.write_bytes(b"SQLite format 3\x00")
    (tmp_path / "soft").symlink_to(library)
    os.link(library, tmp_path / "hard")
    for name in ("soft", "hard", "lib.cnndesk"):
        with pytest.raises(OutputError, match="never replaces"):
            outputs.check_output(
                tmp_path / name, force=True, protected=outputs.library_files(library)
            )
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(OutputError, match="already exists"):
        outputs.check_output(tmp_path / "dangling")
    with pytest.raises(OutputError, match="is a folder"):
        outputs.check_output(str(tmp_path / "new") + os.sep)
    assert outputs.check_output(tmp_path / "new.csv") == tmp_path / "new.csv"


def test_printable_names_are_valid_utf8_and_harmless() -> None:
    name = os.fsdecode(b"photo\xff\x1b[2J.jpg")
    shown = outputs.printable(name)
    shown.encode("utf-8")  # does not raise
    assert "\x1b" not in shown and "\\xff" in shown and "\\x1b" in shown
    assert outputs.printable("été/ok.jpg") == "été/ok.jpg"
