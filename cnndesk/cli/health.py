"""Explanation and data-health commands: ``explain`` (Grad-CAM maps) and ``audit``."""

from __future__ import annotations

import argparse

from cnndesk.cli.args import (
    add_force_option,
    add_images_argument,
    add_json_option,
    add_model_argument,
    add_out_option,
    add_probability_option,
    add_whole_option,
    command,
    open_library,
)
from cnndesk.cli.progress import run_job
from cnndesk.cli.terminal import print_json, record_json


def cmd_explain(args: argparse.Namespace) -> int:
    """Grad-CAM heat maps: where a model saw the evidence for a class

    Write <stem>.<class>.png (the heat map over the image) and <stem>.<class>.npy (the raw map,
    0-1) for each image: the top class, or --class. Files explain did not write are never
    replaced without --force.
    """
    from cnndesk.ml.gradcam import write_explanations

    written = run_job(
        write_explanations(
            args.model, args.images, args.out, class_name=args.class_name, top=args.top,
            force=args.force,
        ),
        label="Explaining",
    )  # fmt: skip
    if args.json:
        print_json([record_json(w, names={"class_name": "class", "raw": "map"}) for w in written])
        return 0
    from cnndesk.outputs import printable

    for w in written:
        print(f"{printable(w.overlay)}  ({printable(w.class_name)} {w.probability:.0%})")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """data health: likely label errors, near-duplicates and leakage, outliers

    Audit the library with the newest model's backbone (or --model): likely label errors by
    confident learning on cross-validated predictions, near-duplicate groups (and whether they
    straddle train/val/test), outliers and odd images, and classes with too few images.
    """
    from cnndesk.health import audit_job, label_check_text
    from cnndesk.outputs import printable

    with open_library(args) as library:
        report = run_job(
            audit_job(library, model_dir=args.model, duplicate_threshold=args.threshold),
            label={},
        )
    if args.json:
        print_json(report.as_json())
        return 0
    print(
        f"Audited {report.images} images ({report.labeled} labeled) with"
        f" {printable(report.model_path)} in {report.seconds:.1f} s."
    )
    print(label_check_text(report))
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``explain`` and ``audit`` to the ``cnndesk`` parser."""
    p = command(sub, "explain", cmd_explain)
    add_model_argument(p)
    add_images_argument(p, "image files to explain (not folders)")
    p.add_argument("--class", dest="class_name", metavar="C", help="a class name or index")
    add_whole_option(p, "--top", 1, 1000, default=1, help="maps for the N top classes")
    add_out_option(
        p,
        "folder",
        required=True,
        help="the folder for the maps (made if missing); maps explain wrote there are replaced",
    )
    add_force_option(p, "replace files explain did not write")
    add_json_option(p)

    p = command(sub, "audit", cmd_audit)
    p.add_argument("--model", metavar="DIR", help="the model folder (default: the newest run's)")
    add_probability_option(
        p,
        "--threshold",
        metavar="X",
        help="images at least this alike (cosine similarity, 0..1; default 0.8) are"
        " near-duplicates",
    )
    add_whole_option(p, "--limit", 1, 100_000, default=10, help="findings shown per kind")
    add_json_option(p)
