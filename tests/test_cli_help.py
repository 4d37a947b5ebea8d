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
