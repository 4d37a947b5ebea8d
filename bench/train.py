"""Training speed on this machine: cnndesk's quick and full modes against a plain PyTorch loop.

    python bench/train.py [--backbones mobilenetv3_large_100 tf_efficientnet_lite0]
                          [--images 245] [--full-epochs 2] [--plain-epochs 2] [--workers 1]

Data: the hymenoptera photos (train split as training data, val split for validation), 224 px.
Weights: ``tf_efficientnet_lite0`` starts from the real ImageNet weights in ``../shared/models``;
``mobilenetv3_large_100`` has no weights on this offline machine and starts from random ones,
which does not change its speed. Caches go to a fresh temporary ``CNNDESK_HOME``, so the first
quick run really is a first run.

- quick, first run: ``train(mode=quick, epochs=10)`` end to end (decode with draft, embed train +
  val once into the feature cache, 10 head epochs); quick, rerun: the same again (all cached).
- plain frozen: a timm model with every layer but the classifier frozen, torchvision
  ``ImageFolder`` + ``DataLoader`` (RandomResizedCrop + flip, decode every epoch), train + val per
  epoch. ``--plain-epochs`` are measured and scaled to 10 epochs.
- full: ``train(mode=full, augment=light)`` seconds per epoch (train + val) after the first,
  against the same plain loop with every layer training.

Both sides run in this process with the same torch thread count (cnndesk's default: all cores
but one), and the plain loop gets ``--workers`` DataLoader worker processes to decode on the
spare core. Prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
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


def samples(split: str, classes: list[str], limit: int | None):
    from cnndesk.domain import TrainingSample

    out = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (HYMENOPTERA / split / name).iterdir() if p.is_file())
        for path in files:
            key = hashlib.sha256(path.read_bytes()).hexdigest()
            out.append(TrainingSample(str(path), key, label, None))
    if limit and len(out) > limit:
        step = len(out) / limit
        out = [out[int(i * step)] for i in range(limit)]
    return tuple(out)


def drive(gen):
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        yield event


def run_cnndesk(data, **config_kwargs):
    from cnndesk.domain import EpochEnd, TrainConfig
    from cnndesk.ml.train import train

    started = time.perf_counter()
    epochs: list[EpochEnd] = []
    gen = train(data, TrainConfig(**config_kwargs))
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        if isinstance(event, EpochEnd) and event.stage == "train":
            epochs.append(event)
    return time.perf_counter() - started, epochs, result


def plain_loop(backbone: str, weights: Path | None, *, epochs: int, frozen: bool, workers: int,
               limit: int | None) -> list[float]:  # fmt: skip
    """The loop a tutorial writes: seconds per epoch (train + val)."""
    import timm
    import torch
    import torch.nn.functional as F
    from timm.data import resolve_model_data_config
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    overlay = {"pretrained_cfg_overlay": {"file": str(weights)}} if weights else {}
    model = timm.create_model(backbone, pretrained=weights is not None, num_classes=2, **overlay)
    cfg = resolve_model_data_config(model)
    norm = transforms.Normalize(cfg["mean"], cfg["std"])
    train_tf = transforms.Compose(
        [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
         transforms.ToTensor(), norm]
    )  # fmt: skip
    val_tf = transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm]
    )
    train_set = datasets.ImageFolder(str(HYMENOPTERA / "train"), train_tf)
    if limit and len(train_set) > limit:
        train_set = Subset(
            train_set, list(range(0, len(train_set), len(train_set) // limit))[:limit]
        )
    val_set = datasets.ImageFolder(str(HYMENOPTERA / "val"), val_tf)
    loader = DataLoader(train_set, batch_size=32, shuffle=True, num_workers=workers)
    val_loader = DataLoader(val_set, batch_size=64, num_workers=workers)
    if frozen:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.get_classifier().parameters():
            p.requires_grad_(True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for x, _ in val_loader:
                model(x)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+",
                        default=["mobilenetv3_large_100", "tf_efficientnet_lite0"])  # fmt: skip
    parser.add_argument("--images", type=int, default=None, help="limit training images")
    parser.add_argument("--full-epochs", type=int, default=2)
    parser.add_argument("--plain-epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ["CNNDESK_HOME"] = tempfile.mkdtemp(prefix="cnndesk-bench-train-")

    import torch

    from cnndesk.domain import TrainingSet
    from cnndesk.ml.device import pick_device

    device = pick_device(None)
    classes = ["ants", "bees"]
    data = TrainingSet(
        tuple(classes), samples("train", classes, args.images), samples("val", classes, None), ()
    )
    n = len(data.train)
    print(f"device: {device.description}; {n} training / {len(data.val)} validation photos, 224 px;"
          f" plain loop: DataLoader with {args.workers} worker(s); torch {torch.__version__}")  # fmt: skip
    rows = []
    for backbone in args.backbones:
        weights = LITE0 if backbone == "tf_efficientnet_lite0" and LITE0.is_file() else None
        common = dict(backbone=backbone, weights=str(weights) if weights else None,
                      pretrained=weights is not None, image_size=224)  # fmt: skip
        q1, _, r1 = run_cnndesk(data, mode="quick", epochs=10, patience=100, **common)
        q2, _, r2 = run_cnndesk(data, mode="quick", epochs=10, patience=100, **common)
        assert r2.embedded == 0, "the rerun should embed nothing"
        frozen = plain_loop(backbone, weights, epochs=args.plain_epochs, frozen=True,
                            workers=args.workers, limit=args.images)  # fmt: skip
        frozen10 = sum(frozen) / len(frozen) * 10
        _, full_epochs, _ = run_cnndesk(
            data, mode="full", epochs=args.full_epochs, patience=100, augment="light", **common
        )
        ours = [e.seconds for e in full_epochs[1:]] or [e.seconds for e in full_epochs]
        plain = plain_loop(backbone, weights, epochs=args.plain_epochs, frozen=False,
                           workers=args.workers, limit=args.images)  # fmt: skip
        theirs = plain[1:] or plain
        ours_epoch, plain_epoch = min(ours), min(theirs)
        rows.append((backbone, "ImageNet file" if weights else "random (none offline)", q1, q2,
                     frozen10, ours_epoch, plain_epoch, n, r1.val_accuracy))  # fmt: skip

    print()
    print("| backbone | weights | quick 10 ep first run | quick rerun (cached) | plain frozen 10 ep |"
          " speed-up first / rerun | full epoch (train+val) | plain epoch | full speed-up |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for b, w, q1, q2, f10, ours, plain, n, _ in rows:
        print(
            f"| {b} | {w} | {q1:.1f} s ({n * 10 / q1:.0f} img/s) | {q2:.1f} s ({n * 10 / q2:.0f} img/s)"
            f" | {f10:.1f} s | {f10 / q1:.1f}× / {f10 / q2:.0f}× | {ours:.1f} s ({n / ours:.1f} img/s)"
            f" | {plain:.1f} s ({n / plain:.1f} img/s) | {plain / ours:.2f}× |"
        )
    print("\nimg/s counts training images; epochs include the validation pass on both sides.")
    print("Quick-mode val accuracy (10 head epochs): "
          + ", ".join(f"{r[0]} {r[8]:.3f}" for r in rows))  # fmt: skip


if __name__ == "__main__":
    main()
