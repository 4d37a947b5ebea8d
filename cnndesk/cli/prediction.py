"""Prediction commands: ``predict``, ``sort`` (and its undo), ``suggest``, ``export``, ``evaluate``.

Each takes a model folder; the jobs (and with them torch) are imported when a command runs.
Multi-phase jobs (classify, then sort) draw one progress bar per phase.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

from cnndesk import heldout, paths
from cnndesk.cli.args import (
    add_force_option,
    add_images_argument,
    add_json_option,
    add_model_argument,
    add_out_option,
    add_precision_option,
    add_probability_option,
    add_target_precision_option,
    command,
    open_library,
)
from cnndesk.cli.progress import run_job
from cnndesk.cli.terminal import print_json, printable, record_json, shown
from cnndesk.export_formats import EXPORT_FORMATS


def _phase_labels() -> dict[type, str]:
    from cnndesk.domain import ClassifyProgress, ExportProgress, SortProgress, SuggestProgress

    return {
        ClassifyProgress: "Classifying",
        SortProgress: "Sorting",
        SuggestProgress: "Suggesting",
        ExportProgress: "Exporting",
    }


def target_line(found: Any, target: float) -> str:
    return (
        f"Answering 'unknown' below {found.threshold:.1%} confidence: right {found.precision:.1%}"
        f" of the time (target {target:.0%}) on {found.images} held-out images, answering"
        f" {found.coverage:.1%} of them."
    )


def cmd_predict(args: argparse.Namespace) -> int:
    """every class's probability for some images"""
    from cnndesk.jobs import predict_job, target_threshold

    found = None
    if args.target_precision is not None:
        found = target_threshold(args.model, args.target_precision)
    result = run_job(
        predict_job(args.model, args.images, precision=args.precision), label=_phase_labels()
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
        print_json(rows)
        return 0 if not result.unreadable else 1
    if found is not None:
        print(target_line(found, args.target_precision))
    files = [shown(p.file) for p in result.predictions]  # a name's new line or CR made visible
    width = max([len(f) for f in files] + [4])
    cwidth = max([len(c) for c in result.classes] + [5])
    print(f"{'FILE':<{width}}  {'CLASS':<{cwidth}}  PROBABILITY")
    for file, p in zip(files, result.predictions):
        if p.error is not None:
            print(f"{file:<{width}}  cannot be read: {shown(p.error)}")
            continue
        if answer(p) == "unknown":
            print(f"{file:<{width}}  {'unknown':<{cwidth}}  (best guess below)")
        for rank, score in enumerate(p.top):
            name = file if rank == 0 and answer(p) != "unknown" else ""
            print(f"{name:<{width}}  {score.name:<{cwidth}}  {score.p:8.2%}")
    return 0 if not result.unreadable else 1


def cmd_sort(args: argparse.Namespace) -> int:
    """sort a folder of images into class folders (or undo a sort)

    Classify every image under SRC and copy (or move) it into DEST/<class>/. Images whose top
    probability is below the threshold go to DEST/_uncertain/. A report (CSV and JSON) is
    written into DEST; a sort can be undone as a whole.
    """
    from cnndesk.jobs import sort_job

    if args.undo is not None:
        return _undo_sort(args)
    if not (args.model and args.src and args.dest):
        args.sort_parser.error("give MODEL SRC DEST (or --undo DEST)")
    result = run_job(
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
        label=_phase_labels(),
    )
    failed = [f for f in result.files if f.status == "failed"]
    skipped = [f for f in result.files if f.status == "skipped"]
    if args.json:
        print_json(
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
            print(f"  {shown(f.source)}: {shown(f.error)}")
    for f in failed:
        print(f"  not sorted: {shown(f.source)}: {shown(f.error)}", file=sys.stderr)
    print(f"Report: {result.report_csv} (and {Path(result.report_json or '').name})")
    if not result.dry_run:
        print(f"Undo with: cnndesk sort --undo {result.dest}")
    return 0 if not failed else 1


def _undo_sort(args: argparse.Namespace) -> int:
    """``cnndesk sort --undo DEST``: put the last sort into DEST back."""
    from cnndesk.jobs import undo_sort_job

    if args.model or args.src or args.dest:
        args.sort_parser.error("--undo DEST takes no MODEL, SRC or DEST arguments")
    undone = run_job(undo_sort_job(args.undo), label=_phase_labels())
    if args.json:
        print_json(record_json(undone, names={"path": "file"}, drop={"seconds"}))
    else:
        print(
            f"Undid the last sort into {undone.dest}: {undone.restored} files put back, "
            f"{undone.removed} copies removed."
        )
        for item in (*undone.renamed, *undone.kept):
            print(f"  {shown(item.path)}: {shown(item.reason)}")
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    """store the model's guesses for unlabeled images as suggestions"""
    from cnndesk.jobs import suggest_job

    with open_library(args) as library:
        result = run_job(
            suggest_job(library, args.model, precision=args.precision), label=_phase_labels()
        )
        queue = library.unlabeled_queue(order="least_confident")
        names = {c.id: c.name for c in library.classes()}
    if args.json:
        print_json(
            {
                "suggested": result.suggested,
                "unreadable": [record_json(r, names={"path": "file"}) for r in result.unreadable],
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
        print(f"  cannot read {shown(r.path)}: {shown(r.reason)}")
    if queue:
        print("Least confident first (label these next):")
        for r in queue[:5]:
            if r.suggestion_confidence is not None:
                name = names.get(r.suggested_class_id or -1, "?")
                print(f"  {shown(r.path)}  {name} {r.suggestion_confidence:.0%}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """export a model in one of EXPORT_FORMATS, checked against PyTorch (help lists the formats)"""
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
    job = functools.partial(
        export_job,
        args.model,
        args.out,
        format=args.format,
        check_images=check,
        force=args.force,
        protected=protected,
    )
    if use_library and not check:  # check on the library's images
        with open_library(args) as library:
            result = run_job(job(library=library), label=_phase_labels())
    else:
        result = run_job(job(), label=_phase_labels())
    if args.json:
        print_json(result.as_json())
    else:
        print(f"Exported {args.format} to {result.file} (description: {result.sidecar})")
        print(
            "Largest probability difference from PyTorch on "
            f"{result.checked_on or f'{result.images_checked} images'}: "
            f"{result.max_abs_diff:.2e}"
        )
    return 0


def evaluation_lines(evaluation: Any, *, per_class: bool = True) -> list[str]:
    """What the Evaluate pane shows, as lines: the headline with n and its interval, the
    small-sample warning, cross-validation, calibration, and per class recall with intervals."""
    lines = [f"Accuracy: {evaluation.headline}"]
    if evaluation.warning:
        lines.append(f"Warning: {evaluation.warning}")
    if evaluation.cv_accuracy is not None:
        correct = round(evaluation.cv_accuracy * evaluation.cv_images)
        lines.append(
            "5-fold cross-validation: "
            + heldout.headline(correct, evaluation.cv_images, "labeled")  # the prefix says how
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
                f"  {printable(m.name):<{width}}  recall {m.recall:6.1%} [{lo:.1%}–{hi:.1%}]"
                f"  precision {m.precision:6.1%}  images {m.support}"
            )
    return lines


def cmd_evaluate(args: argparse.Namespace) -> int:
    """how good a model is: accuracy on which images, how many, with its interval

    Print a model's evaluation as the Evaluate pane shows it: the accuracy, the images it rests
    on and their number, its 95 % (Wilson) interval, per-class recall with intervals,
    cross-validation (quick mode) and the calibration error before and after temperature
    scaling.
    """
    from cnndesk.domain import ModelError
    from cnndesk.jobs import target_threshold
    from cnndesk.model_folder import read_evaluation, read_model_info

    folder = Path(args.model)
    read_model_info(folder)  # a tampered or damaged description is refused with its reason
    # A damaged or edited evaluation.json is refused with what is wrong, never shown as true.
    evaluation = read_evaluation(folder)
    if evaluation is None:
        raise ModelError(
            f"{folder} has no evaluation (it was saved before training ended, or by an older"
            " cnndesk); train again to measure it"
        )
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
        print_json(data)
        return 0
    for line in evaluation_lines(evaluation):
        print(line)
    if found is not None:
        print(target_line(found, args.target_precision))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the prediction commands to the ``cnndesk`` parser."""
    p = command(sub, "predict", cmd_predict)
    add_model_argument(p)
    add_images_argument(
        p, "image files (not folders); one that cannot be read is listed and the exit status is 1"
    )
    add_json_option(p)
    add_target_precision_option(p, "answer 'unknown'")
    add_precision_option(p)

    p = command(sub, "sort", cmd_sort)
    p.set_defaults(sort_parser=p)
    add_model_argument(p, optional="with --undo")
    p.add_argument("src", nargs="?", metavar="SRC", help="the folder of images to sort")
    p.add_argument("dest", nargs="?", metavar="DEST", help="where the class folders go")
    p.add_argument("--move", action="store_true", help="move instead of copy")
    add_probability_option(
        p,
        "--threshold",
        default=0.0,
        metavar="T",
        help="images whose top probability is below T go to _uncertain (0..1; default 0)",
    )
    add_target_precision_option(p, "send the image to _uncertain (replaces --threshold)")
    p.add_argument("--dry-run", action="store_true", help="only write the report")
    p.add_argument("--undo", metavar="DEST", help="undo the last sort into DEST")
    add_json_option(p)
    add_precision_option(p)

    p = command(sub, "suggest", cmd_suggest)
    add_model_argument(p)
    add_json_option(p)
    add_precision_option(p)

    formats = list(EXPORT_FORMATS)
    listed = f"{', '.join(formats[:-1])} or {formats[-1]}"
    p = command(sub, "export", cmd_export, help=f"export a model ({listed}), checked after")
    add_model_argument(p)
    p.add_argument(
        "--format",
        choices=formats,
        required=True,
        help=", ".join(f"{f.name} ({f.description})" for f in EXPORT_FORMATS.values()),
    )
    add_out_option(
        p,
        "file",
        required=True,
        help=f"the file to write ({', '.join('model' + f.suffix for f in EXPORT_FORMATS.values())}"
        "), and FILE.json beside it (the classes and preprocessing)",
    )
    add_force_option(
        p,
        "replace FILE even if cnndesk did not write it (never a model's own files or the library)",
    )
    p.add_argument(
        "--check-images",
        nargs="+",
        default=[],
        metavar="PATH",
        help="images or folders to compare the export with PyTorch on "
        "(default: the library's images, else generated ones)",
    )
    add_json_option(p)

    p = command(sub, "evaluate", cmd_evaluate)
    add_model_argument(p)
    add_target_precision_option(p, "the model answers 'unknown': show that threshold's coverage")
    add_json_option(p)
