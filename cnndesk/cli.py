"""The ``cnndesk`` command: the desktop app with no sub-command, the same jobs headless otherwise.

Every sub-command drives a job generator from :mod:`cnndesk.jobs` with :func:`run_job`, which
draws a progress bar on stderr when stderr is a terminal and turns Ctrl+C into a clean cancel.
User errors (:class:`~cnndesk.domain.CnndeskError`) print one line and exit 1; anything
unexpected prints one line too and leaves the traceback in the log file. Machine-readable
output (``--json``) goes to stdout; everything for humans goes to stderr or plain stdout text.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from cnndesk import __version__, paths
from cnndesk.domain import CnndeskError, Progress

log = logging.getLogger("cnndesk")
T = TypeVar("T")

# ---------------------------------------------------------------------------- progress bars


class ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is not a terminal."""

    def __init__(self, label: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, event: Progress, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        fraction = event.fraction
        if fraction is None:
            bar = " " * self.width
            counts = f"{event.done}"
        else:
            filled = round(self.width * min(max(fraction, 0.0), 1.0))
            bar = "█" * filled + "·" * (self.width - filled)
            counts = f"{event.done}/{event.total}"
        elapsed = now - self.started
        rate = f" {event.done / elapsed:,.0f}/s" if elapsed > 0.5 and event.done else ""
        message = f" {event.message}" if event.message else ""
        line = f"\r{self.label} |{bar}| {counts}{rate}{message}"
        self.stream.write(line[:120].ljust(80))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def run_job(
    job: Generator[Any, None, T],
    *,
    label: str,
    on_event: Callable[[Any], None] | None = None,
) -> T:
    """Drive a job generator to its result with a progress bar; Ctrl+C cancels it cleanly."""
    bar = ProgressBar(label)
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                return stop.value
            if isinstance(event, Progress):
                bar.update(event)
            if on_event is not None:
                on_event(event)
    except KeyboardInterrupt:
        job.close()
        raise
    finally:
        bar.close()


# ---------------------------------------------------------------------------------- helpers


def _open_library(args: argparse.Namespace):  # -> Library (imported lazily: cheap start-up)
    from cnndesk.library import Library

    return Library.open(args.library)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}


# --------------------------------------------------------------------------------- commands


def cmd_import(args: argparse.Namespace) -> int:
    from cnndesk.jobs import import_job

    with _open_library(args) as library:
        result = run_job(
            import_job(library, args.paths, classes_from_folders=args.classes_from_folders),
            label="Importing",
        )
        stats = library.stats()
    if args.json:
        _print_json(
            {
                "added": result.added,
                "duplicates": result.duplicates,
                "unchanged": result.unchanged,
                "refused": [{"file": r.path, "reason": r.reason} for r in result.refused],
                "classes_created": list(result.classes_created),
                "labeled": result.labeled,
                "seconds": round(result.seconds, 3),
                "library": stats.as_json(),
            }
        )
    else:
        rate = result.seen / result.seconds if result.seconds > 0 else 0.0
        print(
            f"Added {result.added} images, {result.duplicates} duplicates skipped, "
            f"{result.unchanged} already imported, {len(result.refused)} refused "
            f"({result.seconds:.1f} s, {rate:,.0f} files/s)."
        )
        if result.classes_created:
            print("New classes: " + ", ".join(result.classes_created))
        for refused in result.refused:
            print(f"  refused {refused.path}: {refused.reason}")
        print(f"The library now has {stats.images} images, {stats.unlabeled} unlabeled.")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with _open_library(args) as library:
        stats = library.stats()
    if args.json:
        _print_json(stats.as_json())
        return 0
    print(
        f"Images: {stats.images} readable, {stats.unreadable} unreadable, {stats.missing} missing"
    )
    print(f"Unlabeled: {stats.unlabeled}")
    print("Classes:" + ("" if stats.classes else " none"))
    for name, count in stats.classes.items():
        print(f"  {name}: {count}")
    print("Splits: " + ", ".join(f"{k} {v}" for k, v in stats.splits.items()))
    return 0


