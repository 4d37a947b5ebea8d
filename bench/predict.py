"""Batch classification speed: cnndesk's batch path against a naive loop, same model, same photos.

    python bench/predict.py [--model MODEL_DIR] [--images 500] [--batch-size 32] [--repeats 2]

The photos are the hymenoptera set (ants and bees, 193×130 up to 2592×1944), repeated until there
are ``--images`` of them. Without ``--model``, the model is ``tf_efficientnet_lite0`` with the real
ImageNet weights from ``../shared/models`` and an untrained 2-class head (speed does not depend on
what the head learned), saved as a cnndesk model folder in a temporary directory.

- naive: ``PIL.Image.open`` at full size, ``convert("RGB")``, the model's eval transform, then the
  model on one image at a time under ``torch.no_grad`` (what a first script does);
- cnndesk: ``Predictor.classify`` — decoding in a thread pool with ``Image.draft`` (DCT-domain
  downscaling), batch norms folded into the convolutions, batches under ``torch.inference_mode``
  in channels-last memory; the default fp32, and the opt-in ``precision="bf16"`` (autocast; about
  twice as fast on CPUs with bf16 instructions, probabilities move by about 0.01).

Each method runs ``--repeats`` times, alternating, after a short warm-up; the best run counts (the
CPU is shared with other work). Prints a table and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
SHARED = HERE.parent.parent / "shared"
HYMENOPTERA = SHARED / "data" / "hymenoptera"
LITE0 = SHARED / "models" / "tf_efficientnet_lite0_in1k.safetensors"


def build_model(folder: Path) -> Path:
    import timm
    from timm.data import resolve_model_data_config

    from cnndesk.ml.model_io import save_model

    model = timm.create_model(
        "tf_efficientnet_lite0",
        pretrained=True,
        pretrained_cfg_overlay={"file": str(LITE0)},
        num_classes=2,
    ).eval()
    config = resolve_model_data_config(model)
    info = {"backbone": "tf_efficientnet_lite0", "classes": ["ants", "bees"], "data_config": config}
    return save_model(folder, model, info)


def naive(model, transform, files: list[Path]) -> float:
    import torch
    from PIL import Image

    started = time.perf_counter()
    with torch.no_grad():
        for path in files:
            image = Image.open(path).convert("RGB")
            torch.softmax(model(transform(image).unsqueeze(0)), dim=1)
    return time.perf_counter() - started


def batched(predictor, files: list[Path], batch_size: int | None, workers: int | None) -> float:
    started = time.perf_counter()
    for _ in predictor.classify(files, batch_size=batch_size, workers=workers):
        pass
    return time.perf_counter() - started


def best_ms(fn, count: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` milliseconds per item of ``fn()``, which handles ``count`` items."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return 1000 * best / count


def stages(predictor, fast, plain_model, transform, photos: list[Path]) -> list[tuple[str, float]]:
    """Per-image cost of each step, to show where the time goes."""
    import torch
    from PIL import Image

    from cnndesk.ml.preprocess import decode_image

    sample = photos[:96]
    big = sorted(photos, key=lambda p: p.stat().st_size)[-8:]  # the largest photos
    size = predictor._decode_size
    images = [decode_image(p, size=size) for p in sample]
    batch = torch.stack([transform(i) for i in images[:32]])
    rows = [
        (
            "decode, full size (PIL open + convert)",
            best_ms(lambda: [Image.open(p).convert("RGB") for p in sample], len(sample)),
        ),
        (
            "decode, draft (cnndesk decode_image)",
            best_ms(lambda: [decode_image(p, size=size) for p in sample], len(sample)),
        ),
        (
            f"  the {len(big)} largest photos, full size",
            best_ms(lambda: [Image.open(p).convert("RGB") for p in big], len(big)),
        ),
        (
            f"  the {len(big)} largest photos, draft",
            best_ms(lambda: [decode_image(p, size=size) for p in big], len(big)),
        ),
        (
            "eval transform (resize, crop, normalise)",
            best_ms(lambda: [transform(i) for i in images], len(images)),
        ),
    ]
    with torch.no_grad():
        rows.append(
            (
                "model, batch 1, as trained (naive)",
                best_ms(lambda: [plain_model(batch[i : i + 1]) for i in range(32)], 32),
            )
        )
    bs = predictor.default_batch_size
    rows.append(
        (
            f"model, batch {bs}, BN folded, channels-last",
            best_ms(
                lambda: [predictor.probabilities(batch[i : i + bs]) for i in range(0, 32, bs)], 32
            ),
        )
    )
    rows.append(
        (
            f"model, batch {bs}, BN folded, channels-last, bf16",
            best_ms(lambda: [fast.probabilities(batch[i : i + bs]) for i in range(0, 32, bs)], 32),
        )
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a cnndesk model folder (default: lite0)")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--batch-size", type=int, help="default: the predictor's (8 on a CPU)")
    parser.add_argument("--workers", type=int, help="decoding threads (default: one per core)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    from cnndesk.filesort import image_files
    from cnndesk.ml.model_io import load_model
    from cnndesk.ml.predict import Predictor
    from cnndesk.ml.preprocess import eval_transform

    load_before = os.getloadavg()[0]
    photos = image_files(HYMENOPTERA)
    files = (photos * (args.images // len(photos) + 1))[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or build_model(Path(tmp) / "lite0")
        predictor = Predictor(model_dir, device="cpu")
        fast = Predictor(model_dir, device="cpu", precision="bf16")
        model, info = load_model(model_dir)
        transform = eval_transform(info["data_config"])
        naive(model, transform, files[:8])  # warm-up: allocator, kernels, page cache
        batched(predictor, files[:64], args.batch_size, args.workers)
        batched(fast, files[:64], args.batch_size, args.workers)
        times: dict[str, list[float]] = {"naive": [], "cnndesk": [], "bf16": []}
        for _ in range(args.repeats):
            times["naive"].append(naive(model, transform, files))
            times["cnndesk"].append(batched(predictor, files, args.batch_size, args.workers))
            times["bf16"].append(batched(fast, files, args.batch_size, args.workers))
        steps = stages(predictor, fast, model, transform, photos)

    batch = args.batch_size or predictor.default_batch_size
    load_after = os.getloadavg()[0]
    best = {name: min(values) for name, values in times.items()}
    rate = {name: len(files) / seconds for name, seconds in best.items()}
    print(
        f"{len(files)} real photos ({len(photos)} distinct), {info['backbone']} "
        f"{tuple(info['data_config']['input_size'])}, CPU, {torch.get_num_threads()} torch "
        f"threads, {os.cpu_count()} cores, batch {batch}, best of {args.repeats}"
    )
    print(
        f"1-minute load average {load_before:.2f} before, {load_after:.2f} after (the CPU is "
        "shared: under load the naive loop suffers most, so compare runs at similar load)"
    )
    print(f"| {'method':<58} | {'seconds':>8} | {'images/s':>8} |")
    print(f"|{'-' * 60}|{'-' * 10}|{'-' * 10}|")
    labels = {
        "naive": "naive: PIL full-size decode, one image at a time",
        "cnndesk": "cnndesk (default, fp32): threaded draft decode, BN folded,",
        "bf16": "cnndesk, precision='bf16' (opt-in; probabilities ±0.01)",
    }
    for name in ("naive", "cnndesk", "bf16"):
        print(f"| {labels[name]:<58} | {best[name]:8.2f} | {rate[name]:8.1f} |")
        if name == "cnndesk":
            print(f"| {'  batched, channels-last':<58} | {'':8} | {'':8} |")
    print(f"speed-up, default fp32: {rate['cnndesk'] / rate['naive']:.2f}x (target 3x)")
    print(f"speed-up, opt-in bf16:  {rate['bf16'] / rate['naive']:.2f}x")
    print()
    print(f"| {'step (best of 3)':<58} | {'ms/image':>8} |")
    print(f"|{'-' * 60}|{'-' * 10}|")
    for label, ms in steps:
        print(f"| {label:<58} | {ms:8.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
