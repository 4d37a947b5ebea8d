"""The ``cnndesk`` command: the desktop app with no sub-command, the same jobs headless otherwise.

Every sub-command drives a job generator from :mod:`cnndesk.jobs` with :func:`run_job`, which
draws a progress bar on stderr when stderr is a terminal and turns Ctrl+C into a clean cancel.
User errors (:class:`~cnndesk.domain.CnndeskError`) print one line and exit 1; anything
unexpected prints one line too and leaves the traceback in the log file. Machine-readable
output (``--json``) goes to stdout; everything for humans goes to stderr or plain stdout text.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from cnndesk import __version__, cli_args, heldout, paths
from cnndesk.domain import CnndeskError, Progress
from cnndesk.terminal import SafeStream, json_text, shown

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
    sys.stdout.write(json_text(json.dumps(value, ensure_ascii=False)) + "\n")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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
                "changed": result.changed,
                "moved": result.moved,
                "restored": result.restored,
                "refused": [{"file": r.path, "reason": r.reason} for r in result.refused],
                "skipped": [{"file": r.path, "reason": r.reason} for r in result.skipped],
                "classes_created": list(result.classes_created),
                "labeled": result.labeled,
                "seconds": round(result.seconds, 3),
                "library": stats.as_json(),
            }
        )
    else:
        rate = result.seen / result.seconds if result.seconds > 0 else 0.0
        speed = f", {rate:,.0f} files/s" if result.seen >= 100 else ""
        again = [
            f"{result.changed} changed (label kept, check it)" if result.changed else "",
            f"{result.moved} moved (label kept)" if result.moved else "",
            f"{result.restored} readable again" if result.restored else "",
            f"{len(result.skipped)} not images cnndesk reads" if result.skipped else "",
        ]
        print(
            f"Added {_plural(result.added, 'image')}, {result.duplicates} duplicates skipped, "
            f"{result.unchanged} already imported, "
            + "".join(f"{part}, " for part in again if part)
            + f"{len(result.refused)} refused ({result.seconds:.1f} s{speed})."
        )
        if result.classes_created:
            print("New classes: " + ", ".join(shown(name) for name in result.classes_created))
        for refused in result.refused:
            print(f"  refused {shown(refused.path)}: {refused.reason}")
        for skipped in result.skipped:
            print(f"  skipped {shown(skipped.path)}: {skipped.reason}")
        print(f"The library now has {_plural(stats.images, 'image')}, {stats.unlabeled} unlabeled.")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from cnndesk.jobs import check_job

    with _open_library(args) as library:
        result = run_job(check_job(library), label="Checking")
    if args.json:
        _print_json(result.as_json())
        return 0
    print(
        f"Checked {_plural(result.checked, 'image')}: {result.ok} readable, "
        f"{result.missing} missing, {result.unreadable} unreadable, "
        f"{result.changed} changed (label kept, check it), {result.restored} readable again."
    )
    for problem in result.problems[:50]:
        print(f"  {shown(problem.path)}: {problem.reason}")
    if len(result.problems) > 50:
        print(f"  … and {len(result.problems) - 50} more (--json lists every one)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with _open_library(args) as library:
        stats = library.stats()
    if args.json:
        _print_json(stats.as_json())
        return 0
    print(
        f"Images: {stats.images} readable, {stats.unreadable} unreadable, {stats.missing} missing"
        + (f", {stats.changed} changed (check the label)" if stats.changed else "")
    )
    print(f"Unlabeled: {stats.unlabeled}")
    print(f"Predicted by the current model: {stats.predicted}")
    print("Classes:" + ("" if stats.classes else " none"))
    for name, count in stats.classes.items():
        print(f"  {shown(name)}: {count}")
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
            print(f"{shown(c.name)}\t{c.count} images" + (f"\tkeys {keys}" if keys else ""))
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
        out = run_job(
            export_labels_job(library, args.out, format=args.format, force=args.force),
            label="Exporting",
        )
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

    p = sub.add_parser(
        "check",
        help="re-read every image's file: missing, changed, unreadable, readable again",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

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
    p.add_argument(
        "--force",
        action="store_true",
        help="replace OUT even if cnndesk did not write it (never the library itself)",
    )
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


# ------------------------------------------------------------------- prediction and sorting


def _run_phases(job: Generator[Any, None, T], labels: dict[type, str]) -> T:
    """Like :func:`run_job`, with one progress bar per phase (event type) of a multi-phase job."""
    bar: ProgressBar | None = None
    kind: type | None = None
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                return stop.value
            if type(event) is not kind:
                if bar is not None:
                    bar.close()
                kind = type(event)
                bar = ProgressBar(labels.get(kind, "Working"))
            if isinstance(event, Progress) and bar is not None:
                bar.update(event, force=event.done == event.total)
    except KeyboardInterrupt:
        job.close()
        raise
    finally:
        if bar is not None:
            bar.close()


def _phase_labels() -> dict[type, str]:
    from cnndesk.domain import ClassifyProgress, ExportProgress, SortProgress, SuggestProgress

    return {
        ClassifyProgress: "Classifying",
        SortProgress: "Sorting",
        SuggestProgress: "Suggesting",
        ExportProgress: "Exporting",
    }


def _target_line(found: Any, target: float) -> str:
    return (
        f"Answering 'unknown' below {found.threshold:.1%} confidence: right {found.precision:.1%}"
        f" of the time (target {target:.0%}) on {found.images} held-out images, answering"
        f" {found.coverage:.1%} of them."
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from cnndesk.jobs import predict_job, target_threshold

    found = None
    if args.target_precision is not None:
        found = target_threshold(args.model, args.target_precision)
    result = _run_phases(
        predict_job(args.model, args.images, precision=args.precision), _phase_labels()
    )

    def answer(p: Any) -> str | None:
        if p.error is not None:
            return None
        return "unknown" if found is not None and p.confidence < found.threshold else p.label

    if args.json:
        rows = [p.as_json() for p in result.predictions]
        if found is not None:  # "answer": the class, or "unknown" below the threshold
            for row, p in zip(rows, result.predictions):
                row["answer"] = answer(p)
                row["threshold"] = found.threshold
        _print_json(rows)
        return 0 if not result.unreadable else 1
    if found is not None:
        print(_target_line(found, args.target_precision))
    width = max([len(p.file) for p in result.predictions] + [4])
    cwidth = max([len(c) for c in result.classes] + [5])
    print(f"{'FILE':<{width}}  {'CLASS':<{cwidth}}  PROBABILITY")
    for p in result.predictions:
        if p.error is not None:
            print(f"{p.file:<{width}}  cannot be read: {p.error}")
            continue
        if answer(p) == "unknown":
            print(f"{p.file:<{width}}  {'unknown':<{cwidth}}  (best guess below)")
        for rank, score in enumerate(p.top):
            name = p.file if rank == 0 and answer(p) != "unknown" else ""
            print(f"{name:<{width}}  {score.name:<{cwidth}}  {score.p:8.2%}")
    return 0 if not result.unreadable else 1


def cmd_sort(args: argparse.Namespace) -> int:
    from cnndesk.jobs import sort_job, undo_sort_job

    if args.undo is not None:
        if args.model or args.src or args.dest:
            args.sort_parser.error("--undo DEST takes no MODEL, SRC or DEST arguments")
        undone = _run_phases(undo_sort_job(args.undo), _phase_labels())
        if args.json:
            _print_json(
                {
                    "dest": undone.dest,
                    "restored": undone.restored,
                    "removed": undone.removed,
                    "kept": [{"file": k.path, "reason": k.reason} for k in undone.kept],
                    "renamed": [{"file": r.path, "reason": r.reason} for r in undone.renamed],
                    "journal": undone.journal,
                }
            )
        else:
            print(
                f"Undid the last sort into {undone.dest}: {undone.restored} files put back, "
                f"{undone.removed} copies removed."
            )
            for item in (*undone.renamed, *undone.kept):
                print(f"  {item.path}: {item.reason}")
        return 0
    if not (args.model and args.src and args.dest):
        args.sort_parser.error("give MODEL SRC DEST (or --undo DEST)")
    result = _run_phases(
        sort_job(
            args.model,
            args.src,
            args.dest,
            move=args.move,
            threshold=args.threshold,
            target_precision=args.target_precision,
            dry_run=args.dry_run,
            precision=args.precision,
        ),
        _phase_labels(),
    )
    failed = [f for f in result.files if f.status == "failed"]
    skipped = [f for f in result.files if f.status == "skipped"]
    if args.json:
        _print_json(
            {
                "dest": result.dest,
                "mode": "move" if result.move else "copy",
                "dry_run": result.dry_run,
                "threshold": result.threshold,
                "counts": result.counts,
                "sorted": sum(result.counts.values()),
                "unreadable": [{"file": f.source, "reason": f.error} for f in skipped],
                "failed": [{"file": f.source, "reason": f.error} for f in failed],
                "journal": result.journal,
                "report_csv": result.report_csv,
                "report_json": result.report_json,
                "seconds": round(result.seconds, 3),
            }
        )
        return 0 if not failed else 1
    verb = "moved" if result.move else "copied"
    if result.dry_run:
        print(f"Dry run: nothing was {verb}. Where the files would go, in {result.dest}:")
    else:
        print(f"Sorted into {result.dest} ({verb}, threshold {result.threshold:.2f}):")
    width = max([len(k) for k in result.counts] + [10])
    for folder, count in sorted(result.counts.items()):
        print(f"  {folder:<{width}}  {count:6d}")
    print(f"  {'total':<{width}}  {sum(result.counts.values()):6d}")
    if skipped:
        print(f"{len(skipped)} unreadable files were left where they are:")
        for f in skipped:
            print(f"  {f.source}: {f.error}")
    for f in failed:
        print(f"  not sorted: {f.source}: {f.error}", file=sys.stderr)
    print(f"Report: {result.report_csv} (and {Path(result.report_json or '').name})")
    if not result.dry_run:
        print(f"Undo with: cnndesk sort --undo {result.dest}")
    return 0 if not failed else 1


def cmd_suggest(args: argparse.Namespace) -> int:
    from cnndesk.jobs import suggest_job

    with _open_library(args) as library:
        result = _run_phases(
            suggest_job(library, args.model, precision=args.precision), _phase_labels()
        )
        queue = library.unlabeled_queue(order="least_confident")
        names = {c.id: c.name for c in library.classes()}
    if args.json:
        _print_json(
            {
                "suggested": result.suggested,
                "unreadable": [{"file": r.path, "reason": r.reason} for r in result.unreadable],
                "least_confident": [
                    {
                        "file": r.path,
                        "class": names.get(r.suggested_class_id or -1),
                        "confidence": r.suggestion_confidence,
                    }
                    for r in queue[:10]
                ],
            }
        )
        return 0
    print(f"Suggested a class for {result.suggested} unlabeled images (human labels untouched).")
    for r in result.unreadable:
        print(f"  cannot read {r.path}: {r.reason}")
    if queue:
        print("Least confident first (label these next):")
        for r in queue[:5]:
            if r.suggestion_confidence is not None:
                name = names.get(r.suggested_class_id or -1, "?")
                print(f"  {r.path}  {name} {r.suggestion_confidence:.0%}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from cnndesk.filesort import image_files
    from cnndesk.jobs import export_job
    from cnndesk.outputs import library_files

    check = [p for path in args.check_images for p in image_files(path)]
    use_library = args.library is not None or paths.default_library_path().exists()
    # Whether or not it is opened, the library is never replaced by an export.
    libraries = [paths.default_library_path()]
    if args.library is not None and "://" not in str(args.library):
        libraries.append(Path(args.library))
    protected = [f for library in libraries for f in library_files(library)]
    if use_library and not check:
        with _open_library(args) as library:
            result = _run_phases(
                export_job(
                    args.model,
                    args.out,
                    format=args.format,
                    library=library,
                    force=args.force,
                    protected=protected,
                ),
                _phase_labels(),
            )
    else:
        result = _run_phases(
            export_job(
                args.model,
                args.out,
                format=args.format,
                check_images=check,
                force=args.force,
                protected=protected,
            ),
            _phase_labels(),
        )
    if args.json:
        _print_json(result.as_json())
    else:
        print(f"Exported {args.format} to {result.file} (description: {result.sidecar})")
        print(
            f"Largest probability difference from PyTorch on {result.images_checked} images: "
            f"{result.max_abs_diff:.2e}"
        )
    return 0


def _add_precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        help="fp32 (default on a CPU; matches evaluation), bf16 (about 2x faster on CPUs with "
        "bf16 instructions; probabilities move by about 0.01) or fp16 (CUDA)",
    )


def _add_target_precision_option(parser: argparse.ArgumentParser, below: str) -> None:
    parser.add_argument(
        "--target-precision",
        type=cli_args.number("target precision", above=0, high=1),
        metavar="P",
        help=f"be right P of the time (0..1, e.g. 0.95): below the confidence at which the model"
        f" reaches P on its held-out images, {below}",
    )


def _add_prediction_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="every class's probability for some images")
    p.add_argument("model", metavar="MODEL", help="a model folder")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true")
    _add_target_precision_option(p, "answer 'unknown'")
    _add_precision_option(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "sort",
        help="sort a folder of images into class folders (or undo a sort)",
        description="Classify every image under SRC and copy (or move) it into DEST/<class>/. "
        "Images whose top probability is below the threshold go to DEST/_uncertain/. "
        "A report (CSV and JSON) is written into DEST; a sort can be undone as a whole.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL", help="a model folder")
    p.add_argument("src", nargs="?", metavar="SRC", help="the folder of images to sort")
    p.add_argument("dest", nargs="?", metavar="DEST", help="where the class folders go")
    p.add_argument("--move", action="store_true", help="move instead of copy")
    p.add_argument(
        "--threshold",
        type=cli_args.probability("threshold"),
        default=0.0,
        metavar="T",
        help="images whose top probability is below T go to _uncertain (0..1; default 0)",
    )
    _add_target_precision_option(p, "send the image to _uncertain (replaces --threshold)")
    p.add_argument("--dry-run", action="store_true", help="only write the report")
    p.add_argument("--undo", metavar="DEST", help="undo the last sort into DEST")
    p.add_argument("--json", action="store_true")
    _add_precision_option(p)
    p.set_defaults(func=cmd_sort, sort_parser=p)

    p = sub.add_parser(
        "suggest", help="store the model's guesses for unlabeled images as suggestions"
    )
    p.add_argument("model", metavar="MODEL", help="a model folder")
    p.add_argument("--json", action="store_true")
    _add_precision_option(p)
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser("export", help="export a model to ONNX or TorchScript, checked after")
    p.add_argument("model", metavar="MODEL", help="a model folder")
    p.add_argument("--format", choices=["onnx", "torchscript"], required=True)
    p.add_argument("--out", required=True, type=cli_args.file("--out"), metavar="FILE")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace FILE even if cnndesk did not write it (never a model's own files or the "
        "library)",
    )
    p.add_argument(
        "--check-images",
        nargs="+",
        default=[],
        metavar="PATH",
        help="images or folders to compare the export with PyTorch on "
        "(default: the library's images, else generated ones)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)


EXTRA_COMMANDS.append(_add_prediction_commands)


# ---------------------------------------------------------------------------------- training


def _format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _train_progress(job: Generator[Any, None, T], *, quiet: bool) -> T:
    """Drive a training job: one progress bar per phase on a terminal, a line per epoch."""
    from dataclasses import replace

    from cnndesk.domain import BatchProgress, EpochEnd, TrainStarted

    bar: ProgressBar | None = None
    phase = None
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                return stop.value
            if isinstance(event, TrainStarted):
                print(
                    f"Training {event.backbone} ({event.mode}) on {event.device}: "
                    f"{len(event.classes)} classes, {event.train_images} training / "
                    f"{event.val_images} validation / {event.test_images} test images; "
                    f"weights: {event.weights}",
                    file=sys.stderr,
                )
            elif isinstance(event, BatchProgress):
                if event.phase != phase:
                    if bar is not None:
                        bar.close()
                    phase = event.phase
                    bar = ProgressBar(phase.value.capitalize())
                parts = [event.message]
                if event.smoothed_loss is not None:
                    parts.append(f"loss {event.smoothed_loss:.3f}")
                if event.images_per_second:
                    parts.append(f"{event.images_per_second:.0f} img/s")
                if event.eta_seconds is not None:
                    parts.append(f"ETA {_format_seconds(event.eta_seconds)}")
                assert bar is not None
                bar.update(replace(event, message=", ".join(p for p in parts if p)))
            elif isinstance(event, EpochEnd) and not quiet:
                if bar is not None:
                    bar.close()
                    bar, phase = None, None
                val = (
                    f", val loss {event.val_loss:.3f} acc {event.val_accuracy:.3f}"
                    if event.val_loss is not None and event.val_accuracy is not None
                    else ""
                )
                mark = " *" if event.improved else ""
                print(
                    f"{event.stage} epoch {event.epoch}/{event.epochs}: train loss "
                    f"{event.train_loss:.3f} acc {event.train_accuracy:.3f}{val}, "
                    f"lr {event.lr:.2g}, {event.seconds:.1f}s{mark}",
                    file=sys.stderr,
                )
    except KeyboardInterrupt:
        job.close()
        raise
    finally:
        if bar is not None:
            bar.close()


def cmd_train(args: argparse.Namespace) -> int:
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
    library = _open_library(args)
    result = _train_progress(train_job(library, config), quiet=args.quiet)
    if args.json:
        _print_json(result.as_json())
        return 0
    print(f"Model: {result.model_path}")
    if result.evaluation is not None:
        for line in _evaluation_lines(result.evaluation, per_class=False):
            print(line)
    if result.val_accuracy is not None:
        print(f"Best epoch {result.best_epoch} by validation accuracy {result.val_accuracy:.1%}")
    print(f"Predicted every image: {len(result.library_predictions)} images")
    if result.mode == "quick":
        print(f"Features computed: {result.embedded}, reused from the cache: {result.reused}")
    if result.unreadable:
        print(f"Could not use {_plural(len(result.unreadable), 'image')} (see `cnndesk check`):")
        for item in result.unreadable[:20]:
            print(f"  {shown(item.path)}: {item.reason}")
        if len(result.unreadable) > 20:
            print(f"  … and {len(result.unreadable) - 20} more")
    print(f"Time: {result.seconds:.1f} s on {result.device}")
    return 0


def _printable(name: str) -> str:
    """A class name with control characters (terminal escapes) shown as ``\\xNN``."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in name)


