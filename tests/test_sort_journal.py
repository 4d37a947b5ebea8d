"""Sort journals are signed by this installation; undo refuses any other journal (listing where it
would have written) and, even for its own, never moves a file from outside DEST or back to a place
outside the folders the sort read. Hostile class names stay inside DEST; names that are not UTF-8
sort and undo byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from cnndesk import filesort
from cnndesk.cli import main
from cnndesk.domain import SortError, UntrustedJournalError
from cnndesk.paths import UNCERTAIN_FOLDER, data_dir
from tests.conftest import make_image, result_of


def everything(root: Path) -> dict[bytes, str]:
    """Every file and folder under ``root`` (by raw name) → sha256 (folders: "dir")."""
    out: dict[bytes, str] = {}
    for folder, dirs, files in os.walk(os.fsencode(root)):
        for d in dirs:
            out[os.path.join(folder, d)] = "dir"
        for f in files:
            path = os.path.join(folder, f)
            with open(path, "rb") as handle:
                out[path] = hashlib.sha256(handle.read()).hexdigest()
    return out


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home folder: forged journals aim at its ~/.config/autostart."""
    path = tmp_path / "home"
    (path / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for i in range(4):
        make_image(root / "a" / f"img{i}.jpg", colour=(50 * i, 0, 0))
    make_image(root / "b" / "img0.jpg", colour=(0, 0, 9))
    return root


def sort(src: Path, dest: Path, *, move: bool = True, **kwargs: object):  # type: ignore[no-untyped-def]
    files = sorted(p for p in src.rglob("*") if p.is_file())
    decisions = [(p, "cat" if i % 2 else "dog") for i, p in enumerate(files)]
    return result_of(filesort.sort_files(decisions, dest, move=move, sources=[src], **kwargs))


def journal_path(dest: Path) -> Path:
    """Where the newest journal of a sort into DEST goes (its folder made)."""
    folder = dest / filesort.JOURNAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "sort-29991231T000000-001.jsonl"


def write_journal(dest: Path, records: list[dict], *, sign: bool) -> Path:
    """A journal in DEST, signed with this installation's key or not signed at all."""
    path = journal_path(dest)
    if sign:
        journal = filesort.journal.Journal(path, filesort.journal_key())
        for record in records:
            journal.write(record)
        journal.close()
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def begin(dest: Path, sources: list[Path], version: int = filesort.JOURNAL_VERSION) -> dict:
    return {
        "type": "begin",
        "version": version,
        "id": "0" * 32,
        "mode": "move",
        "dest": str(dest),
        "sources": [str(s) for s in sources],
        "total": 1,
    }


def intent(i: int, src: str, dst: str, op: str = "move") -> dict:
    return {"type": "intent", "i": i, "op": op, "src": src, "dst": dst}


# ------------------------------------------------------------------------------------ the key


def test_the_key_is_private_stable_and_per_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = filesort.journal_key()
    path = data_dir() / filesort.KEY_FILE
    assert len(key) == 32 and filesort.journal_key() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".sort-journal")] == []
    monkeypatch.setenv("CNNDESK_HOME", str(tmp_path / "elsewhere"))
    assert filesort.journal_key() != key
    (data_dir() / filesort.KEY_FILE).write_text("not hex")
    with pytest.raises(SortError, match=r"is damaged\. Delete it"):
        filesort.journal_key()


# ------------------------------------------------------------------------ untrusted journals


