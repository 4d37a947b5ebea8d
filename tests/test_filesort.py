"""Batch sorting: every file lands once, nothing is overwritten, lost or written outside DEST,
and undo puts everything back byte for byte, also after a crash part-way through a move."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnndesk import filesort
from cnndesk.domain import Prediction, SortError
from cnndesk.jobs import drive
from cnndesk.paths import UNCERTAIN_FOLDER
from tests.conftest import make_image

REPO = Path(__file__).resolve().parents[1]


def tree(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under ``root`` (journals and reports excluded)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and filesort.JOURNAL_DIR not in path.parts:
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """Six photos in two sub-folders; two share a file name."""
    root = tmp_path / "src"
    for i, colour in enumerate([(200, 0, 0), (0, 200, 0), (0, 0, 200)]):
        make_image(root / "a" / f"img{i}.jpg", colour=colour)
        make_image(root / "b" / f"other{i}.png", colour=colour)
    make_image(root / "b" / "img0.jpg", colour=(9, 9, 9))  # same name as a/img0.jpg
    return root


def decisions_for(root: Path) -> list[tuple[Path, str | None]]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    labels = ["cat", "dog", None]
    return [(p, labels[i % 3]) for i, p in enumerate(files)]


def run(gen):
    """Drive a job generator to the end; return (events, result)."""
    events: list = []
    result = drive(gen, events.append)
    return events, result


def test_copy_puts_every_file_in_dest_exactly_once(src: Path, tmp_path: Path) -> None:
    before = tree(src)
    dest = tmp_path / "out"
    events, result = run(filesort.sort_files(decisions_for(src), dest, classes=["cat", "dog"]))

    assert len(events) == len(before) == len(result.files)
    assert all(f.status == "copied" for f in result.files)
    assert tree(src) == before  # copy mode leaves the sources alone
    copied = tree(dest)
    assert sorted(copied.values()) == sorted(before.values())  # each source exactly once
    assert {p.split("/")[0] for p in copied} == {"cat", "dog", UNCERTAIN_FOLDER}
    assert result.counts == {"cat": 3, "dog": 2, UNCERTAIN_FOLDER: 2}
    # The same file name from two folders: both kept, the second one renamed.
    assert {"cat/img0.jpg", "cat/img0 (2).jpg"} <= set(copied)


def test_collisions_never_overwrite(src: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    existing = make_image(dest / "cat" / "img0.jpg", colour=(1, 2, 3))
    existing_hash = hashlib.sha256(existing.read_bytes()).hexdigest()
    decisions = [(src / "a" / "img0.jpg", "cat"), (src / "b" / "img0.jpg", "cat")]

    _, result = run(filesort.sort_files(decisions, dest, move=True))

    assert hashlib.sha256(existing.read_bytes()).hexdigest() == existing_hash
    assert sorted(p.name for p in (dest / "cat").iterdir()) == [
        "img0 (2).jpg",
        "img0 (3).jpg",
        "img0.jpg",
    ]
    assert all(f.status == "moved" for f in result.files)


EVIL_NAMES = [
    "../../escaped",
    "/etc",
    "..",
    ".",
    "C:\\x",
    "con",
    "Ünïcødé 🐝",
    "   ",
    "a/b/c",
    "_uncertain",
    "..\\..\\win",
    "x" * 400,
    "nul.txt",
]


def test_class_names_never_write_outside_dest(src: Path, tmp_path: Path) -> None:
    dest = tmp_path / "nested" / "deeper" / "out"
    outside_before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(src)}
    files = sorted(p for p in src.rglob("*") if p.is_file())
    decisions = [(p, EVIL_NAMES[i % len(EVIL_NAMES)]) for i, p in enumerate(files)]
    decisions += [(make_image(src / "more" / f"{i}.jpg"), n) for i, n in enumerate(EVIL_NAMES)]

    _, result = run(filesort.sort_files(decisions, dest, classes=EVIL_NAMES))

    created = {p for p in tmp_path.rglob("*") if not p.is_relative_to(src)} - outside_before
    assert created, "the sort wrote nothing at all"
    for path in created:
        assert path.resolve().is_relative_to(dest.resolve()) or dest.is_relative_to(path), path
    # Every class got its own folder directly inside DEST, distinct from _uncertain.
    folders = {f.folder for f in result.files}
    assert len(folders) == len(EVIL_NAMES)
    assert UNCERTAIN_FOLDER not in folders
    for folder in folders:
        assert (dest / folder).parent == dest and (dest / folder).is_dir()
    assert len(tree(dest)) == len(decisions)


def test_a_class_folder_that_links_outside_is_refused(src: Path, tmp_path: Path) -> None:
    dest, outside = tmp_path / "out", tmp_path / "elsewhere"
    dest.mkdir()
    outside.mkdir()
    (dest / "cat").symlink_to(outside, target_is_directory=True)

    with pytest.raises(SortError, match="not inside"):
        run(filesort.sort_files([(src / "a" / "img0.jpg", "cat")], dest))
    assert list(outside.iterdir()) == []


def test_move_then_undo_is_byte_identical(src: Path, tmp_path: Path) -> None:
    before = tree(src)
    dest = tmp_path / "out"
    _, result = run(filesort.sort_files(decisions_for(src), dest, move=True))
    assert tree(src) == {}  # everything moved
    assert sorted(tree(dest).values()) == sorted(before.values())
    assert result.journal and Path(result.journal).is_file()

    _, undone = run(filesort.undo_sort(dest))

    assert tree(src) == before
    assert tree(dest) == {}
    assert undone.restored == len(before) and not undone.kept and not undone.renamed
    assert not [p for p in dest.iterdir() if p.name != filesort.JOURNAL_DIR]  # class folders gone
    with pytest.raises(SortError, match="no sort to undo"):
        run(filesort.undo_sort(dest))


def test_move_across_filesystems_verifies_then_undo(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filesort.files, "same_filesystem", lambda *_: False)
    before = tree(src)
    dest = tmp_path / "out"
    _, result = run(filesort.sort_files(decisions_for(src), dest, move=True))
    assert tree(src) == {} and sorted(tree(dest).values()) == sorted(before.values())
    done = [json.loads(line) for line in Path(result.journal).read_text().splitlines()]
    assert all(r["how"] == "copy" and len(r["sha256"]) == 64 for r in done if r["type"] == "done")

    run(filesort.undo_sort(dest))
    assert tree(src) == before


def test_copy_undo_removes_copies_but_keeps_changed_ones(src: Path, tmp_path: Path) -> None:
    before = tree(src)
    dest = tmp_path / "out"
    _, result = run(filesort.sort_files(decisions_for(src), dest))
    edited = Path(result.files[0].destination)
    edited.write_bytes(b"the user edited this copy")
    orphan = Path(result.files[1].destination)
    Path(result.files[1].source).unlink()  # the original is gone: the copy is the last one

    _, undone = run(filesort.undo_sort(dest))

    assert undone.removed == len(before) - 2
    assert {Path(k.path) for k in undone.kept} == {edited, orphan}
    assert set(tree(dest)) == {
        edited.relative_to(dest).as_posix(),
        orphan.relative_to(dest).as_posix(),
    }


def test_undo_does_not_overwrite_a_file_that_took_the_old_name(src: Path, tmp_path: Path) -> None:
    original = src / "a" / "img1.jpg"
    original_hash = hashlib.sha256(original.read_bytes()).hexdigest()
    dest = tmp_path / "out"
    run(filesort.sort_files([(original, "cat")], dest, move=True))
    original.write_bytes(b"a new file with the old name")

    _, undone = run(filesort.undo_sort(dest))

    assert original.read_bytes() == b"a new file with the old name"
    restored = src / "a" / "img1 (restored).jpg"
    assert hashlib.sha256(restored.read_bytes()).hexdigest() == original_hash
    assert [Path(r.path) for r in undone.renamed] == [restored]


def test_dry_run_writes_nothing(src: Path, tmp_path: Path) -> None:
    before = tree(src)
    dest = tmp_path / "out"
    _, result = run(filesort.sort_files(decisions_for(src), dest, move=True, dry_run=True))
    assert not dest.exists()
    assert tree(src) == before
    assert all(f.status == "planned" for f in result.files) and result.journal is None
    planned = [f.destination for f in result.files]
    assert len(set(planned)) == len(planned)


def test_cancel_keeps_what_is_sorted_and_undo_still_works(src: Path, tmp_path: Path) -> None:
    before = tree(src)
    dest = tmp_path / "out"
    gen = filesort.sort_files(decisions_for(src), dest, move=True)
    for _ in range(4):
        next(gen)
    gen.close()  # the user pressed Cancel: three files were moved

    assert len(tree(dest)) == 3 and len(tree(src)) == len(before) - 3
    journal = filesort.latest_journal(dest)
    last = json.loads(journal.read_text().splitlines()[-1])
    assert len(last.pop("mac")) == 64  # every record is signed (see test_sort_journal.py)
    assert last == {"type": "end", "complete": False, "sorted": 3}
    run(filesort.undo_sort(dest))
    assert tree(src) == before


def test_full_disk_stops_with_a_clear_error_and_loses_nothing(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filesort.files, "same_filesystem", lambda *_: False)
    real_copy = filesort.files.copy_verified
    calls = []

    def copy_until_full(source: Path, tmp: Path):
        calls.append(source)
        if len(calls) == 3:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(source, tmp)

    monkeypatch.setattr(filesort.files, "copy_verified", copy_until_full)
    before = tree(src)
    dest = tmp_path / "out"

    with pytest.raises(SortError, match="disk is full: 2 of 7 files were sorted"):
        run(filesort.sort_files(decisions_for(src), dest, move=True))

    assert calls[2].is_file()  # the file in flight is still at its source
    assert len(tree(src)) == len(before) - 2
    assert len(tree(dest)) == 2  # no empty placeholder left behind
    monkeypatch.setattr(filesort.files, "copy_verified", real_copy)
    run(filesort.undo_sort(dest))
    assert tree(src) == before


CRASH_SCRIPT = """
import os, sys
from pathlib import Path
from cnndesk import filesort

