"""Explanation and data-health commands: ``explain`` (Grad-CAM maps) and ``audit``."""

from __future__ import annotations

import argparse

from cnndesk.cli import args as cli_args
from cnndesk.cli.args import open_library
from cnndesk.cli.progress import run_job
from cnndesk.cli.terminal import print_json


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
        print_json(
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

    with open_library(args) as library:
        report = run_job(
            audit_job(library, model_dir=args.model, duplicate_threshold=args.threshold),
            label={},
        )
    if args.json:
        print_json(report.as_json())
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``explain`` and ``audit`` to the ``cnndesk`` parser."""
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
