"""Import speed: cnndesk's import against a plain baseline, on generated 1024×768 JPEGs.

    python bench/import.py [--images 5000] [--workdir DIR]

Generates N distinct 1024×768 JPEGs (cached in the work folder between runs), then measures in
this one process:

- baseline: a plain loop a developer would write (open each file with Pillow, ``verify()`` it,
  hash it, INSERT into SQLite one row per transaction);
- cnndesk first import (read, hash, header and end-marker check, dedupe, one transaction per
  batch) into a fresh library;
- cnndesk re-import of the same folder (path + size + mtime known: nothing is read).

Targets on a 2-core machine: ≥ 1,000 images/s first import, ≥ 5,000 images/s re-import.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _make(args: tuple[Path, int]) -> None:
    path, index = args
    if path.exists():
        return
    import numpy as np

    rng = np.random.default_rng(index)
    # A smooth gradient plus noise: photo-like JPEG sizes (~100-200 KB), all distinct.
    y, x = np.mgrid[0:768, 0:1024]
    base = np.stack(
        [(x * (index % 7 + 1)) % 256, (y * (index % 5 + 1)) % 256, (x + y + index) % 256], -1
    )
    noise = rng.integers(0, 12, size=(768, 1024, 3))
    Image.fromarray((base + noise).clip(0, 255).astype("uint8")).save(path, quality=88)


def generate(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img_{i:05d}.jpg" for i in range(count)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(_make, [(p, i) for i, p in enumerate(paths)], chunksize=64))
    return paths


def baseline(paths: list[Path], db_path: Path) -> float:
    started = time.perf_counter()
    db = sqlite3.connect(db_path)
    db.execute("create table images (path text unique, sha256 text unique, width int, height int)")
    for path in paths:
        data = path.read_bytes()
        with Image.open(path) as image:
            width, height = image.size
            image.verify()
        db.execute(
            "insert into images values (?, ?, ?, ?)",
            (str(path), hashlib.sha256(data).hexdigest(), width, height),
        )
        db.commit()
    db.close()
    return time.perf_counter() - started


def cnndesk_import(folder: Path, library_path: Path) -> tuple[float, int]:
    from cnndesk.library import Library, import_paths

    library = Library.open(library_path)
    started = time.perf_counter()
    job = import_paths(library, [folder])
    while True:
        try:
            next(job)
        except StopIteration as stop:
            result = stop.value
            break
    seconds = time.perf_counter() - started
    library.close()
    return seconds, result.added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cnndesk-bench-import"
    )
    args = parser.parse_args()
    folder = args.workdir / f"jpegs-v2-{args.images}"
    print(f"Generating {args.images} 1024×768 JPEGs in {folder} (cached between runs)…", flush=True)
    paths = generate(folder, args.images)
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    os.environ["CNNDESK_HOME"] = str(args.workdir / "home")
    with tempfile.TemporaryDirectory() as temp:
        temp_path = Path(temp)
        # Warm the page cache once so that no variant pays the first disk read alone.
        for p in paths:
            p.read_bytes()
        base = baseline(paths, temp_path / "baseline.db")
        first, added = cnndesk_import(folder, temp_path / "bench.cnndesk")
        again, added_again = cnndesk_import(folder, temp_path / "bench.cnndesk")
    n = len(paths)
    rows = [
        ("baseline: PIL verify + sha256 + 1 INSERT/commit per file", base, n),
        ("cnndesk import (first time)", first, added),
        ("cnndesk re-import (unchanged folder)", again, n),
    ]
    print(f"\n{n} JPEGs, {size_mb:.0f} MB, {os.cpu_count()} cores\n")
    print(f"{'variant':58} {'seconds':>8} {'images/s':>10} {'vs baseline':>12}")
    for name, seconds, _ in rows:
        rate = n / seconds
        print(f"{name:58} {seconds:8.2f} {rate:10,.0f} {base / seconds:11.1f}×")
    print(f"\nadded first time: {added}; added on re-import: {added_again}")
    print("targets: first import ≥ 1,000 images/s; re-import ≥ 5,000 images/s")
    print(
        "note: cnndesk checks each JPEG/PNG for its end-of-image marker (and decodes at 1/8 "
        "scale any file without one) to catch truncated files, which verify() does not."
    )


if __name__ == "__main__":
    main()
