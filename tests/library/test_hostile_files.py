"""A hostile-input corpus: more than 40 kinds of malformed or odd files, each imported next to a
labeled library and read by every decoder cnndesk has (import probe, thumbnails, training and
prediction). Each must end as a clear refusal with a reason (or, for the odd-but-valid kinds, a
correct import); the library's labels stay exactly as they were; nothing hangs (pipes, devices,
endless and sparse files are refused from ``fstat``, before a byte is read).

Tests run as root here, and ``chmod 000`` does not stop root from reading a file: the
permission-denied case is checked through :func:`cnndesk.imageio.os_error_reason` with the
``PermissionError`` the kernel raises for other users, plus a real refusal where the test runs
as a normal user.
"""

from __future__ import annotations

import io
import os
import re
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from cnndesk.domain import ImageError
from cnndesk.imageio import MAX_FILE_BYTES, os_error_reason, read_file
from cnndesk.library import Library, import_paths
from cnndesk.library.imagefile import open_upright, probe
from tests.conftest import make_image, result_of

pytestmark = pytest.mark.timeout(120)

OK = "imported"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Kind:
    name: str
    """File name inside the corpus folder (``bytes`` names for non-UTF-8 ones are built apart)."""
    make: Callable[[Path], None]
    expect: str
    """A regex the refusal reason must match, or ``OK`` / ``SKIPPED``."""


