"""Library commands: ``import``, ``check``, ``stats``, ``classes``, ``label``, ``export-labels``.

Each opens the library that ``--library`` names, changes or reads it through
:class:`cnndesk.library.Library` (imported lazily) and prints what happened.
"""

from __future__ import annotations

import argparse
import sys

from cnndesk.cli.args import (
    add_force_option,
    add_images_argument,
    add_json_option,
    command,
    open_library,
)
from cnndesk.cli.progress import run_job
from cnndesk.cli.terminal import confirm, plural, print_json, record_json, shown


def cmd_import(args: argparse.Namespace) -> int:
    """import image files and folders"""
    from cnndesk.jobs import import_job

    with open_library(args) as library:
        result = run_job(
            import_job(library, args.paths, classes_from_folders=args.classes_from_folders),
            label="Importing",
        )
        stats = library.stats()
    if args.json:
        print_json(
            record_json(
                result,
                names={"path": "file"},
                drop={"added_ids"},
                seconds=round(result.seconds, 3),
                library=stats.as_json(),
            )
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
            f"Added {plural(result.added, 'image')}, {result.duplicates} duplicates skipped, "
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
        print(f"The library now has {plural(stats.images, 'image')}, {stats.unlabeled} unlabeled.")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """re-read every image's file: missing, changed, unreadable, readable again

    Fast and stat-based: a file whose size and modification time are unchanged is trusted
    without being read. --verify reads and re-hashes (sha256) every file, so content rewritten
    in place with its size and time kept is found too; it reads every byte of the library.
    """
    from cnndesk.jobs import check_job

    with open_library(args) as library:
        result = run_job(
            check_job(library, verify=args.verify),
            label="Verifying" if args.verify else "Checking",
        )
    if args.json:
        print_json({**result.as_json(), "verified": result.ok} if args.verify else result.as_json())
        return 0
    if args.verify:
        print(
            f"Verified {result.ok} of {plural(result.checked, 'image')} byte by byte (sha256): "
            f"{result.changed} with changed content (label kept, check it), "
            f"{result.missing} missing, {result.unreadable} unreadable, "
            f"{result.restored} readable again."
        )
    else:
        print(
            f"Checked {plural(result.checked, 'image')}: {result.ok} readable, "
            f"{result.missing} missing, {result.unreadable} unreadable, "
            f"{result.changed} changed (label kept, check it), {result.restored} readable again."
        )
    for problem in result.problems[:50]:
        print(f"  {shown(problem.path)}: {problem.reason}")
    if len(result.problems) > 50:
        print(f"  … and {len(result.problems) - 50} more (--json lists every one)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """counts of images, labels and splits"""
    with open_library(args) as library:
        stats = library.stats()
    if args.json:
        print_json(stats.as_json())
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
    """list, add, rename or remove classes"""
    with open_library(args) as library:
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
                and not confirm(f"Remove {info.name!r}? Its {info.count} images become unlabeled.")
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
        names = {"hotkey": "key", "order": "position"}
        print_json([record_json(c, names=names, drop={"id"}) for c in classes])
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
    """label images (by file path) or clear their labels"""
    if args.clear == (args.class_name is not None):
        print("cnndesk label: give exactly one of --class NAME or --clear", file=sys.stderr)
        return 2
    with open_library(args) as library:
        count, missing = library.label_files(args.files, None if args.clear else args.class_name)
        elsewhere = library.held_elsewhere(missing)
    verb = "Cleared the labels of" if args.clear else f"Labeled {args.class_name!r}:"
    print(f"{verb} {count} images.")
    for path in missing:
        if path in elsewhere:  # importing this copy would be refused as a duplicate
            print(
                f"  not labeled: {shown(path)} is the same photo as {shown(elsewhere[path])}, "
                "which is in the library; label that path instead",
                file=sys.stderr,
            )
        else:
            print(f"  not in the library (import it first): {shown(path)}", file=sys.stderr)
    return 0 if not missing else 1


def cmd_export_labels(args: argparse.Namespace) -> int:
    """write the labels as CSV or an ImageFolder tree"""
    from cnndesk.jobs import export_labels_job

    with open_library(args) as library:
        result = run_job(
            export_labels_job(library, args.out, format=args.format, force=args.force),
            label="Exporting",
        )
    print(f"Wrote {shown(str(result.path))}")
    if result.left_out:  # each was named on a warning line as it was met
        what = plural(len(result.left_out), "photo")
        print(f"{what} left out (they could not be read; see above)", file=sys.stderr)
    return 0 if not result.left_out else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add the library commands to the ``cnndesk`` parser."""
    p = command(sub, "import", cmd_import)
    add_images_argument(p, "image files, and folders to search (hidden files skipped)", "PATH")
    p.add_argument(
        "--classes-from-folders",
        action="store_true",
        help="each image's folder is its class; train/val/test folders give the split",
    )
    add_json_option(p)

    p = command(sub, "check", cmd_check)
    p.add_argument(
        "--verify",
        action="store_true",
        help="read and re-hash every file, even one whose size and time are unchanged (slower)",
    )
    add_json_option(p)
    add_json_option(command(sub, "stats", cmd_stats))
    _add_classes_command(sub)

    p = command(sub, "label", cmd_label)
    add_images_argument(p, "imported image files (others are listed; exit status 1)", "FILE")
    p.add_argument(
        "--class", dest="class_name", metavar="NAME", help="the class to give them (it must exist)"
    )
    p.add_argument(
        "--clear", action="store_true", help="remove their labels instead (not with --class)"
    )

    p = command(sub, "export-labels", cmd_export_labels)
    p.add_argument(
        "out",
        metavar="OUT",
        help="the CSV file to write, or for imagefolder a new or empty folder",
    )
    p.add_argument(
        "--format",
        choices=["csv", "imagefolder"],
        default="csv",
        help="csv (the default): a row per labeled, readable image (path, class, split, sha256,"
        " width, height); imagefolder: copies of the images in OUT/SPLIT/CLASS/",
    )
    add_force_option(
        p,
        "csv: replace OUT even if cnndesk did not write it (never the library itself); an"
        " imagefolder export never writes into a folder that has files",
    )


def _add_classes_command(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "classes", cmd_classes, classes_action=None)
    add_json_option(p, "list the classes as one line of JSON on stdout instead of text")
    classes = p.add_subparsers(metavar="ACTION")
    q = classes.add_parser("add", help="add a class")
    q.add_argument(
        "name", metavar="NAME", help="its name, stored as typed (no tabs or other control codes)"
    )
    q.add_argument(
        "--key",
        help="a hotkey that labels with this class: one letter, the digit 0, a symbol or F1-F12"
        " (keys 1-9 always label the 1st-9th class)",
    )
    q.set_defaults(classes_action="add")
    q = classes.add_parser("rename", help="rename a class")
    q.add_argument("old", metavar="OLD", help="the class's name now")
    q.add_argument(
        "new", metavar="NEW", help="its new name (not another class's); its images keep the label"
    )
    q.set_defaults(classes_action="rename")
    q = classes.add_parser("remove", help="remove a class (its images become unlabeled)")
    q.add_argument("name", metavar="NAME", help="the class to remove")
    q.add_argument(
        "--yes",
        action="store_true",
        help="do not ask first (without it, a class that labels images is removed only when"
        " you answer yes on a terminal)",
    )
    q.set_defaults(classes_action="remove")