src, dest, point, cross = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
if cross:
    filesort.files.same_filesystem = lambda *_: False
calls = {"n": 0}

def crash_on_third(real):
    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3 and point == "before":
            os._exit(9)
        result = real(*args, **kwargs)
        if calls["n"] == 3 and point == "after":
            os._exit(9)
        return result
    return wrapper

if point == "mid_copy":
    real_copy = filesort.files.copy_verified
    def half_copy(source, tmp):
        calls["n"] += 1
        if calls["n"] == 3:
            tmp.write_bytes(source.read_bytes()[:100])
            os._exit(9)
        return real_copy(source, tmp)
    filesort.files.copy_verified = half_copy
elif cross:
    os.unlink = crash_on_third(os.unlink)  # the copy is verified and in place, the source not gone
else:
    filesort.files.transfer = crash_on_third(filesort.files.transfer)
files = sorted(p for p in src.rglob("*") if p.is_file())
for _ in filesort.sort_files([(p, "cat" if i % 2 else "dog") for i, p in enumerate(files)], dest, move=True):
    pass
sys.exit("did not crash")
"""


@pytest.mark.parametrize(
    ("point", "cross"),
    [("before", False), ("after", False), ("mid_copy", True), ("before", True), ("after", True)],
)
def test_undo_after_a_crash_mid_move_restores_everything(
    src: Path, tmp_path: Path, point: str, cross: bool
) -> None:
    before = tree(src)
    dest = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(CRASH_SCRIPT),
            str(src),
            str(dest),
            point,
            str(int(cross)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 9, proc.stderr
    journal = filesort.latest_journal(dest).read_text().splitlines()
    assert '"type": "end"' not in journal[-1]  # the process died mid-sort
    assert tree(src) != before  # some files were moved

    _, undone = run(filesort.undo_sort(dest))

    assert tree(src) == before
    assert tree(dest) == {}
    assert not undone.kept and not undone.renamed
    assert not list(src.rglob(".cnndesk-*")) and not list(dest.rglob(".cnndesk-*.tmp"))


def test_report_lists_unreadable_files(tmp_path: Path) -> None:
    from cnndesk.domain import ClassScore

    predictions = [
        Prediction("a.jpg", (ClassScore("bees", 0.9), ClassScore("ants", 0.1))),
        Prediction("broken.jpg", (), error="broken.jpg: not an image cnndesk can read"),
    ]
    csv_path, json_path = filesort.write_report(
        predictions, classes=["ants", "bees"], folder=tmp_path, threshold=0.8
    )
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "file,predicted,confidence,p_ants,p_bees,destination,status,error"
    assert lines[1].startswith("a.jpg,bees,0.9,0.1,0.9,")
    assert "broken.jpg" in lines[2] and "unreadable" in lines[2] and "not an image" in lines[2]
    data = json.loads(json_path.read_text())
    assert data["files"][1]["error"].endswith("not an image cnndesk can read")
    assert data["files"][0]["probabilities"] == {"ants": 0.1, "bees": 0.9}
    again, _ = filesort.write_report(predictions, classes=["ants", "bees"], folder=tmp_path)
    assert again != csv_path  # an earlier report is never overwritten


def test_filesort_needs_only_the_standard_library() -> None:
    code = "import sys, cnndesk.filesort; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    third_party = loaded & {
        "torch",
        "timm",
        "PIL",
        "numpy",
        "sqlalchemy",
        "PySide6",
        "platformdirs",
    }
    assert not third_party


UNDO_CRASH_SCRIPT = """
import os, sys
from pathlib import Path
from cnndesk import filesort