def test_a_forged_journal_aiming_at_autostart_is_refused_with_the_list(
    home: Path, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "received"
    make_image(dest / "cat" / "evil.jpg")
    autostart = home / ".config" / "autostart"
    forged = [
        begin(dest, [home / ".config"]),
        *(
            intent(i, str(autostart / f"evil{i}.desktop"), str(dest / "cat" / "evil.jpg"))
            for i in range(12)
        ),
    ]
    write_journal(dest, forged, sign=False)
    before = everything(tmp_path)

    assert main(["sort", "--undo", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "Refusing to undo" in err and "not written by this" in err
    assert str(autostart / "evil0.desktop") in err and "… and 2 more" in err
    assert err.count("evil") == 10  # the first ten places, then the count
    assert "Traceback" not in err and "unexpected" not in err
    assert everything(tmp_path) == before
    assert not autostart.exists()


def test_a_genuine_journal_from_another_installation_is_refused(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "out"
    sort(src, dest)
    moved = everything(tmp_path)
    monkeypatch.setenv("CNNDESK_HOME", str(tmp_path / "other-install"))
    with pytest.raises(UntrustedJournalError) as refused:
        result_of(filesort.undo_sort(dest))
    assert refused.value.count == 5 and len(refused.value.targets) == 5
    assert all(t.startswith(str(src)) for t in refused.value.targets)
    assert {k: v for k, v in everything(tmp_path).items() if b"other-install" not in k} == moved


@pytest.mark.parametrize(
    "tamper",
    [
        "edit_dst",
        "edit_src",
        "drop_middle",
        "swap_lines",
        "unsigned_v1",
        "not_an_object",
        "mac_not_text",
        "damaged_middle",
        "begin_missing",
    ],
)
def test_a_changed_journal_is_refused_and_nothing_moves(
    src: Path, tmp_path: Path, tamper: str
) -> None:
    dest = tmp_path / "out"
    result = sort(src, dest)
    path = Path(result.journal)
    lines = path.read_text().splitlines()
    intents = [n for n, line in enumerate(lines) if '"intent"' in line]
    if tamper in ("edit_dst", "edit_src"):
        record = json.loads(lines[intents[1]])
        key = tamper.split("_")[1]
        record[key] = str(tmp_path / "victim.jpg")
        lines[intents[1]] = json.dumps(record)
    elif tamper == "drop_middle":
        del lines[intents[1]]
    elif tamper == "swap_lines":
        lines[intents[0]], lines[intents[1]] = lines[intents[1]], lines[intents[0]]
    elif tamper == "unsigned_v1":
        lines = [json.dumps({k: v for k, v in json.loads(x).items() if k != "mac"}) for x in lines]
        lines[0] = lines[0].replace('"version": 2', '"version": 1')
    elif tamper == "not_an_object":
        lines.insert(1, "[1, 2, 3]")
    elif tamper == "mac_not_text":
        record = json.loads(lines[1])
        record["mac"] = 12345
        lines[1] = json.dumps(record)
    elif tamper == "damaged_middle":
        lines[intents[1]] = lines[intents[1]][:20]
    elif tamper == "begin_missing":
        del lines[0]
    path.write_text("\n".join(lines) + "\n")
    before = everything(tmp_path)

    with pytest.raises(UntrustedJournalError, match="Refusing to undo") as refused:
        result_of(filesort.undo_sort(dest))

    assert everything(tmp_path) == before
    if tamper == "unsigned_v1":
        assert "older cnndesk" in str(refused.value)


@pytest.mark.parametrize("kind", ["link_to_dev_zero", "fifo"])
def test_a_journal_that_is_no_regular_file_is_refused_without_hanging(
    tmp_path: Path, kind: str
) -> None:
    dest = tmp_path / "out"
    path = journal_path(dest)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(SortError, match="journal") as refused:
        result_of(filesort.undo_sort(dest))
    assert "Traceback" not in str(refused.value)


# ------------------------------------------------- signed journals still stay in their bounds


def test_signed_entries_outside_dest_or_the_sources_are_left_alone(
    home: Path, src: Path, tmp_path: Path
) -> None:
    """As if the key had leaked: undo still only moves files from DEST back into the sources."""
    dest = tmp_path / "out"
    inside = make_image(dest / "cat" / "x.jpg")
    outside = make_image(tmp_path / "elsewhere" / "secret.jpg")
    autostart = home / ".config" / "autostart"
    crafted = [
        begin(dest, [src]),
        intent(0, str(autostart / "evil.desktop"), str(inside)),  # back to outside the sources
        intent(1, str(src / ".." / ".." / "escape.jpg"), str(inside)),  # traversal in src
        intent(2, str(src / "a" / "stolen.jpg"), str(outside)),  # takes a file from outside DEST
        intent(3, str(src / "a" / "up.jpg"), str(dest / ".." / "elsewhere" / "secret.jpg")),
        intent(4, "relative/path.jpg", str(inside)),  # not absolute
        intent(5, str(src / "a" / "nul\x00.jpg"), str(inside)),
        intent(6, str(src / "a" / "x.jpg"), str(inside), op="chmod"),
        {"type": "mkdir", "path": str(tmp_path / "elsewhere")},
    ]
    (tmp_path / "empty-elsewhere").mkdir()
    crafted.append({"type": "mkdir", "path": str(tmp_path / "empty-elsewhere")})
    write_journal(dest, crafted, sign=True)
    before = everything(tmp_path)

    undone = result_of(filesort.undo_sort(dest))

    assert undone.restored == 0 and len(undone.kept) == 7
    assert all(k.reason.startswith("not undone") for k in undone.kept)
    after = everything(tmp_path)
    journals = {k for k in after.keys() | before.keys() if b".cnndesk-sort" in k}
    assert {k: v for k, v in after.items() if k not in journals} == {
        k: v for k, v in before.items() if k not in journals
    }
    assert not autostart.exists() and (tmp_path / "empty-elsewhere").is_dir()


def test_undo_never_takes_a_file_through_a_linked_class_folder(src: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    result = sort(src, dest)
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    cat = dest / "cat"
    for moved in cat.iterdir():  # the same names, in a folder outside DEST
        (victim_dir / moved.name).write_bytes(b"not yours")
        moved.unlink()
    cat.rmdir()
    cat.symlink_to(victim_dir)

    undone = result_of(filesort.undo_sort(dest))

    assert sorted(p.read_bytes() for p in victim_dir.iterdir()) == [b"not yours"] * 2
    cat_files = [f for f in result.files if f.folder == "cat"]
    assert len(undone.kept) == len(cat_files) == 2
    assert all("link" in k.reason for k in undone.kept)
    assert undone.restored == 3  # the dog files went back


def test_a_genuine_journal_cut_short_by_a_crash_still_undoes(src: Path, tmp_path: Path) -> None:
    before = everything(src)
    dest = tmp_path / "out"
    path = Path(sort(src, dest).journal)
    text = path.read_text()
    path.write_text(text[: len(text) - 25])  # the last record half written
    undone = result_of(filesort.undo_sort(dest))
    assert undone.restored == 5 and not undone.kept
    assert everything(src) == before


# ------------------------------------------------------------------------- names and folders


def test_names_that_are_not_utf8_sort_undo_and_report_byte_for_byte(
    src: Path, tmp_path: Path
) -> None:
    odd = os.fsencode(src / "a") + b"/caf\xe9\xff\x1b[2J.jpg"
    os.rename(src / "a" / "img1.jpg", odd)
    before = everything(src)
    dest = tmp_path / "out"
    result = sort(src, dest)
    assert all(f.status == "moved" for f in result.files)
    assert any(k.endswith(b"/caf\xe9\xff\x1b[2J.jpg") for k in everything(dest))
    journal = Path(result.journal).read_bytes()
    journal.decode("ascii")  # escapes only: any name round-trips

    from cnndesk.domain import ClassScore, Prediction

    predictions = [Prediction(f.source, (ClassScore("cat", 1.0),)) for f in result.files]
    csv_path, json_path = filesort.write_report(
        predictions, classes=["cat"], folder=dest, sorted_files=result.files
    )
    text = csv_path.read_text(encoding="utf-8")
    assert "caf\\xe9\\xff\\x1b[2J.jpg" in text and "\x1b" not in text
    rows = json.loads(json_path.read_text(encoding="utf-8"))["files"]
    assert any(r["file"].endswith("caf\\xe9\\xff\\x1b[2J.jpg") for r in rows)

    undone = result_of(filesort.undo_sort(dest))
    assert undone.restored == 5 and everything(src) == before


HOSTILE_NAMES = [
    "..",
    ".",
    "../../etc",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "nul\x00byte",
    "line\nbreak",
    "esc\x1b[2Jclear",
    "csi\x9bc1",
    "\u202eevil.gpj",
    "sep\u2028line",
    "CON",
    "con.txt",
    "aux .tar",
    "COM1",
    "lpt9.x",
    "trailing dots...",
    "trailing spaces   ",
    "   ",
    "x" * 250,
    "é" * 200,
    "bad\udcffutf8",
    ".hidden",
    "_uncertain",
    "Cat",
    "cat",
    "~",
    "$HOME",
    '*?<>|:"',
]


def test_hostile_class_names_make_distinct_safe_folders_inside_dest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = [make_image(src / f"f{i:02d}.png", size=(8, 8)) for i in range(len(HOSTILE_NAMES))]
    dest = tmp_path / "deep" / "dest"
    outside_before = {p for p in tmp_path.rglob("*")} - {dest.parent}

    result = result_of(
        filesort.sort_files(list(zip(files, HOSTILE_NAMES)), dest, move=False, sources=[src])
    )

    assert all(f.status == "copied" for f in result.files), [f.error for f in result.files]
    folders = [p for p in dest.iterdir() if p.name != filesort.JOURNAL_DIR]
    assert len(folders) == len(HOSTILE_NAMES)  # every name its own folder, none merged
    assert UNCERTAIN_FOLDER not in {p.name for p in folders}  # "_uncertain" is not the real one
    for folder in folders:
        name = folder.name
        assert folder.is_dir() and not folder.is_symlink() and folder.parent == dest
        assert len(name.encode()) <= 102 and name == name.strip() and not name.endswith(".")
        assert not name.startswith(".") and name.isprintable()
        assert name.split(".")[0].upper() not in {"CON", "AUX", "COM1", "LPT9", "NUL"}
        assert len(list(folder.iterdir())) == 1
    new = {p for p in tmp_path.rglob("*")} - outside_before
    assert all(p == dest.parent or p.is_relative_to(dest) for p in new)
    assert not (tmp_path / "etc").exists() and not Path("/etc/passwd_").exists()


def test_a_journal_a_crash_left_empty_undoes_nothing_and_is_closed(
    src: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    journal_path(dest).write_text('{"type": "beg')  # died mid-line
    before = everything(src)
    undone = result_of(filesort.undo_sort(dest))
    assert undone.restored == undone.removed == 0 and everything(src) == before
    assert filesort.latest_journal(dest) is None  # closed: the next undo undoes the sort before


def test_cli_sort_and_undo_with_a_name_that_is_not_utf8(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.model_folders import make_model_folder

    os.rename(src / "a" / "img2.jpg", os.fsencode(src / "a") + b"/\xff\xfe photo.jpg")
    before = everything(src)
    model = make_model_folder(tmp_path / "model")
    dest = tmp_path / "out"

    assert main(["sort", str(model), str(src), str(dest), "--move"]) == 0
    out = capsys.readouterr()
    assert "Report:" in out.out and "Traceback" not in out.err
    report = (dest / "cnndesk-report.csv").read_text(encoding="utf-8")
    assert "\\xff\\xfe photo.jpg" in report and report.count("moved") == 5

    assert main(["sort", "--undo", str(dest)]) == 0
    assert "5 files put back" in capsys.readouterr().out
    assert everything(src) == before
