"""The ``cnndesk`` program: its parser built from the table of command groups, logging, and the
boundary where errors become one line (and Ctrl+C becomes "cancelled", exit 130).

With no command it opens the desktop app (:func:`cmd_gui`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cnndesk import __version__, paths
from cnndesk.cli.terminal import SafeStream
from cnndesk.domain import CnndeskError

log = logging.getLogger("cnndesk")

COMMAND_GROUPS: tuple[str, ...] = (
    "library",  # import, check, stats, classes, label, export-labels
    "prediction",  # predict, sort, suggest, export, evaluate
    "training",  # train, runs
    "health",  # explain, audit
)
"""The modules of :mod:`cnndesk.cli` whose ``register(sub)`` adds commands, in the order
``cnndesk --help`` lists them."""


def cmd_gui(args: argparse.Namespace) -> int:
    """No command: the desktop app (or its screenshot or self-test)."""
    from cnndesk.gui.app import run_app

    return run_app(
        library=args.library,
        screenshot=args.screenshot,
        pane=args.pane,
        self_test=args.self_test,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``cnndesk`` parser: the app's options, then every command of :data:`COMMAND_GROUPS`."""
    parser = argparse.ArgumentParser(
        prog="cnndesk",
        description="Build an image classifier without writing code. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"cnndesk {__version__}")
    parser.add_argument(
        "--library",
        metavar="PATH",
        default=None,
        help=f"the library file (default: {paths.default_library_path()})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument(
        "--screenshot", metavar="FILE", help="render the main window to a PNG and exit"
    )
    parser.add_argument("--pane", metavar="NAME", help="with --screenshot: the pane to show")
    parser.add_argument("--self-test", action="store_true", help="check this installation and exit")
    parser.set_defaults(func=cmd_gui)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    for group in COMMAND_GROUPS:
        importlib.import_module(f"cnndesk.cli.{group}").register(sub)
    return parser


class _OneLineFormatter(logging.Formatter):
    """Terminal log lines never carry a traceback (those go to the log file)."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text
        record.exc_info = record.exc_text = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text = saved


def _setup_logging(verbose: bool) -> Path | None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    try:
        log_file = paths.data_dir() / "cnndesk.log"
        handler = logging.FileHandler(log_file, encoding="utf-8")
    except OSError:
        return None
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return log_file


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cnndesk`` with ``argv`` (default: the command line); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    log_file = _setup_logging(args.verbose)
    # Names from folders and libraries reach the terminal escaped, never as raw control codes.
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(real_out), SafeStream(real_err)
    try:
        return int(args.func(args) or 0)
    except CnndeskError as exc:
        print(f"cnndesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ncnndesk: cancelled", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        log.exception("Unexpected error")
        where = f" (details in {log_file})" if log_file else ""
        print(f"cnndesk: unexpected error: {exc}{where}", file=sys.stderr)
        return 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = real_out, real_err
