"""Data-health audit on real labeled sets: planted label errors, planted near-duplicates, scale.

    pip install -e '.[bench]'          # cleanlab, for the comparison only
    python bench/audit.py [--cifar 5000] [--flip 0.05] [--seed 0] [--seeds 5]
                       [--flips 0.02 0.05 0.1 0.2] [--scale 10000 50000]

1. **Label errors.** 5 % of the labels of a 5,000-image CIFAR-10 subset (500 per class of the
   training split of ``../shared/data/cifar10-jpeg.tar.gz``) and of the 398 ants/bees photos are
   flipped to another class at random. Embeddings come from the real ``tf_efficientnet_lite0``
   ImageNet weights in ``../shared/models`` (CIFAR's 32 px images upsampled to 128 px, photos at
   224 px), out-of-fold probabilities from :func:`cnndesk.ml.crossval.cross_validate` (the
   audit's head settings :data:`cnndesk.ml.audit.AUDIT_HEAD`, 5 folds). On those same
   probabilities five rankers are scored: cnndesk's :func:`cnndesk.ml.audit.label_issues`,
   cleanlab's ``find_label_issues`` (its default ``prune_by_noise_rate``, and ``both`` and
   ``confident_learning``, each ranked by self-confidence) and a plain top-loss ranking (its own
   threshold: the model's top class is not the given label). Precision/recall/F1 of each list at
   its own threshold, and of its first k where k is the number flipped, for ``--seed``; then
   F1 at the own threshold, mean and lowest over ``--seeds`` flip seeds at each rate of
   ``--flips`` (one seed moves F1 by several points when 20 labels are flipped).
2. **Near-duplicates.** 50 of the ants/bees photos get a copy with ONE transform each, the four
   kinds in turn (resized to 60 %, re-encoded as JPEG quality 60, cropped 10 %, mirrored),
   placed in the other split; the audit's duplicate groups are scored against those 50 pairs
   over a range of thresholds (and leakage must be flagged for each): the audit's search (all
   dimensions), the optional 256-d PCA projection, and mirror-averaged embeddings.
3. **Scale.** Time and peak memory (tracemalloc: numpy's allocations) of the blocked duplicate
   search on 10,000 and 50,000 synthetic 1280-d embeddings, in all 1280 dimensions (the
   audit's search) and projected on 256 principal components (the option).

Embeddings are cached in ``/tmp/cnndesk-bench-audit`` so a rerun skips the backbone.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
SHARED = HERE.parent.parent / "shared"
HYMENOPTERA = SHARED / "data" / "hymenoptera"
CIFAR_TGZ = SHARED / "data" / "cifar10-jpeg.tar.gz"
LITE0 = SHARED / "models" / "tf_efficientnet_lite0_in1k.safetensors"
CACHE = Path("/tmp/cnndesk-bench-audit")


# ------------------------------------------------------------------------------ embeddings


def backbone():
    import timm
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = timm.create_model(
        "tf_efficientnet_lite0",
        pretrained=True,
        pretrained_cfg_overlay={"file": str(LITE0)},
        num_classes=0,
    )
    return model.eval()


def embed_images(model, images: list, side: int, *, label: str) -> np.ndarray:
    """Pooled features of PIL images, resized (bicubic) to ``side`` square, lite0's mean/std."""
    import torch
    from PIL import Image

    out = []
    started = time.perf_counter()
    for start in range(0, len(images), 64):
        batch = [
            np.asarray(im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC))
            for im in images[start : start + 64]
        ]
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div(255)
        x = (x - 0.5) / 0.5
        with torch.inference_mode():
            out.append(model(x).numpy())
        done = min(len(images), start + 64)
        print(f"\r  embedding {label}: {done}/{len(images)}", end="", file=sys.stderr)
    print(f" ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return np.concatenate(out).astype(np.float32)


def cifar_subset(per_class: int) -> tuple[list, np.ndarray, list[str]]:
    from PIL import Image

    wanted: dict[str, list[tuple[str, bytes]]] = {}
    with tarfile.open(CIFAR_TGZ) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if member.isfile() and len(parts) >= 3 and parts[-3] == "train":
                name = parts[-2]
                bucket = wanted.setdefault(name, [])
                if len(bucket) < per_class:
                    bucket.append((member.name, tar.extractfile(member).read()))
    classes = sorted(wanted)
    images, labels = [], []
    for j, name in enumerate(classes):
        for _, data in sorted(wanted[name]):
            images.append(Image.open(io.BytesIO(data)))
            labels.append(j)
    return images, np.array(labels), classes


COPY_KINDS = ("resized 60 %", "JPEG q60", "cropped 10 %", "mirrored")


def planted_copy(image, kind: int):
    """One transform of ``image``: the ``kind``-th of :data:`COPY_KINDS`."""
    from PIL import Image, ImageOps

    im = image.convert("RGB")
    w, h = im.size
    if kind == 0:
        return im.resize((max(1, round(w * 0.6)), max(1, round(h * 0.6))), Image.Resampling.BICUBIC)
    if kind == 1:
        buffer = io.BytesIO()
        im.save(buffer, format="JPEG", quality=60)
        return Image.open(io.BytesIO(buffer.getvalue()))
    if kind == 2:
        dx, dy = round(w * 0.05), round(h * 0.05)
        return im.crop((dx, dy, w - dx, h - dy))
    return ImageOps.mirror(im)


def hymenoptera_set(n_copies: int, seed: int):
    from PIL import Image

    files, labels, splits = [], [], []
    classes = ["ants", "bees"]
    for split in ("train", "val"):
        for j, name in enumerate(classes):
            for path in sorted((HYMENOPTERA / split / name).iterdir()):
                files.append(path)
                labels.append(j)
                splits.append(split)
    images = [Image.open(p) for p in files]
    rng = np.random.default_rng(seed)
    originals = sorted(rng.choice(len(files), n_copies, replace=False).tolist())
    copies = [planted_copy(images[i], c % len(COPY_KINDS)) for c, i in enumerate(originals)]
    copy_splits = ["val" if splits[i] == "train" else "train" for i in originals]
    return images, np.array(labels), splits, classes, originals, copies, copy_splits


def cached(name: str, compute) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    value = compute()
    np.save(path, value, allow_pickle=False)
    return value


# ---------------------------------------------------------------------------------- scoring


def prf(flagged: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, int]:
    flagged = np.asarray(flagged, dtype=np.int64)
    hits = int(np.isin(flagged, truth).sum())
    p = hits / len(flagged) if len(flagged) else 0.0
    r = hits / len(truth) if len(truth) else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, len(flagged)


def flipped_labels(labels: np.ndarray, flip: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``round(flip * N)`` rows, drawn with ``seed``, each moved to another class at random."""
    n_classes = int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    flipped = np.sort(rng.choice(len(labels), round(flip * len(labels)), replace=False))
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, len(flipped))) % n_classes
    return flipped, noisy


def out_of_fold(features: np.ndarray, noisy: np.ndarray, seed: int):
    from cnndesk.ml.audit import AUDIT_HEAD
    from cnndesk.ml.crossval import cross_validate

    n_classes = int(noisy.max()) + 1
    return cross_validate(features, noisy, n_classes=n_classes, folds=5, seed=seed, head=AUDIT_HEAD)


METHODS = (
    "cnndesk (confident joint count, self-confidence)",
    "cleanlab find_label_issues (default: prune_by_noise_rate)",
    "cleanlab filter_by='both'",
    "cleanlab filter_by='confident_learning'",
    "top loss (misclassified)",
)


def rankings(
    probs: np.ndarray, noisy: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per method: its list at its own threshold, its top-k ranking, and the seconds it took."""
    from cleanlab.filter import find_label_issues

    from cnndesk.ml.audit import label_issues

    n_classes = int(noisy.max()) + 1
    out = {}
    started = time.perf_counter()
    ours = np.array([i.index for i in label_issues(probs, noisy, n_classes=n_classes)], int)
    out[METHODS[0]] = (ours, ours, time.perf_counter() - started)
    for name, filter_by in zip(METHODS[1:4], ("prune_by_noise_rate", "both", "confident_learning")):
        started = time.perf_counter()
        ranked = np.asarray(
            find_label_issues(
                noisy, probs, filter_by=filter_by, return_indices_ranked_by="self_confidence"
            )
        )
        out[name] = (ranked, ranked, time.perf_counter() - started)
    loss = -np.log(np.clip(probs[np.arange(len(noisy)), noisy], 1e-12, None))
    by_loss = np.argsort(-loss, kind="stable")
    out[METHODS[4]] = (by_loss[probs.argmax(1)[by_loss] != noisy[by_loss]], by_loss, 0.0)
    return out


def label_bench(name: str, features: np.ndarray, labels: np.ndarray, flip: float, seed: int):
    """The full table for one flip seed: each method at its own threshold and at top k."""
    from cnndesk.ml.audit import AUDIT_HEAD, softmax

    flipped, noisy = flipped_labels(labels, flip, seed)
    started = time.perf_counter()
    cv = out_of_fold(features, noisy, seed)
    cv_seconds = time.perf_counter() - started
    probs = softmax(cv.logits)
    k = len(flipped)
    print(
        f"\n### {name}: {len(labels)} images, {int(labels.max()) + 1} classes, {k} labels flipped"
        f" ({flip:.0%}, seed {seed}); out-of-fold accuracy {cv.accuracy:.3f} on the noisy labels,"
        f" {(cv.logits.argmax(1) == labels).mean():.3f} on the true ones"
        f" (5-fold CV, head {AUDIT_HEAD}, {cv_seconds:.1f} s)\n"
    )
    print("| method | own threshold: listed | P | R | F1 | top-k: P | R | F1 | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, (own, ranked, seconds) in rankings(probs, noisy).items():
        p, r, f, listed = prf(own, flipped)
        tp, tr, tf, _ = prf(ranked[:k], flipped)
        print(
            f"| {label} | {listed} | {p:.3f} | {r:.3f} | {f:.3f} | {tp:.3f} | {tr:.3f} | {tf:.3f}"
            f" | {seconds:.3f} |"
        )


def label_summary(sets, flips: list[float], seeds: int) -> None:
    """F1 at each method's own threshold, mean (and lowest) over ``seeds`` flip seeds per rate.

    One flip seed moves F1 by several points on 398 photos (20 flipped labels); the mean over
    seeds, each with its own out-of-fold probabilities shared by every method, is what to compare.
    """
    from cnndesk.ml.audit import softmax

    print(
        f"\n### F1 at the own threshold, mean (lowest) over flip seeds 0..{seeds - 1},"
        " and the seeds on which cnndesk's F1 is at least cleanlab's default\n"
    )
    short = (
        "cnndesk",
        "cleanlab default",
        "cleanlab both",
        "cleanlab confident_learning",
        "top loss",
    )
    print("| set | flipped | " + " | ".join(short) + " | cnndesk ≥ cleanlab default |")
    print("|---|---:|" + "---:|" * (len(short) + 1))
    for name, features, labels in sets:
        for flip in flips:
            f1 = np.zeros((seeds, len(METHODS)))
            for seed in range(seeds):
                flipped, noisy = flipped_labels(labels, flip, seed)
                probs = softmax(out_of_fold(features, noisy, seed).logits)
                for m, (own, _, _) in enumerate(rankings(probs, noisy).values()):
                    f1[seed, m] = prf(own, flipped)[2]
            cells = " | ".join(
                f"{f1[:, m].mean():.3f} ({f1[:, m].min():.2f})" for m in range(len(METHODS))
            )
            wins = int((f1[:, 0] >= f1[:, 1] - 1e-12).sum())
            print(f"| {name} | {flip:.0%} | {cells} | {wins}/{seeds} |")


def duplicate_bench(
    variant: str,
    features: np.ndarray,
    splits: list[str],
    originals,
    copy_splits,
    thresholds,
    *,
    project: bool,
) -> None:
    """Rows: the photos, then their planted copies, then any distractors (all in ``train``)."""
    from cnndesk.ml.audit import duplicate_groups

    n = len(splits)
    all_splits = splits + copy_splits
    all_splits += ["train"] * (len(features) - len(all_splits))
    truth = {(o, n + c) for c, o in enumerate(originals)}
    for threshold in thresholds:
        started = time.perf_counter()
        groups = duplicate_groups(features, threshold=threshold, project=project)
        seconds = time.perf_counter() - started
        found = {(a, b) for g in groups for a in g.indices for b in g.indices if a < b}
        hits = len(found & truth)
        leaks = sum(
            1 for g in groups if len({all_splits[i] for i in g.indices}) > 1 and any(
                (a, b) in truth for a in g.indices for b in g.indices
            )
        )  # fmt: skip
        precision = hits / len(found) if found else 0.0
        recall = hits / len(truth)
        print(
            f"| {variant} | {threshold:.2f} | {len(groups)} | {len(found)} | {precision:.3f}"
            f" | {recall:.3f} | {leaks}/{len(truth)} | {seconds:.2f} |"
        )


def copy_similarities(features: np.ndarray, originals) -> None:
    """Lowest and median similarity of each kind of planted copy, best of any two other photos."""
    from cnndesk.ml.audit import normalized_embeddings

    unit = normalized_embeddings(features)
    n = len(unit) - len(originals)
    sims = unit @ unit.T
    pair = np.array([sims[o, n + c] for c, o in enumerate(originals)])
    kinds = np.arange(len(originals)) % len(COPY_KINDS)
    parts = [
        f"{name} {pair[kinds == k].min():.3f} / {np.median(pair[kinds == k]):.3f}"
        for k, name in enumerate(COPY_KINDS)
    ]
    other = sims[:n, :n].copy()
    np.fill_diagonal(other, -1.0)
    print(
        "\nSimilarity of original and copy, lowest / median: " + ", ".join(parts)
        + f"; highest between two different photos: {other.max():.3f}"
    )  # fmt: skip


def scale_bench(sizes: list[int], seed: int) -> None:
    from cnndesk.ml.audit import duplicate_groups

    print("\n### Duplicate search at scale (synthetic 1280-d embeddings, 100 planted pairs)\n")
    print(
        "| embeddings | search | groups found | seconds | peak memory (numpy) | embeddings alone |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(seed)
    for n in sizes:
        x = rng.standard_normal((n, 1280), dtype=np.float32)
        x[n - 100 :] = x[:100] + 0.05 * rng.standard_normal((100, 1280), dtype=np.float32)
        for label, project in (("all 1280 dims (audit)", False), ("256-d PCA (option)", True)):
            tracemalloc.start()
            started = time.perf_counter()
            groups = duplicate_groups(x, project=project)
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"| {n:,} | {label} | {len(groups)} | {seconds:.1f} | {peak / 2**20:,.0f} MiB"
                f" | {x.nbytes / 2**20:,.0f} MiB |"
            )
        del x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", type=int, default=5000, help="CIFAR-10 images (per class /10)")
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--scale", type=int, nargs="*", default=[10_000, 50_000])
    parser.add_argument("--cifar-side", type=int, default=128)
    parser.add_argument("--seeds", type=int, default=5, help="flip seeds of the F1 summary")
    parser.add_argument(
        "--flips", type=float, nargs="*", default=[0.02, 0.05, 0.10, 0.20], help="summary rates"
    )
    args = parser.parse_args()
    model = None

    def need_model():
        nonlocal model
        model = model or backbone()
        return model

    per_class = args.cifar // 10
    images, cifar_labels, _ = cifar_subset(per_class)
    cifar = cached(
        f"cifar-{per_class}-{args.cifar_side}",
        lambda: embed_images(need_model(), images, args.cifar_side, label="CIFAR-10"),
    )
    hym = hymenoptera_set(args.copies, args.seed)
    photos, hym_labels, splits, _, originals, copies, copy_splits = hym
    hym_features = cached(
        "hymenoptera-224", lambda: embed_images(need_model(), photos, 224, label="ants/bees")
    )
    copy_features = cached(
        f"hymenoptera-copies-one-{args.copies}-{args.seed}",
        lambda: embed_images(need_model(), copies, 224, label="planted copies"),
    )

    print("## Likely label errors (same out-of-fold probabilities for every method)")
    label_bench("CIFAR-10 subset", cifar, cifar_labels, args.flip, args.seed)
    label_bench("ants/bees", hym_features, hym_labels, args.flip, args.seed)
    sets = (("CIFAR-10", cifar, cifar_labels), ("ants/bees", hym_features, hym_labels))
    label_summary(sets, args.flips, args.seeds)

    from PIL import ImageOps

    photo_mirrors = cached(
        "hymenoptera-224-mirror",
        lambda: embed_images(
            need_model(), [ImageOps.mirror(p.convert("RGB")) for p in photos], 224, label="mirrors"
        ),
    )
    copy_mirrors = cached(
        f"hymenoptera-copies-one-{args.copies}-{args.seed}-mirror",
        lambda: embed_images(
            need_model(), [ImageOps.mirror(c) for c in copies], 224, label="copies' mirrors"
        ),
    )
    counts = np.bincount(np.arange(args.copies) % len(COPY_KINDS), minlength=len(COPY_KINDS))
    kinds = ", ".join(f"{c} {name}" for c, name in zip(counts, COPY_KINDS))
    print(
        f"\n### Near-duplicates: {args.copies} planted copies, ONE transform each ({kinds}),"
        f" of ants/bees photos, each in the other split, among {len(photos)} photos\n"
    )
    both = np.concatenate([hym_features, copy_features])
    mirrored = (both + np.concatenate([photo_mirrors, copy_mirrors])) / 2
    print("| embeddings | threshold | groups | pairs | precision | recall | leakage flagged | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    thresholds = (0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
    run = (splits, originals, copy_splits)
    duplicate_bench("photos (audit)", both, *run, thresholds, project=False)
    duplicate_bench("photos, 256-d PCA", both, *run, thresholds, project=True)
    duplicate_bench("photos, mirror-averaged", mirrored, *run, thresholds, project=False)
    copy_similarities(both, originals)
    scale_bench(args.scale, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