def _jpeg(size=(64, 48), colour=(10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, colour)
    image.putpixel((3, 3), (255, 255, 255))
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _encoded(fmt: str, size=(64, 48), mode="RGB", **kw) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 120).save(buffer, fmt, **kw)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def _gif_bomb() -> bytes:
    """A real 8×8 GIF whose screen and frame say 60000×60000 (3.6 gigapixels)."""
    data = bytearray(_encoded("GIF", size=(8, 8), mode="P"))
    data[6:10] = struct.pack("<HH", 60_000, 60_000)
    frame = data.index(b",")
    data[frame + 5 : frame + 9] = struct.pack("<HH", 60_000, 60_000)
    return bytes(data)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _symlink(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays


def _sparse(path: Path) -> None:
    with path.open("wb") as handle:
        handle.write(_jpeg()[:100])
        handle.truncate(2 << 30)  # 2 GB, no blocks allocated


def _self_loop(path: Path) -> None:
    path.symlink_to(path.name)


def _bad_crc(path: Path) -> None:
    data = bytearray(_encoded("PNG"))
    data[29] ^= 0xFF  # the IHDR CRC
    path.write_bytes(bytes(data))


JPEG = _jpeg()
PNG = _encoded("PNG")
NOT_IMAGE = r"not an image cnndesk can read"
DAMAGED = r"truncated|damaged|cannot be decoded"
BOMB = r"decompression bomb|too large"

KINDS: list[Kind] = [
    Kind("empty.jpg", _write(b""), r"empty \(0 bytes\)"),
    Kind("truncated.jpg", _write(JPEG[: len(JPEG) // 2]), DAMAGED),
    Kind("truncated.png", _write(PNG[: len(PNG) // 2]), DAMAGED),
    Kind("header_only.jpg", _write(JPEG[:20]), DAMAGED + "|" + NOT_IMAGE),
    Kind("soi_eoi_only.jpg", _write(b"\xff\xd8\xff\xd9"), DAMAGED + "|" + NOT_IMAGE),
    Kind("truncated.gif", _write(_encoded("GIF")[:30]), DAMAGED + "|" + NOT_IMAGE),
    Kind("truncated.bmp", _write(_encoded("BMP")[:80]), DAMAGED),
    Kind("truncated.tif", _write(_encoded("TIFF")[:200]), DAMAGED),
    Kind("truncated.webp", _write(_encoded("WEBP")[:40]), DAMAGED + "|" + NOT_IMAGE),
    Kind("text.jpg", _write(b"hello, this is not a photo\n"), NOT_IMAGE),
    Kind("html.png", _write(b"<html><body>404</body></html>"), NOT_IMAGE),
    Kind("zeros.jpg", _write(bytes(4096)), NOT_IMAGE),
    Kind("random.jpg", _write(os.urandom(4096)), NOT_IMAGE),
    Kind("pdf.jpg", _write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"), NOT_IMAGE),
    Kind("zip.png", _write(b"PK\x03\x04" + bytes(60)), NOT_IMAGE),
    Kind("icon.png", _write(_encoded("ICO", size=(32, 32))), NOT_IMAGE),
    Kind("photoshop.jpg", _write(b"8BPS\x00\x01" + bytes(40)), NOT_IMAGE),
    Kind("zero_width.png", _write(_png_header_only(0, 10)), DAMAGED + "|" + NOT_IMAGE),
    Kind("zero_height.png", _write(_png_header_only(10, 0)), DAMAGED + "|" + NOT_IMAGE),
    Kind("bad_crc.png", _bad_crc, DAMAGED + "|" + NOT_IMAGE),
    Kind("bomb.png", _write(_png_header_only(40_000, 40_000)), BOMB),
    Kind("bomb.gif", lambda p: p.write_bytes(_gif_bomb()), BOMB),
    Kind(
        "bomb.bmp",
        _write(
            b"BM"
            + struct.pack("<IHHI", 0, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, 60_000, 60_000, 1, 24, 0, 0, 0, 0, 0, 0)
        ),
        BOMB,
    ),
    Kind("pipe.jpg", _fifo, r"pipe \(FIFO\)"),
    Kind("socket.jpg", _socket, r"socket"),
    Kind("zero.jpg", _symlink("/dev/zero"), r"a device"),
    Kind("null.jpg", _symlink("/dev/null"), r"a device"),
    Kind("urandom.png", _symlink("/dev/urandom"), r"a device"),
    Kind("loop.jpg", _self_loop, r"cannot be read|symbolic links"),
    Kind("dangling.jpg", _symlink("/nonexistent/nowhere.jpg"), r"missing"),
    Kind("folder_link.jpg", _symlink("/tmp"), SKIPPED),  # a link to a folder is not walked
    Kind("sparse.jpg", _sparse, r"too large \(2,048 MB"),
    Kind("notes.heic", _write(b"\x00\x00\x00\x18ftypheic"), r"unsupported format \.heic"),
    Kind(
        "drawing.svg",
        _write(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        r"unsupported format \.svg",
    ),
    Kind("readme.txt", _write(b"notes"), r"unsupported format \.txt"),
    Kind("no_extension", _write(JPEG), r"no extension"),
    Kind("raw.cr2", _write(b"II*\x00" + bytes(20)), r"unsupported format \.cr2"),
    # Odd but valid: imported, correctly.
    Kind("png_named.jpg", _write(PNG), OK),
    Kind("UPPER.JPG", _write(_jpeg(colour=(1, 2, 3))), OK),
    Kind("trailing_garbage.jpg", _write(_jpeg(colour=(4, 5, 6)) + b"GARBAGE" * 10), OK),
    Kind("one_pixel.png", _write(_encoded("PNG", size=(1, 1))), OK),
    Kind(
        "animated.gif",
        lambda p: Image.new("P", (8, 8)).save(
            p, save_all=True, append_images=[Image.new("P", (8, 8), 3)]
        ),
        OK,
    ),
    Kind("link_to_photo.jpg", _symlink("../good/cats/c0.png"), r"duplicate"),
    Kind("café 写真.jpg", _write(_jpeg(colour=(7, 8, 9))), OK),
    Kind("new\nline.jpg", _write(_jpeg(colour=(10, 11, 12))), OK),
    Kind("\x1b[31mred\x1b[0m.jpg", _write(_jpeg(colour=(13, 14, 15))), OK),
    Kind("L" * 240 + ".jpg", _write(_jpeg(colour=(16, 17, 18))), OK),
]


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path, dict[str, Kind]]:
    """(good labeled folder, hostile folder, path → kind)."""
    good = tmp_path / "good"
    for cls in ("cats", "dogs"):
        for i in range(3):
            make_image(
                good / cls / f"{cls[0]}{i}.png", colour=(40 * i, 90, 200 if cls == "cats" else 20)
            )
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    by_path: dict[str, Kind] = {}
    for kind in KINDS:
        path = hostile / kind.name
        kind.make(path)
        by_path[str(path)] = kind
    # A name that is not UTF-8, and a folder of them (the bytes a camera card or an old disk has).
    bad_name = os.fsdecode(b"\xff\xfe.jpg")
    (hostile / bad_name).write_bytes(_jpeg(colour=(19, 20, 21)))
    by_path[str(hostile / bad_name)] = Kind(bad_name, _write(b""), r"not valid UTF-8")
    bad_folder = hostile / os.fsdecode(b"\xe9t\xe9")
    bad_folder.mkdir()
    (bad_folder / "inside.jpg").write_bytes(_jpeg(colour=(22, 23, 24)))
    by_path[str(bad_folder / "inside.jpg")] = Kind("inside.jpg", _write(b""), r"not valid UTF-8")
    (hostile / "dir.jpg").mkdir()  # a folder named like a photo is walked, not opened
    return good, hostile, by_path


def _labels(library: Library) -> dict[str, int | None]:
    return {r.path: r.class_id for r in library.images()}


def test_every_hostile_kind_is_refused_with_its_reason_and_labels_stay(corpus) -> None:
    good, hostile, kinds = corpus
    library = Library.open()
    result_of(import_paths(library, [good], classes_from_folders=True))
    before = _labels(library)
    assert len(before) == 6 and all(v is not None for v in before.values())

    result = result_of(import_paths(library, [hostile]))

    outcome: dict[str, str] = {}
    for item in result.refused:
        outcome[item.path] = item.reason
    for item in result.skipped:
        outcome[item.path] = "skipped: " + item.reason
    imported = {r.path for r in library.images()} - set(before)
    for path in imported:
        outcome[path] = OK
    assert not any("unexpected" in reason for reason in outcome.values()), outcome
    duplicate_paths = {p for p, k in kinds.items() if k.expect == "duplicate"}
    assert result.duplicates == len(duplicate_paths)
    wrong = []
    for path, kind in kinds.items():
        got = outcome.get(path)
        if kind.expect in ("duplicate", SKIPPED):
            fine = got is None
        elif kind.expect == OK:
            fine = got == OK
        else:
            fine = got is not None and got != OK and re.search(kind.expect, got) is not None
        if not fine:
            wrong.append((kind.name, kind.expect, got))
    assert wrong == [], "\n".join(map(repr, wrong))
    assert len(kinds) >= 40
    # The library is intact: the six labeled photos keep their labels; nothing else was labeled.
    after = _labels(library)
    assert {p: after[p] for p in before} == before
    assert all(after[p] is None for p in imported)
    assert library.integrity_ok()
    # What an image of the corpus was imported as: the PNG named .jpg is a PNG.
    assert library.find_image(hostile / "png_named.jpg").format == "PNG"


def test_every_decoder_refuses_the_same_files_without_hanging(corpus) -> None:
    """Thumbnails (open_upright), training and prediction (decode_image) read only regular,
    bounded files: every refused kind is an ImageError there too, never a hang or a crash."""
    from cnndesk.ml.preprocess import decode_image

    _good, _hostile, kinds = corpus
    tried = refused = 0
    for path, kind in kinds.items():
        if kind.expect in (OK, SKIPPED, "duplicate") or "UTF-8" in kind.expect:
            continue
        if re.search("unsupported|no extension", kind.expect):
            continue  # never opened: the walk lists them as skipped
        for read in (probe, lambda p: open_upright(p, max_side=64), decode_image):
            tried += 1
            with pytest.raises(ImageError):
                read(Path(path))
            refused += 1
    assert tried == refused >= 3 * 30


def test_reads_are_bounded_and_only_regular_files_are_opened(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    with big.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ImageError, match="too large"):
        read_file(big)
    with pytest.raises(ImageError, match="a folder"):
        read_file(tmp_path)
    with pytest.raises(ImageError, match="a device"):
        read_file("/dev/zero")
    small = tmp_path / "small.jpg"
    small.write_bytes(b"x" * 10)
    with pytest.raises(ImageError, match="too large"):
        read_file(small, max_bytes=5)
    assert read_file(small).data == b"x" * 10


def test_permission_denied_is_a_clear_refusal(tmp_path: Path) -> None:
    assert "permission denied" in os_error_reason(PermissionError(13, "Permission denied"))
    locked = make_image(tmp_path / "locked.png")
    locked.chmod(0)
    try:
        if os.geteuid() == 0:
            return  # root reads mode-000 files; the reason text is checked above
        with pytest.raises(ImageError, match="permission denied"):
            probe(locked)
    finally:
        locked.chmod(0o644)


def test_a_pipe_swapped_in_after_the_walk_is_still_refused(tmp_path: Path) -> None:
    """The check is on the opened descriptor: a file replaced by a FIFO between the walk's
    ``stat`` and the read is refused at once (O_NONBLOCK open, fstat), not waited on."""
    from cnndesk.library.importer import walk

    folder = tmp_path / "photos"
    make_image(folder / "a.png")
    found = walk([folder], classes_from_folders=False, refused=[])
    (folder / "a.png").unlink()
    os.mkfifo(folder / "a.png")
    with pytest.raises(ImageError, match="pipe"):
        probe(found[0].path)
