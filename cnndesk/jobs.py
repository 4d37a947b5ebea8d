"""Jobs: the long operations the GUI and the CLI run, where the library and the models meet.

Each job is a generator (DESIGN §2): it yields progress events from :mod:`cnndesk.domain` at least
once per batch and returns its result. The GUI runs it on a worker thread, the CLI with a
progress bar, a script or a test with :func:`drive`. Cancel by calling ``close()``: the job
cleans up in ``finally`` and keeps whatever is already safe.

``cnndesk.ml`` (and with it torch) is imported inside the jobs that need it, never at module
level: opening the window must not wait for torch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from cnndesk import filesort
from cnndesk.domain import (
    BatchProgress,
    CheckResult,
    ClassifyProgress,
    ClassifyResult,
    DatasetError,
    EpochEnd,
    ExportProgress,
    ExportResult,
    ImageQuery,
    ImageStatus,
    ImportProgress,
    ImportResult,
    ModelError,
    OutputError,
    Progress,
    RefusedFile,
    SamplePrediction,
    SortedFile,
    SortError,
    SortProgress,
    SortResult,
    SuggestResult,
    TrainConfig,
    TrainPhase,
    TrainResult,
    UndoResult,
)
from cnndesk.library import Library, export_labels, import_paths
from cnndesk.library.export import LabelsExport
from cnndesk.outputs import library_files, printable

T = TypeVar("T")

# ------------------------------------------------------------------------------------ driver


def drive(job: Generator[Any, None, T], on_event: Callable[[Any], None]) -> T:
    """Run ``job`` to completion, calling ``on_event`` with each event; return its result.

    Ctrl+C (:class:`KeyboardInterrupt`, in the job or in ``on_event``) closes the job, so its
    ``finally`` cleans up, and reaches the caller.
    """
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as stop:
                return stop.value
            on_event(event)
    except KeyboardInterrupt:
        job.close()
        raise


# ------------------------------------------------------------------------------------ import


def import_job(
    library: Library, paths: Iterable[str | Path], *, classes_from_folders: bool = False
) -> Generator[ImportProgress, None, ImportResult]:
    """Import files and folders into the library (see :func:`cnndesk.library.import_paths`)."""
    return (yield from import_paths(library, paths, classes_from_folders=classes_from_folders))


def check_job(library: Library, *, verify: bool = False) -> Generator[Progress, None, CheckResult]:
    """Re-read every image's file: missing, changed, unreadable, readable again (``cnndesk check``).

    Files whose size and mtime are unchanged are trusted unread, unless ``verify``
    (``cnndesk check --verify``): then every file is read and re-hashed (sha256).
    """
    return (yield from library.check(verify=verify))


def export_labels_job(
    library: Library, out: str | Path, *, format: str = "csv", force: bool = False
) -> Generator[Progress, None, LabelsExport]:
    """Write the library's labels as a CSV or an ImageFolder tree (see :mod:`cnndesk.outputs`);
    returns where, and the photos left out because they could not be read."""
    return (yield from export_labels(library, out, format=format, force=force))


# ---------------------------------------------------------------------- prediction and sorting


def predict_job(
    model_dir: str | Path,
    paths: Sequence[str | Path],
    *,
    batch_size: int | None = None,
    request_id: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> Generator[ClassifyProgress, None, ClassifyResult]:
    """Every class's probability for each file, in the order given (unreadable files: ``error``).

    ``precision`` is ``fp32`` (the default on a CPU), ``bf16`` or ``fp16``; see
    :class:`cnndesk.ml.predict.Predictor`.
    """
    from cnndesk.ml.predict import Predictor

    predictor = Predictor(model_dir, device=device, precision=precision)
    return (yield from predictor.classify(paths, batch_size=batch_size, request_id=request_id))


def classify_folder_job(
    model_dir: str | Path,
    folder: str | Path,
    *,
    report_dir: str | Path | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> Generator[ClassifyProgress, None, ClassifyResult]:
    """Classify every image under ``folder``; with ``report_dir``, write the CSV/JSON report there."""
    files = filesort.image_files(folder)
    result = yield from predict_job(
        model_dir, files, batch_size=batch_size, device=device, precision=precision
    )
    if report_dir is not None:
        csv_path, json_path = filesort.write_report(
            result.predictions, classes=result.classes, folder=report_dir
        )
        result = replace(result, report_csv=str(csv_path), report_json=str(json_path))
    return result


def target_threshold(model_dir: str | Path, target: float) -> Any:
    """The "unknown" threshold at which ``model_dir`` is right ``target`` of the time.

    Chosen on the held-out predictions the model folder keeps (calibrated confidence; see
    :func:`cnndesk.ml.calibration.precision_threshold`); returns a ``PrecisionThreshold``
    (``threshold``, ``precision``, ``coverage``, ``images``). Raises
    :class:`~cnndesk.domain.ModelError` when no threshold reaches ``target``.
    """
    from cnndesk.ml.calibration import threshold_for
    from cnndesk.ml.model_io import read_info

    found = threshold_for(read_info(Path(model_dir)), target)
    if found.threshold is None:
        raise ModelError(
            f"No threshold makes this model right {target:.0%} of the time on its"
            f" {found.images} held-out images (at best {found.precision:.1%}); lower the target"
            " precision, or label more images and train again."
        )
    return found


def sort_job(
    model_dir: str | Path,
    src: str | Path,
    dest: str | Path,
    *,
    move: bool = False,
    threshold: float = 0.0,
    target_precision: float | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> Generator[Progress, None, SortResult]:
    """Classify every image under ``src`` and copy (or move) it into ``dest/<class>/``.

    Images whose top (calibrated) probability is below ``threshold`` go to
    ``dest/_uncertain/``; with ``target_precision`` the threshold is the one at which the model
    is right that often on its held-out images (:func:`target_threshold`), replacing
    ``threshold``. Unreadable files stay where they are. Yields :class:`ClassifyProgress`, then :class:`SortProgress`
    events. The report (CSV and JSON, one row per file with every class's probability and where
    the file went) is written into ``dest``, in a dry run too (it is all a dry run writes).
    A sort is undone with :func:`undo_sort_job`. Cancelling while classifying writes nothing;
    while sorting, the files sorted so far stay sorted (and undoable).
    """
    if target_precision is not None:
        threshold = target_threshold(model_dir, target_precision).threshold
    if not 0.0 <= threshold <= 1.0:
        raise SortError(f"The threshold must be between 0 and 1 (got {threshold}).")
    source, target = Path(src).absolute(), Path(dest).absolute()
    if source.is_dir() and source.resolve().is_relative_to(target.resolve()):
        raise SortError(f"The destination {target} contains the source {source}; pick another.")
    files = filesort.image_files(source, exclude=[target])
    if not files:
        kinds = ", ".join(sorted(e.lstrip(".") for e in filesort.IMAGE_EXTENSIONS))
        raise SortError(f"There are no images under {source} (looked for {kinds}).")
    classified = yield from predict_job(
        model_dir, files, batch_size=batch_size, device=device, precision=precision
    )
    readable = [p for p in classified.predictions if p.error is None]
    decisions = [(p.file, p.label if p.confidence >= threshold else None) for p in readable]
    result = yield from filesort.sort_files(
        decisions,
        target,
        classes=classified.classes,
        move=move,
        dry_run=dry_run,
        sources=[source],  # undo puts files back only under SRC
    )
    skipped = tuple(
        SortedFile(str(Path(p.file).absolute()), None, None, None, "skipped", p.error)
        for p in classified.unreadable
    )
    files_out = result.files + skipped
    try:
        csv_path, json_path = filesort.write_report(
            classified.predictions,
            classes=classified.classes,
            folder=target,
            sorted_files=files_out,
            threshold=threshold,
        )
    except OutputError as exc:
        if dry_run:
            raise
        # Not the write's own advice ("... try again"): sorting again would sort the sorted files.
        why = str(exc).split(". Nothing was replaced", 1)[0].rstrip(".")
        raise SortError(
            f"The files were sorted into {printable(target)}, but no report was written ({why}); "
            f"the sort stands. To put the files back: cnndesk sort --undo {printable(target)}"
        ) from exc
    if result.journal is not None:  # undo removes the report too, while it is unchanged
        filesort.record_report(Path(result.journal), [csv_path, json_path])
    return replace(
        result,
        files=files_out,
        threshold=threshold,
        report_csv=str(csv_path),
        report_json=str(json_path),
        seconds=result.seconds + classified.seconds,
    )


def undo_sort_job(dest: str | Path) -> Generator[SortProgress, None, UndoResult]:
    """Undo the latest sort into ``dest`` (see :func:`cnndesk.filesort.undo_sort`).

    :func:`sort_job` records its report in the sort's journal, so undo removes the report too
    while it is unchanged.
    """
    return (yield from filesort.undo_sort(dest))


def suggest_job(
    library: Library,
    model_dir: str | Path,
    *,
    batch_size: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> Generator[ClassifyProgress, None, SuggestResult]:
    """Store the model's prediction for each unlabeled image as a suggestion (source ``model``).

    Human labels are never touched (the library keeps suggestions apart from them); the
    unlabeled queue can then be ordered least confident first
    (``library.unlabeled_queue(order="least_confident")``). Cancelling stores nothing.
    """
    started = time.perf_counter()
    records = [r for r in library.unlabeled_images() if r.status == ImageStatus.OK]
    classified = yield from predict_job(
        model_dir,
        [r.path for r in records],
        batch_size=batch_size,
        device=device,
        precision=precision,
    )
    rows: list[tuple[int, str, float]] = []
    unreadable: list[RefusedFile] = []
    for record, prediction in zip(records, classified.predictions):
        if prediction.error is None and prediction.label is not None:
            rows.append((record.id, prediction.label, prediction.confidence))
        else:
            unreadable.append(RefusedFile(record.path, prediction.error or "no prediction"))
    stored = library.set_suggestions(rows)
    return SuggestResult(
        suggested=stored,
        unreadable=tuple(unreadable),
        classes=classified.classes,
        seconds=time.perf_counter() - started,
    )


def export_job(
    model_dir: str | Path,
    out: str | Path,
    *,
    format: str = "onnx",
    library: Library | None = None,
    check_images: Sequence[str | Path] = (),
    max_check_images: int = 16,
    force: bool = False,
    protected: Sequence[str | Path] = (),
) -> Generator[ExportProgress, None, ExportResult]:
    """Export a model to ONNX or TorchScript, then check it against PyTorch on real images.

    The check uses ``check_images`` if given, else up to ``max_check_images`` readable images of
    ``library``, else generated images. Fails with :class:`~cnndesk.domain.ModelError` when a
    probability differs by more than 1e-3. ``out`` never replaces the model's own files, the
    library's files or ``protected``; other existing files only with ``force`` (see
    :mod:`cnndesk.outputs`).
    """
    from cnndesk.ml.export import export_model

    images = [Path(p) for p in check_images]
    if not images and library is not None:
        query = ImageQuery(limit=max_check_images * 2)
        images = [Path(r.path) for r in library.images(query) if r.status == ImageStatus.OK]
    return (
        yield from export_model(
            model_dir,
            out,
            format=format,
            check_images=images[:max_check_images],
            force=force,
            protected=[
                *protected,
                *library_files(library.path if library is not None else None),
            ],
        )
    )


# ------------------------------------------------------------------------------------ training


def train_job(
    library: Library, config: TrainConfig
) -> Generator[Progress | EpochEnd, None, TrainResult]:
    """Train a model on the library's labeled images; record the run and its evaluation.

    Re-yields the training events of :func:`cnndesk.ml.train.train`. The run is recorded with
    ``create_run`` before training starts and closed with ``finish_run`` (status ``done``,
    ``cancelled`` or ``failed``) whatever happens; a cancelled run keeps the best model so far.

    The model's calibrated view of every library image goes into the library right away: its
    predictions (``store_predictions``; labeled images with their true class and loss, in quick
    mode from their out-of-fold prediction) and, as suggestions, its class for every image, so
    the Predicted, Misclassified and Low-confidence filters and the viewer's "model says" need
    no Suggest step. A stopped run stores its evaluation's predictions only.
    """
    from cnndesk.ml.model_io import read_info
    from cnndesk.ml.train import new_model_folder, train

    if config.out is not None:  # one folder for the check and the training: ~ expanded once
        config = replace(config, out=os.path.expanduser(config.out))
        _check_model_out(Path(config.out))
    yield from _check_training_files(library)
    data = library.training_set()
    if config.out is None:
        config = replace(config, out=str(new_model_folder(config.backbone)))
    splits = (("train", data.train), ("val", data.val), ("test", data.test))
    dataset = [
        {"key": s.key, "image_id": s.image_id, "class": data.classes[s.label], "split": split}
        for split, samples in splits
        for s in samples
    ]
    run_id = library.create_run(config.as_json(), dataset=dataset)
    status, result = "failed", None
    try:
        result = yield from train(data, config)
        status = "cancelled" if result.cancelled else "done"
    except GeneratorExit:
        status = "cancelled"
        raise
    finally:
        folder = Path(config.out)
        saved = (folder / "model.json").is_file()
        if result is not None:
            metrics = result.as_json()
        elif saved:
            metrics = read_info(folder).get("metrics", {})
        else:
            metrics = {}
        library.finish_run(
            run_id, status=status, metrics=metrics, model_path=str(folder) if saved else None
        )
    if result.unreadable:
        # Re-read what failed: a file that is gone is missing, one that changed is re-hashed
        # (and trains under its new key next time), one that is the same but does not decode
        # is unreadable. None of it is final: the next check or import reads the file again.
        broken = {r.path for r in result.unreadable}
        samples = (*data.train, *data.val, *data.test)
        ids = [s.image_id for s in samples if s.path in broken and s.image_id is not None]
        for _event in library.check(ids, failed=ids):
            pass
    if result.model_path is not None and (result.library_predictions or result.evaluation):
        predictions = result.library_predictions or (
            result.evaluation.predictions if result.evaluation else ()
        )
        rows = _prediction_rows(result.classes, predictions)
        library.store_predictions(model_path=result.model_path, run_id=run_id, rows=rows)
        if result.library_predictions:
            library.set_suggestions((r["image_id"], r["class"], r["confidence"]) for r in rows)
    return replace(result, run_id=run_id)


_MODEL_FILES = ("model.json", "weights.safetensors", "evaluation.json")


def _check_model_out(folder: Path) -> None:
    """Refuse an ``--out`` folder that already holds a model's files (another run's or not).

    Training writes these names; replacing them would overwrite a file this run did not write
    and leave an earlier run pointing at a model that is no longer the one it measured.
    """
    there = [name for name in _MODEL_FILES if os.path.lexists(folder / name)]
    if there:
        raise OutputError(
            f"{printable(folder)} already holds {', '.join(there)}; training never replaces "
            "them: choose a new or empty folder for --out (or leave it out for a new one)"
        )


def _check_training_files(library: Library) -> Generator[BatchProgress, None, None]:
    """Re-read the status of every labeled image's file; refuse to train on none of them.

    Cheap for files that did not change (one ``stat`` each). Gives edited files their new
    content hash, so quick mode's feature cache and the pixel cache compute them again.
    """
    check = library.check(library.labeled_image_ids())
    while True:
        try:
            event = next(check)
        except StopIteration:
            break
        yield BatchProgress(event.done, event.total, event.message, phase=TrainPhase.PREPARING)
    counts = library.labeled_status_counts()
    labeled = sum(counts.values())
    if labeled and not counts.get(ImageStatus.OK.value):
        why = ", ".join(
            f"{n} {status}"
            for status, n in sorted(counts.items())
            if status != ImageStatus.OK.value
        )
        raise DatasetError(
            f"none of the {labeled} labeled images can be read: {why}; "
            "run `cnndesk check` to list them (or import their new folder)"
        )


def _prediction_rows(classes: Sequence[str], predictions: Iterable[SamplePrediction]) -> list[dict]:
    """Library prediction rows; labeled images (``label`` >= 0) carry true class and loss."""
    return [
        {
            "image_id": p.image_id,
            "class": classes[p.predicted],
            "confidence": p.probabilities[p.predicted],
            "probabilities": dict(zip(classes, p.probabilities)),
            "true_class": classes[p.label] if p.label >= 0 else None,
            "loss": p.loss if p.label >= 0 else None,
        }
        for p in predictions
        if p.image_id is not None
    ]
