"""Shared defaults are defined once (cnndesk/defaults.py), so what the help and the dialogs say is
what the code does."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnndesk import defaults
from cnndesk.cli.program import build_parser
from cnndesk.filesort import image_files
from cnndesk.library.imagefile import is_supported


def _subcommand_help(name: str) -> str:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return " ".join(action.choices[name].format_help().split())
    raise AssertionError("no subcommands")


def test_train_help_states_the_epoch_defaults_the_training_code_uses() -> None:
    from cnndesk.ml.train import FULL_PRETRAINED, FULL_SCRATCH, QUICK

    text = _subcommand_help("train")
    assert (
        f"{QUICK['epochs']} quick, {FULL_PRETRAINED['epochs']} full, "
        f"{FULL_SCRATCH['epochs']} full from scratch" in text
    )
    assert "{fp32,bf16,fp16}" in text and "{cuda,mps,cpu}" in text


def test_train_default_backbone_is_the_one_the_ml_layer_names() -> None:
    from cnndesk.domain import TrainConfig
    from cnndesk.ml import backbones

    assert TrainConfig().backbone == backbones.DEFAULT_BACKBONE == defaults.DEFAULT_BACKBONE
    assert defaults.DEFAULT_BACKBONE in {name for name, _ in backbones.CURATED_BACKBONES}


def test_sort_reads_exactly_the_files_the_library_imports(tmp_path: Path) -> None:
    names = ["a.JPG", "b.jfif", "c.webp", "d.tiff", "e.heic", "f.svg", "g.txt", "h.jpe"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    sorted_names = {p.name for p in image_files(tmp_path)}
    imported = {n for n in names if is_supported(tmp_path / n)}
    assert sorted_names == imported == {"a.JPG", "b.jfif", "c.webp", "d.tiff", "h.jpe"}


def test_the_open_dialog_offers_every_extension_the_library_imports() -> None:
    images, every_file = defaults.image_file_filter().split(";;")
    patterns = set(images.removeprefix("Images (").removesuffix(")").split())
    assert patterns == {f"*{suffix}" for suffix in defaults.IMAGE_EXTENSIONS}
    assert every_file == "All files (*)"