def _evaluation_lines(evaluation: Any, *, per_class: bool = True) -> list[str]:
    """What the Evaluate pane shows, as lines: the headline with n and its interval, the
    small-sample warning, cross-validation, calibration, and per class recall with intervals."""
    lines = [f"Accuracy: {evaluation.headline}"]
    if evaluation.warning:
        lines.append(f"Warning: {evaluation.warning}")
    if evaluation.cv_accuracy is not None:
        correct = round(evaluation.cv_accuracy * evaluation.cv_images)
        lines.append(
            "5-fold cross-validation: "
            + heldout.headline(correct, evaluation.cv_images, "cross-validation")
        )
    c = evaluation.calibration
    if c is not None:
        lines.append(
            f"Confidence calibrated on {c.images} {heldout.ON_WORDS.get(c.on, c.on)} predictions:"
            f" temperature {c.temperature:.3f}, calibration error (ECE) {c.ece_before:.3f}"
            f" before, {c.ece_after:.3f} after"
        )
    if per_class:
        lines.append("Per class (recall: found of its images, with its 95 % interval):")
        width = max([len(m.name) for m in evaluation.per_class] + [5])
        for i, m in enumerate(evaluation.per_class):
            lo, hi = evaluation.recall_ci95(i)
            lines.append(
                f"  {_printable(m.name):<{width}}  recall {m.recall:6.1%} [{lo:.1%}–{hi:.1%}]"
                f"  precision {m.precision:6.1%}  images {m.support}"
            )
    return lines


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cnndesk.domain import Evaluation, ModelError
    from cnndesk.jobs import target_threshold
    from cnndesk.model_folder import read_model_info

    folder = Path(args.model)
    path = folder / "evaluation.json"
    read_model_info(folder)  # a tampered or damaged description is refused with its reason
    try:
        evaluation = Evaluation.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ModelError(
            f"{folder} has no evaluation (it was saved before training ended, or by an older"
            " cnndesk); train again to measure it"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path} cannot be read: {exc}") from exc
    found = target_threshold(folder, args.target_precision) if args.target_precision else None
    if args.json:
        data = evaluation.summary()
        data["classes"] = list(evaluation.classes)
        data["per_class"] = [
            {"name": m.name, "precision": m.precision, "recall": m.recall,
             "recall_ci95": list(evaluation.recall_ci95(i)), "support": m.support}
            for i, m in enumerate(evaluation.per_class)
        ]  # fmt: skip
        data["confusion"] = [list(row) for row in evaluation.confusion]
        data["calibration"] = evaluation.calibration.as_json() if evaluation.calibration else None
        if found is not None:
            data["target_precision"] = {
                "target": args.target_precision, "threshold": found.threshold,
                "precision": found.precision, "coverage": found.coverage, "images": found.images,
            }  # fmt: skip
        _print_json(data)
        return 0
    for line in _evaluation_lines(evaluation):
        print(line)
    if found is not None:
        print(_target_line(found, args.target_precision))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    runs = _open_library(args).runs()
    if args.json:
        _print_json(
            [
                {
                    "id": r.id,
                    "created": r.created,
                    "finished": r.finished,
                    "status": r.status,
                    "config": r.config,
                    "metrics": r.metrics,
                    "model": r.model_path,
                }
                for r in runs
            ]
        )
        return 0
    if not runs:
        print("No training runs yet.")
        return 0
    current = next((r.model_path for r in reversed(runs) if r.model_path), None)
    print(
        f"  {'ID':>4}  {'CREATED':<19}  {'STATUS':<9}  {'BACKBONE':<22}  {'MODE':<5}  "
        f"{'ACCURACY [95 % CI] n ON':<38}  MODEL"
    )
    for r in runs:
        mark = "*" if current is not None and r.model_path == current else " "
        print(
            f"{mark} {r.id:>4}  {str(r.created)[:19]:<19}  {r.status:<9}  "
            f"{str(r.config.get('backbone', '?'))[:22]:<22}  {r.config.get('mode', '?')!s:<5}  "
            f"{run_accuracy_text(r.metrics):<38}  {r.model_path or '-'}"
        )
    if current is not None:
        print("* the current model (the newest run's)")
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


