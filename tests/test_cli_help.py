"""``cnndesk --help`` and ``cnndesk COMMAND --help``: every command is listed with its line, its
help page shows its description as written (a percent sign once, never ``%%``)."""

from __future__ import annotations

import argparse

import pytest

from cnndesk.cli import build_parser, main

COMMANDS = [
    name
    for action in build_parser()._actions
    if isinstance(action, argparse._SubParsersAction)
    for name in action.choices
]


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal width


def test_the_program_help_lists_every_command_with_its_line(capsys) -> None:
    assert len(COMMANDS) >= 15
    text = _help(["--help"], capsys)
    for command in COMMANDS:
        assert f" {command} " in text
    assert "evaluate how good a model is: accuracy on which images" in text
    assert "export export a model (onnx, torchscript or openvino), checked after" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_no_help_page_shows_a_doubled_percent_sign(command: str, capsys) -> None:
    assert "%%" not in _help([command, "--help"], capsys)


def test_evaluate_help_shows_its_description_with_one_percent_sign(capsys) -> None:
    text = _help(["evaluate", "--help"], capsys)
    assert "its 95 % (Wilson) interval, per-class recall with intervals" in text


def test_runs_help_shows_the_compare_interval_with_one_percent_sign(capsys) -> None:
    assert "accuracy with its 95 % interval" in _help(["runs", "--help"], capsys)


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("cnndesk",)
) -> list[tuple[str, argparse.ArgumentParser]]:
    """``parser`` and every command's and subcommand's parser under it, each with its name."""
    found = [(" ".join(path), parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, (*path, name))
    return found


def test_every_argument_and_option_of_every_command_says_what_it_is() -> None:
    parsers = _parsers(build_parser())
    assert {"cnndesk label", "cnndesk classes add", "cnndesk classes remove"} <= {
        name for name, _ in parsers
    }
    silent = []
    for name, parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                # each command (or ACTION) has its line in its parent's help
                silent += [f"{name} {c.dest}" for c in action._choices_actions if not c.help]
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                silent.append(f"{name} {'/'.join(action.option_strings) or action.metavar}")
    assert not silent, "no help text: " + ", ".join(silent)


def test_label_help_says_what_each_argument_is(capsys) -> None:
    text = _help(["label", "--help"], capsys)
    assert "FILE imported image files (others are listed; exit status 1)" in text
    assert "--class NAME the class to give them (it must exist)" in text
    assert "--clear remove their labels instead" in text


def test_a_whole_number_option_with_a_default_says_it(capsys) -> None:
    assert "--top N maps for the N top classes (default: 1)" in _help(["explain", "--help"], capsys)
    assert "findings shown per kind (default: 10)" in _help(["audit", "--help"], capsys)


def test_train_and_audit_help_state_the_defaults_the_code_uses(capsys) -> None:
    from cnndesk.ml import audit, train

    text = _help(["train", "--help"], capsys)
    batches = (train.QUICK, train.FULL_PRETRAINED, train.FULL_SCRATCH)
    quick, full, scratch = (settings["batch_size"] for settings in batches)
    assert f"(default: {quick} quick, {full} full, {scratch} full from scratch)" in text
    from cnndesk.ml.full import BACKBONE_LR_FACTOR

    quick, full, scratch = (float(settings["lr"]) for settings in batches)
    flat = " ".join(text.split())  # argparse wraps the help
    assert BACKBONE_LR_FACTOR == 0.2  # "a fifth"
    assert (
        f"(default: {quick} quick; {full} full, the backbone at a fifth of it;"
        f" {scratch} full from scratch)"
    ) in flat
    text = _help(["audit", "--help"], capsys)
    assert f"default {audit.DUPLICATE_THRESHOLD:g}) are near-duplicates" in text
