"""Arguments of the ``cnndesk`` command line: :func:`command` (a sub-command whose help is its
function's docstring), value types that say what is allowed, the arguments and options several
commands share, and the library that ``--library`` names.

argparse prints an :class:`argparse.ArgumentTypeError`'s message as
``cnndesk train: error: argument --lr: lr must be a finite number above 0 (got 'inf')`` and
exits 2, before any library is opened or any file is touched.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from cnndesk.defaults import PRECISIONS


def command(
    sub: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    *,
    help: str | None = None,
    **defaults: Any,
) -> argparse.ArgumentParser:
    """Add the sub-command ``name``, run by ``func``, and return its parser for the arguments.

    The first line of ``func``'s docstring is the command's line in ``cnndesk --help`` (``help``
    replaces it where the line is computed); the paragraphs after it, if any, are the description
    that ``cnndesk NAME --help`` shows. ``defaults`` are set on the parsed namespace beside
    ``func``.
    """
    summary, _, description = inspect.cleandoc(func.__doc__ or "").partition("\n")
    parser = sub.add_parser(
        name,
        # argparse %-formats a help line (so a literal % is written %%); a description only
        # when it holds "%(prog)", which no docstring here does.
        help=(help or summary).replace("%", "%%"),
        description=description.strip() or None,
    )
    parser.set_defaults(func=func, **defaults)
    return parser


def whole(name: str, low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number from {low} to {high} (got {text!r})"
            )
        return value

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def number(
    name: str, *, above: float | None = None, low: float | None = None, high: float | None = None
) -> Callable[[str], float]:
    """A finite number, above ``above`` (exclusive) and/or within ``low``..``high``."""
    parts = []
    if above is not None:
        parts.append(f"above {above:g}")
    if low is not None:
        parts.append(f"at least {low:g}")
    if high is not None:
        parts.append(f"at most {high:g}")
    allowed = f"{name} must be a finite number " + " and ".join(parts)

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            value = math.nan
        if (
            not math.isfinite(value)
            or (above is not None and value <= above)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise argparse.ArgumentTypeError(f"{allowed} (got {text!r})")
        return value

    parse.__name__ = name
    return parse


def probability(name: str) -> Callable[[str], float]:
    """A number from 0 to 1."""
    return number(name, low=0.0, high=1.0)


def folder(name: str) -> Callable[[str], str]:
    """A folder to write into: it may not exist yet, but it may not be a file.

    The value is the text with ``~`` expanded (``--out=~/m`` reaches no shell), so what is
    checked and what is written are one folder.
    """

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{name} needs a folder name")
        expanded = os.path.expanduser(text)
        if Path(expanded).exists() and not Path(expanded).is_dir():
            raise argparse.ArgumentTypeError(
                f"{text} is a file, but {name} needs a folder (a new one, or an existing folder)"
            )
        return expanded

    parse.__name__ = name
    return parse


def file(name: str) -> Callable[[str], str]:
    """A file to write: it may not be an existing folder."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{name} needs a file name")
        if Path(text).expanduser().is_dir():
            raise argparse.ArgumentTypeError(
                f"{text} is a folder, but {name} needs a file name (e.g. {Path(text) / 'model.onnx'})"
            )
        return text

    parse.__name__ = name
    return parse


# ----------------------------------------------------------- shared arguments and options


def add_model_argument(parser: argparse.ArgumentParser, *, optional: str = "") -> None:
    """``MODEL``: a model folder; ``optional`` (e.g. ``"with --undo"``) says when it may be left
    out."""
    parser.add_argument(
        "model",
        nargs="?" if optional else None,
        metavar="MODEL",
        help="a model folder, as cnndesk train writes it"
        + (f"; left out {optional}" if optional else ""),
    )


def add_images_argument(parser: argparse.ArgumentParser, help: str, metavar: str = "IMAGE") -> None:
    """``IMAGE [IMAGE ...]`` (or ``PATH``, ``FILE`` …): the image files a command reads, as the
    list ``args.images`` (``args.paths``, ``args.files`` …)."""
    parser.add_argument(f"{metavar.lower()}s", nargs="+", metavar=metavar, help=help)


def add_json_option(
    parser: argparse.ArgumentParser,
    help: str = "print the result as one line of JSON on stdout instead of text",
) -> None:
    """``--json``: machine-readable output on stdout."""
    parser.add_argument("--json", action="store_true", help=help)


def add_force_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--force``; ``help`` says which files it lets the command replace."""
    parser.add_argument("--force", action="store_true", help=help)


def add_out_option(
    parser: argparse.ArgumentParser,
    kind: Literal["folder", "file"],
    *,
    required: bool = False,
    help: str,
) -> None:
    """``--out DIR`` (a :func:`folder`) or ``--out FILE`` (a :func:`file`): where output goes."""
    parser.add_argument(
        "--out",
        required=required,
        type=folder("--out") if kind == "folder" else file("--out"),
        metavar="DIR" if kind == "folder" else "FILE",
        help=help,
    )


def add_whole_option(
    parser: argparse.ArgumentParser,
    flag: str,
    low: int,
    high: int,
    *,
    default: int | None = None,
    help: str,
) -> None:
    """``flag N``: a :func:`whole` number from ``low`` to ``high``, named after the flag in
    messages (``--image-size`` → ``image size must be a whole number …``); a ``default`` is
    added to ``help``."""
    if default is not None:
        help = f"{help} (default: {default})"
    parser.add_argument(
        flag, type=whole(_flag_name(flag), low, high), default=default, metavar="N", help=help
    )


def add_probability_option(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    metavar: str,
    help: str,
    default: float | None = None,
) -> None:
    """``flag X``: a :func:`probability` (0..1), named after the flag in messages."""
    parser.add_argument(
        flag, type=probability(_flag_name(flag)), default=default, metavar=metavar, help=help
    )


def _flag_name(flag: str) -> str:
    """``--image-size`` → ``image size``: how a value's messages name its option."""
    return flag.lstrip("-").replace("-", " ")


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    """``--precision``: the arithmetic prediction runs in."""
    parser.add_argument(
        "--precision",
        choices=list(PRECISIONS),
        help="fp32 (default on a CPU; matches evaluation), bf16 (about 2x faster on CPUs with "
        "bf16 instructions; probabilities move by about 0.01) or fp16 (CUDA)",
    )


def add_target_precision_option(parser: argparse.ArgumentParser, below: str) -> None:
    """``--target-precision P``; ``below`` says what the command does below that confidence."""
    parser.add_argument(
        "--target-precision",
        type=number("target precision", above=0, high=1),
        metavar="P",
        help=f"be right P of the time (0..1, e.g. 0.95): below the confidence at which the model"
        f" reaches P on its held-out images, {below}",
    )


def open_library(args: argparse.Namespace):  # -> Library (imported lazily: cheap start-up)
    """The library ``--library`` names (the default library without it), opened."""
    from cnndesk.library import Library

    return Library.open(args.library)