dest, point, cross = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
if cross:
    filesort.files.same_filesystem = lambda *_: False
calls = {"n": 0}
real_transfer, real_copy, real_unlink = filesort.files.transfer, filesort.files.copy_verified, os.unlink

def transfer(source, target, *, move):
    calls["n"] += 1
    if calls["n"] == 3 and point == "before":
        os._exit(9)
    return real_transfer(source, target, move=move)

def half_copy(source, tmp):
    if calls["n"] == 3:
        tmp.write_bytes(source.read_bytes()[:100])
        os._exit(9)
    return real_copy(source, tmp)

def unlink(path, *args, **kwargs):
    if calls["n"] == 3 and point == "before_unlink" and str(path).startswith(str(dest)):
        os._exit(9)
    return real_unlink(path, *args, **kwargs)

filesort.files.transfer = transfer
if point == "mid_copy":
    filesort.files.copy_verified = half_copy
os.unlink = unlink
for _ in filesort.undo_sort(dest):
    pass
sys.exit("did not crash")
"""


@pytest.mark.parametrize(
    ("point", "cross"),
    [("before", False), ("before", True), ("mid_copy", True), ("before_unlink", True)],
)
def test_an_undo_cut_short_by_a_crash_can_be_run_again(
    src: Path, tmp_path: Path, point: str, cross: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(src)
    dest = tmp_path / "out"
    if cross:
        monkeypatch.setattr(filesort.files, "same_filesystem", lambda *_: False)
    run(filesort.sort_files(decisions_for(src), dest, move=True))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(UNDO_CRASH_SCRIPT),
            str(dest),
            point,
            str(int(cross)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 9, proc.stderr
    assert tree(src) != before and tree(dest)  # half undone

    _, undone = run(filesort.undo_sort(dest))

    assert tree(src) == before
    assert tree(dest) == {}
    assert not undone.kept and not undone.renamed
    assert not list(src.rglob(".cnndesk-*")) and not list(dest.rglob(".cnndesk-*.tmp"))


def test_a_file_where_a_class_folder_must_go_is_a_clear_error(src: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "cat").write_text("I am a file, not a folder")
    with pytest.raises(SortError, match="a file of that name is in the way"):
        run(filesort.sort_files([(src / "a" / "img0.jpg", "cat")], dest, move=True))
    assert (src / "a" / "img0.jpg").is_file()
    assert (dest / "cat").read_text() == "I am a file, not a folder"