def _add_training_commands(sub: argparse._SubParsersAction) -> None:
    from cnndesk.domain import AUGMENT_PRESETS, TrainConfig

    p = sub.add_parser(
        "train",
        help="train a classifier on the library's labeled images",
        description="Train a model on the human-labeled images of the library. The default, "
        "quick mode, freezes a pretrained backbone and trains only its last layer on cached "
        "features (seconds); --mode full trains every layer (minutes).",
    )
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
    p.add_argument("--mode", choices=["quick", "full"], default="quick")
    p.add_argument(
        "--epochs",
        type=cli_args.whole("epochs", 1, 10_000),
        metavar="N",
        help="1..10000 (default: 60 quick, 8 full, 30 scratch)",
    )
    p.add_argument(
        "--image-size",
        type=cli_args.whole("image size", 32, 1024),
        metavar="N",
        help="32..1024 pixels (default: the backbone's own)",
    )
    p.add_argument("--batch-size", type=cli_args.whole("batch size", 1, 4096), metavar="N")
    p.add_argument(
        "--lr",
        type=cli_args.number("lr", above=0, high=10),
        metavar="X",
        help="peak learning rate (above 0, at most 10)",
    )
    p.add_argument("--augment", choices=AUGMENT_PRESETS, default=TrainConfig().augment)
    p.add_argument("--device", choices=["cuda", "mps", "cpu"], help="default: the best there is")
    p.add_argument(
        "--threads",
        type=cli_args.whole("threads", 1, 1024),
        metavar="N",
        help="CPU threads (default: all cores but one)",
    )
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16", "fp16"],
        help="full mode's training arithmetic (default: AMP on CUDA; on a CPU the faster of"
        " fp32 and bf16, measured on the first steps)",
    )
    p.add_argument(
        "--out",
        type=cli_args.folder("--out"),
        metavar="DIR",
        help="the model folder (default: a new one)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--json", action="store_true", help="end with one JSON line on stdout")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", help="list the training runs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "evaluate",
        help="how good a model is: accuracy on which images, how many, with its interval",
        description="Print a model's evaluation as the Evaluate pane shows it: the accuracy, the"
        " images it rests on and their number, its 95 %% (Wilson) interval, per-class recall"
        " with intervals, cross-validation (quick mode) and the calibration error before and"
        " after temperature scaling.",
    )
    p.add_argument("model", metavar="MODEL", help="a model folder")
    _add_target_precision_option(p, "the model answers 'unknown': show that threshold's coverage")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)


