"""Batch classification speed: cnndesk's batch path against a naive loop, same model, same photos.

    python bench/predict.py [--model MODEL_DIR] [--images 500] [--batch-size 32] [--repeats 2]

The photos are the hymenoptera set (ants and bees, 193×130 up to 2592×1944), repeated until there
are ``--images`` of them. Without ``--model``, the model is ``tf_efficientnet_lite0`` with the real
ImageNet weights from ``../shared/models`` and an untrained 2-class head (speed does not depend on
what the head learned), saved as a cnndesk model folder in a temporary directory.

- naive: ``PIL.Image.open`` at full size, ``convert("RGB")``, the model's eval transform, then the
  model on one image at a time under ``torch.no_grad`` (what a first script does);
- cnndesk: ``Predictor.classify`` — decoding with ``Image.draft`` (DCT-domain downscaling),
  resampling only the centre crop, uint8 pixels normalised once per batch, batch norms folded
  into the convolutions, then batches through
  * OpenVINO in fp32 (the default for fp32 on a CPU: the model is exported to ONNX once into the
    cache, checked against PyTorch, and compiled by OpenVINO), or
  * ONNX Runtime (``backend="onnxruntime"``, the fallback) — with either runtime each core takes
    a whole batch of 4 (decode, crop, run on one thread), or
  * the PyTorch batch path (``backend="torch"``: ``torch.inference_mode``, channels-last, batches
    of 8 on every core, decoding threads ahead), fp32;
  * the opt-in ``precision="bf16"``: OpenVINO's bf16 on a CPU with bf16 instructions (else
    PyTorch's autocast); probabilities move by up to about 0.03.

Every method uses the same number of threads: torch's thread count is set to every core (what
``Predictor`` uses by default) before anything runs, and OpenVINO and ONNX Runtime get as many.
The ONNX export runs in a temporary ``CNNDESK_HOME`` (its time is printed: it is paid once per
model). Each method runs ``--repeats`` times, alternating, after a short warm-up; the
best run counts (the CPU is shared with other work). Prints a table and the speed-ups.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def stages(runners: dict, plain_model, transform, photos: list[Path]) -> list[tuple[str, float]]:
    """Per-image cost of each step, to show where the time goes."""
    import numpy as np
    import torch
    from PIL import Image

    from cnndesk.ml.preprocess import decode_image, eval_resize_crop, normalize

    torch_fp32 = runners["torch"]
    config = torch_fp32.data_config
    sample = photos[:96]
    big = sorted(photos, key=lambda p: p.stat().st_size)[-8:]  # the largest photos
    size = torch_fp32._decode_size
    images = [decode_image(p, size=size) for p in sample]
    full_resize_crop = eval_resize_crop(config)
    crops = [np.asarray(torch_fp32._resize_crop(i)) for i in images]
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
            "eval transform (timm: resize, crop, to tensor, normalise)",
            best_ms(lambda: [transform(i) for i in images], len(images)),
        ),
        (
            "  resize + crop (torchvision)",
            best_ms(lambda: [full_resize_crop(i) for i in images], len(images)),
        ),
        (
            "  resize_crop (cnndesk: resample only the crop)",
            best_ms(lambda: [torch_fp32._resize_crop(i) for i in images], len(images)),
        ),
        (
            "  normalise uint8 pixels, batches of 8 (cnndesk)",
            best_ms(
                lambda: [
                    normalize(torch.from_numpy(np.stack(crops[i : i + 8])), config)
                    for i in range(0, len(crops), 8)
                ],
                len(crops),
            ),
        ),
    ]
    batch = torch.stack([transform(i) for i in images])  # 96 images
    with torch.no_grad():
        rows.append(
            (
                "model, batch 1, as trained (naive)",
                best_ms(lambda: [plain_model(batch[i : i + 1]) for i in range(32)], 32),
            )
        )
    labels = {
        "torch": "fp32, BN folded, channels-last",
        "bf16": "bf16, BN folded",
        "onnxruntime": "fp32, BN folded",
        "openvino": "fp32, BN folded",
    }
    for name, runner in runners.items():
        bs = runner.default_batch_size
        chunks = [batch[i : i + bs] for i in range(0, len(batch), bs)]
        parallel = getattr(runner._runner, "parallel", 1)
        if parallel > 1:  # one batch per core at a time, as classify runs them
            with ThreadPoolExecutor(parallel) as pool:
                ms = best_ms(
                    lambda r=runner, c=chunks: list(pool.map(r.probabilities, c)), len(batch)
                )
            how = f"{parallel} batches at once, 1 thread each"
        else:
            ms = best_ms(lambda r=runner, cs=chunks: [r.probabilities(c) for c in cs], len(batch))
            how = f"{runner.threads} threads per batch"
        rows.append((f"model, batch {bs}, {labels[name]}, {runner.backend} ({how})", ms))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a cnndesk model folder (default: lite0)")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument(
        "--batch-size", type=int, help="default: each predictor's own (4 with a runtime, else 8)"
    )
    parser.add_argument(
        "--workers", type=int, help="classify's threads (default: one per core for each method)"
    )
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    from cnndesk.filesort import image_files
    from cnndesk.ml.device import prediction_threads
    from cnndesk.ml.model_io import load_model
    from cnndesk.ml.predict import Predictor
    from cnndesk.ml.preprocess import eval_transform

    threads = prediction_threads()
    torch.set_num_threads(threads)  # the naive loop and every Predictor use the same count
    load_before = os.getloadavg()[0]
    photos = image_files(HYMENOPTERA)
    files = (photos * (args.images // len(photos) + 1))[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CNNDESK_HOME"] = str(Path(tmp) / "home")  # the ONNX cache, thrown away after
        model_dir = args.model or build_model(Path(tmp) / "lite0")
        started = time.perf_counter()
        default = Predictor(model_dir, device="cpu")  # exports to ONNX, checks it, caches it
        export_seconds = time.perf_counter() - started
        runners = {
            "openvino": default,
            "onnxruntime": Predictor(model_dir, device="cpu", backend="onnxruntime"),
            "torch": Predictor(model_dir, device="cpu", backend="torch"),
            "bf16": Predictor(model_dir, device="cpu", precision="bf16"),
        }
        for name in ("openvino", "onnxruntime"):
            if runners[name].backend != name:
                print(
                    f"{name} is not used (see the log above); its row shows {runners[name].backend}"
                )
        assert torch.get_num_threads() == threads == default.threads
        model, info = load_model(model_dir)
        transform = eval_transform(info["data_config"])
        naive(model, transform, files[:8])  # warm-up: allocator, kernels, page cache
        for p in runners.values():
            batched(p, files[:64], args.batch_size, args.workers)
        methods = {"naive": None, **runners}
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.repeats):
            for name, p in methods.items():
                if p is None:
                    times[name].append(naive(model, transform, files))
                else:
                    times[name].append(batched(p, files, args.batch_size, args.workers))
        steps = stages(runners, model, transform, photos)

    batch = args.batch_size or default.default_batch_size
    load_after = os.getloadavg()[0]
    best = {name: min(values) for name, values in times.items()}
    rate = {name: len(files) / seconds for name, seconds in best.items()}
    print(
        f"{len(files)} real photos ({len(photos)} distinct), {info['backbone']} "
        f"{tuple(info['data_config']['input_size'])}, CPU, {threads} threads in every method "
        f"(torch, OpenVINO, ONNX Runtime), {os.cpu_count()} cores, default batch {batch}, "
        f"best of {args.repeats}"
    )
    print(
        f"default backend: {default.backend}; first use for the model (export to ONNX, check "
        f"against PyTorch, cache) {export_seconds:.1f} s, later uses load the cached file"
    )
    print(
        f"1-minute load average {load_before:.2f} before, {load_after:.2f} after (the CPU is "
        "shared: under load the naive loop suffers most, so compare runs at similar load)"
    )
    print(f"| {'method':<60} | {'seconds':>8} | {'images/s':>8} | {'vs naive':>8} |")
    print(f"|{'-' * 62}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    labels = {
        "naive": "naive: PIL full-size decode, one image at a time (PyTorch)",
        "openvino": "cnndesk default: OpenVINO fp32",
        "onnxruntime": "cnndesk, backend='onnxruntime' (fp32)",
        "torch": "cnndesk, backend='torch' (fp32, channels-last)",
        "bf16": f"cnndesk, precision='bf16' ({runners['bf16'].backend}; opt-in)",
    }
    for name in methods:
        print(
            f"| {labels[name]:<60} | {best[name]:8.2f} | {rate[name]:8.1f} | "
            f"{rate[name] / rate['naive']:7.2f}x |"
        )
    print("(every cnndesk row: threaded draft decode, crop-only resample, BN folded, batches)")
    print(f"speed-up, default ({default.backend}, fp32): {rate['openvino'] / rate['naive']:.2f}x "
          "(target 3x)")  # fmt: skip
    print()
    print(f"| {'step (best of 3; decoding steps on one core, models on every core)':<72} "
          f"| {'ms/image':>8} |")  # fmt: skip
    print(f"|{'-' * 74}|{'-' * 10}|")
    for label, ms in steps:
        print(f"| {label:<72} | {ms:8.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