def cmd_classes(args: argparse.Namespace) -> int:
    with _open_library(args) as library:
        action = args.classes_action
        if action == "add":
            info = library.add_class(args.name, hotkey=args.key)
            print(f"Added class {info.name!r}" + (f" (key {info.hotkey})" if info.hotkey else ""))
            return 0
        if action == "rename":
            library.rename_class(args.old, args.new)
            print(f"Renamed {args.old!r} to {args.new!r}")
            return 0
        if action == "remove":
            info = library.require_class(args.name)
            if (
                info.count
                and not args.yes
                and not _confirm(f"Remove {info.name!r}? Its {info.count} images become unlabeled.")
            ):
                print(
                    f"Not removed: {info.name!r} labels {info.count} images; add --yes to remove it.",
                    file=sys.stderr,
                )
                return 1
            unlabeled = library.remove_class(args.name)
            print(f"Removed class {args.name!r}; {unlabeled} images are unlabeled now.")
            return 0
        classes = library.classes()
    if args.json:
        _print_json(
            [
                {
                    "name": c.name,
                    "key": c.hotkey,
                    "colour": c.colour,
                    "count": c.count,
                    "position": c.order,
                }
                for c in classes
            ]
        )
    elif not classes:
        print("No classes yet. Add one with: cnndesk classes add NAME")
    else:
        for position, c in enumerate(classes, start=1):
            keys = ", ".join(
                k for k in (str(position) if position <= 9 else "", c.hotkey or "") if k
            )
            print(f"{c.name}\t{c.count} images" + (f"\tkeys {keys}" if keys else ""))
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    if args.clear == (args.class_name is not None):
        print("cnndesk label: give exactly one of --class NAME or --clear", file=sys.stderr)
        return 2
    with _open_library(args) as library:
        count, missing = library.label_files(args.files, None if args.clear else args.class_name)
    verb = "Cleared the labels of" if args.clear else f"Labeled {args.class_name!r}:"
    print(f"{verb} {count} images.")
    for path in missing:
        print(f"  not in the library (import it first): {path}", file=sys.stderr)
    return 0 if not missing else 1


def cmd_export_labels(args: argparse.Namespace) -> int:
    from cnndesk.jobs import export_labels_job

    with _open_library(args) as library:
        out = run_job(export_labels_job(library, args.out, format=args.format), label="Exporting")
    print(f"Wrote {out}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from cnndesk.gui.app import run_app

    return run_app(
        library=args.library,
        screenshot=args.screenshot,
        pane=args.pane,
        self_test=args.self_test,
    )


# ------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
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

    p = sub.add_parser("import", help="import image files and folders")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "--classes-from-folders",
        action="store_true",
        help="each image's folder is its class; train/val/test folders give the split",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("stats", help="counts of images, labels and splits")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("classes", help="list, add, rename or remove classes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_classes, classes_action=None)
    classes = p.add_subparsers(metavar="ACTION")
    q = classes.add_parser("add", help="add a class")
    q.add_argument("name")
    q.add_argument("--key", help="a hotkey that labels with this class (one letter, say)")
    q.set_defaults(classes_action="add")
    q = classes.add_parser("rename", help="rename a class")
    q.add_argument("old")
    q.add_argument("new")
    q.set_defaults(classes_action="rename")
    q = classes.add_parser("remove", help="remove a class (its images become unlabeled)")
    q.add_argument("name")
    q.add_argument("--yes", action="store_true", help="do not ask")
    q.set_defaults(classes_action="remove")

    p = sub.add_parser("label", help="label images (by file path) or clear their labels")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--class", dest="class_name", metavar="NAME")
    p.add_argument("--clear", action="store_true")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("export-labels", help="write the labels as CSV or an ImageFolder tree")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--format", choices=["csv", "imagefolder"], default="csv")
    p.set_defaults(func=cmd_export_labels)

    for add_commands in EXTRA_COMMANDS:
        add_commands(sub)
    return parser


EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []
"""Registration hooks for command groups defined further down (training, prediction)."""


# -------------------------------------------------------------------------------------- main


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
    parser = build_parser()
    args = parser.parse_args(argv)
    log_file = _setup_logging(args.verbose)
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
