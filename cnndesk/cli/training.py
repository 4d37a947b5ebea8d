"""Training commands: ``train`` (a progress bar per phase, a line per epoch) and ``runs``."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from cnndesk import heldout
from cnndesk.cli import args as cli_args
from cnndesk.cli.args import (
    add_json_option,
    add_out_option,
    add_whole_option,
    command,
    open_library,
)
from cnndesk.cli.prediction import evaluation_lines
from cnndesk.cli.progress import run_job
from cnndesk.cli.terminal import plural, print_json, record_json, shown
from cnndesk.defaults import DEVICES, EPOCHS_DEFAULTS_TEXT, PRECISIONS
from cnndesk.domain import Progress


def _format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _bar_label(event: Progress) -> str | None:
    """A bar per training phase (features, training, validation, …); other events draw none."""
    from cnndesk.domain import BatchProgress

    return event.phase.value.capitalize() if isinstance(event, BatchProgress) else None


def _bar_message(event: Any) -> str:
    """The text beside a batch's bar: the phase's message, smoothed loss, speed and ETA."""
    parts = [event.message]
    if event.smoothed_loss is not None:
        parts.append(f"loss {event.smoothed_loss:.3f}")
    if event.images_per_second:
        parts.append(f"{event.images_per_second:.0f} img/s")
    if event.eta_seconds is not None:
        parts.append(f"ETA {_format_seconds(event.eta_seconds)}")
    return ", ".join(p for p in parts if p)


def _event_line(event: Any, *, quiet: bool) -> str | None:
    """The line on stderr for a run's start and (unless ``quiet``) for each epoch's end."""
    from cnndesk.domain import EpochEnd, TrainStarted

    if isinstance(event, TrainStarted):
        return (
            f"Training {event.backbone} ({event.mode}) on {event.device}: "
            f"{len(event.classes)} classes, {event.train_images} training / "
            f"{event.val_images} validation / {event.test_images} test images; "
            f"weights: {event.weights}"
        )
    if isinstance(event, EpochEnd) and not quiet:
        val = (
            f", val loss {event.val_loss:.3f} acc {event.val_accuracy:.3f}"
            if event.val_loss is not None and event.val_accuracy is not None
            else ""
        )
        mark = " *" if event.improved else ""
        return (
            f"{event.stage} epoch {event.epoch}/{event.epochs}: train loss "
            f"{event.train_loss:.3f} acc {event.train_accuracy:.3f}{val}, "
            f"lr {event.lr:.2g}, {event.seconds:.1f}s{mark}"
        )
    return None


def cmd_train(args: argparse.Namespace) -> int:
    """train a classifier on the library's labeled images

    Train a model on the human-labeled images of the library. The default, quick mode, freezes
    a pretrained backbone and trains only its last layer on cached features (seconds); --mode
    full trains every layer (minutes).
    """
    from cnndesk.domain import TrainConfig, TrainMode
    from cnndesk.jobs import train_job

    config = TrainConfig(
        backbone=args.backbone,
        mode=TrainMode(args.mode),
        pretrained=not args.no_pretrained,
        weights=args.weights,
        epochs=args.epochs,
        image_size=args.image_size,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=args.augment,
        device=args.device,
        threads=args.threads,
        precision=args.precision,
        out=args.out,
    )
    library = open_library(args)
    result = run_job(
        train_job(library, config),
        label=_bar_label,
        message=_bar_message,
        lines=partial(_event_line, quiet=args.quiet),
    )
    if args.json:
        print_json(result.as_json())
        return 0
    print(f"Model: {result.model_path}")
    if result.evaluation is not None:
        for line in evaluation_lines(result.evaluation, per_class=False):
            print(line)
    if result.kept_warmup_head:
        words = result.best_epoch_words()
        print(f"Kept the head warm-up: {words[0].upper()}{words[1:]}.")
    elif result.val_accuracy is not None:
        print(f"Best epoch {result.best_epoch} by validation accuracy {result.val_accuracy:.1%}")
    print(f"Predicted every image: {len(result.library_predictions)} images")
    if result.mode == "quick":
        print(f"Features computed: {result.embedded}, reused from the cache: {result.reused}")
    if result.unreadable:
        print(f"Could not use {plural(len(result.unreadable), 'image')} (see `cnndesk check`):")
        for item in result.unreadable[:20]:
            print(f"  {shown(item.path)}: {item.reason}")
        if len(result.unreadable) > 20:
            print(f"  … and {len(result.unreadable) - 20} more")
    print(f"Time: {result.seconds:.1f} s on {result.device}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """list the training runs, or compare two of them"""
    if args.compare:
        return _compare_runs(args)
    runs = open_library(args).runs()
    if args.json:
        print_json([record_json(r, names={"model_path": "model"}) for r in runs])
        return 0
    if not runs:
        print("No training runs yet.")
        return 0
    from cnndesk.model_folder import KEPT_HEAD_LABEL, KEPT_HEAD_MEANING, run_mode_label

    current = next((r.model_path for r in reversed(runs) if r.model_path), None)
    modes = [run_mode_label(r) or "?" for r in runs]
    wide = max(5, *(len(m) for m in modes))
    print(
        f"  {'ID':>4}  {'CREATED':<19}  {'STATUS':<9}  {'BACKBONE':<22}  {'MODE':<{wide}}  "
        f"{'ACCURACY [95 % CI] n ON':<38}  MODEL"
    )
    for r, mode in zip(runs, modes):
        mark = "*" if current is not None and r.model_path == current else " "
        print(
            f"{mark} {r.id:>4}  {str(r.created)[:19]:<19}  {r.status:<9}  "
            f"{str(r.config.get('backbone', '?'))[:22]:<22}  {mode:<{wide}}  "
            f"{run_accuracy_text(r.metrics):<38}  {r.model_path or '-'}"
        )
    if current is not None:
        print("* the current model (the newest run's)")
    if KEPT_HEAD_LABEL in modes:
        print(f"{KEPT_HEAD_LABEL}: {KEPT_HEAD_MEANING}")
    return 0


def _compare_runs(args: argparse.Namespace) -> int:
    """``cnndesk runs --compare A B``: both runs on the same held-out images, what changed."""
    from cnndesk.run_compare import compare_library_runs, describe

    first, second = args.compare
    comparison = compare_library_runs(open_library(args), first, second)
    if args.json:
        print_json(comparison.as_json())
    else:
        print("\n".join(describe(comparison)))
    return 0


def run_accuracy_text(metrics: dict[str, Any]) -> str:
    """A run's accuracy with its interval, n and images (one definition for every run)."""
    summary = metrics.get("evaluation")
    if isinstance(summary, dict) and isinstance(summary.get("images"), int):
        n, on = summary["images"], str(summary.get("on", ""))
        correct = summary.get("correct")
        if not isinstance(correct, int):
            correct = round(float(summary.get("accuracy") or 0.0) * n)
        return heldout.short(correct, n, on)
    acc = metrics.get("val_accuracy")
    return f"{acc:.1%} (val, n unknown)" if isinstance(acc, (int, float)) else "-"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the training commands to the ``cnndesk`` parser."""
    _add_train_command(sub)
    p = command(sub, "runs", cmd_runs)
    add_json_option(p)
    p.add_argument(
        "--compare",
        nargs=2,
        type=int,
        metavar=("RUN_A", "RUN_B"),
        help="two run ids side by side on the same validation+test images: accuracy with its"
        " 95 %% interval, per class, and the images whose answer changed",
    )


def _add_train_command(sub: argparse._SubParsersAction) -> None:
    from cnndesk.domain import AUGMENT_PRESETS, TrainConfig

    p = command(sub, "train", cmd_train)
    p.add_argument(
        "--backbone",
        default=TrainConfig().backbone,
        metavar="NAME",
        help="a timm model name, or simple-cnn to train a small network from scratch "
        f"(default: {TrainConfig().backbone})",
    )
    p.add_argument(
        "--weights", metavar="FILE", help="pretrained weights (.safetensors or a state dict)"
    )
    p.add_argument(
        "--no-pretrained", action="store_true", help="start from random weights (from scratch)"
    )
    p.add_argument(
        "--mode",
        choices=["quick", "full"],
        default="quick",
        help="quick (the default): train only the last layer, on a frozen backbone's cached"
        " features; full: train every layer",
    )
    add_whole_option(
        p,
        "--epochs",
        1,
        10_000,
        help="the most epochs, 1..10000 (early stopping may end sooner; default:"
        f" {EPOCHS_DEFAULTS_TEXT})",
    )
    add_whole_option(
        p, "--image-size", 32, 1024, help="32..1024 pixels (default: the backbone's own)"
    )
    add_whole_option(
        p,
        "--batch-size",
        1,
        4096,
        help="images per training step, 1..4096 (default: 64 quick, 32 full, 64 full from scratch)",
    )
    p.add_argument(
        "--lr",
        type=cli_args.number("lr", above=0, high=10),
        metavar="X",
        help="peak learning rate, above 0, at most 10 (default: 0.003 quick; 0.0005 full, the"
        " backbone at a fifth of it; 0.002 full from scratch)",
    )
    p.add_argument(
        "--augment",
        choices=AUGMENT_PRESETS,
        default=TrainConfig().augment,
        help="how full mode varies the training images: none, light (flips and crops), standard"
        " (and colour), strong (and rotation, erasing); default: " + TrainConfig().augment,
    )
    p.add_argument("--device", choices=list(DEVICES), help="default: the best there is")
    add_whole_option(
        p,
        "--threads",
        1,
        1024,
        help="CPU threads (default: every core on 1–2 cores, else all but one)",
    )
    p.add_argument(
        "--precision",
        choices=list(PRECISIONS),
        help="full mode's training arithmetic (default: AMP on CUDA; on a CPU the faster of"
        " fp32 and bf16, measured on the first steps)",
    )
    add_out_option(p, "folder", help="the model folder (default: a new one)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    add_json_option(p, "end with one JSON line on stdout")