EXTRA_COMMANDS.append(_add_training_commands)


# ------------------------------------------------------------------- explanation and audit


def cmd_explain(args: argparse.Namespace) -> int:
    from cnndesk.ml.gradcam import write_explanations

    written = run_job(
        write_explanations(
            args.model, args.images, args.out, class_name=args.class_name, top=args.top,
            force=args.force,
        ),
        label="Explaining",
    )  # fmt: skip
    if args.json:
        _print_json(
            [
                {"image": w.image, "class": w.class_name, "probability": w.probability,
                 "overlay": w.overlay, "map": w.raw}
                for w in written
            ]
        )  # fmt: skip
        return 0
    from cnndesk.outputs import printable

    for w in written:
        print(f"{printable(w.overlay)}  ({printable(w.class_name)} {w.probability:.0%})")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from cnndesk.health import audit_job
    from cnndesk.outputs import printable

    with _open_library(args) as library:
        report = _run_phases(
            audit_job(library, model_dir=args.model, duplicate_threshold=args.threshold),
            {},
        )
    if args.json:
        _print_json(report.as_json())
        return 0
    cv = f", out-of-fold accuracy {report.cv_accuracy:.1%}" if report.cv_accuracy else ""
    print(
        f"Audited {report.images} images ({report.labeled} labeled) with"
        f" {printable(report.model_path)}{cv} in {report.seconds:.1f} s."
    )
    print(f"Likely label errors: {len(report.label_issues)} (worst first)")
    for f in report.label_issues[: args.limit]:
        print(
            f"  {f.score:.2f}  {printable(f.file)}  labeled {printable(f.label)},"
            f" looks like {printable(f.suggested)}"
        )
    leaks = sum(1 for d in report.near_duplicates if d.leaks)
    print(f"Near-duplicate groups: {len(report.near_duplicates)} ({leaks} across splits)")
    for d in report.near_duplicates[: args.limit]:
        where = "/".join(sorted(set(d.splits)))
        print(f"  {d.similarity:.3f}  {where:<14} " + "  ".join(printable(p) for p in d.files))
    print(f"Outliers and odd images: {len(report.outliers)}")
    for o in report.outliers[: args.limit]:
        print(f"  {printable(o.file)}: {o.reason}")
    for b in report.class_balance:
        print(f"Class {printable(b.class_name)!r}: {b.reason}")
    return 0


def _add_health_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="Grad-CAM heat maps: where a model saw the evidence for a class",
        description="Write <stem>.<class>.png (the heat map over the image) and <stem>.<class>.npy"
        " (the raw map, 0-1) for each image: the top class, or --class. Files explain did not"
        " write are never replaced without --force.",
    )
    p.add_argument("model", metavar="MODEL", help="a model folder")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--class", dest="class_name", metavar="C", help="a class name or index")
    p.add_argument(
        "--top",
        type=cli_args.whole("top", 1, 1000),
        default=1,
        metavar="N",
        help="maps for the N top classes",
    )
    p.add_argument("--out", required=True, type=cli_args.folder("--out"), metavar="DIR")
    p.add_argument("--force", action="store_true", help="replace files explain did not write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "audit",
        help="data health: likely label errors, near-duplicates and leakage, outliers",
        description="Audit the library with the newest model's backbone (or --model): likely"
        " label errors by confident learning on cross-validated predictions, near-duplicate"
        " groups (and whether they straddle train/val/test), outliers and odd images, and"
        " classes with too few images.",
    )
    p.add_argument("--model", metavar="DIR", help="default: the newest trained model")
    p.add_argument(
        "--threshold",
        type=cli_args.probability("threshold"),
        metavar="X",
        help="duplicate cosine similarity (0..1)",
    )
    p.add_argument(
        "--limit",
        type=cli_args.whole("limit", 1, 100_000),
        default=10,
        metavar="N",
        help="findings shown per kind",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)


EXTRA_COMMANDS.append(_add_health_commands)
