"""The training engine: one generator, ``train(data, config)``, for both modes (quick and full).

It yields :class:`TrainStarted`, then :class:`BatchProgress` for every batch (phases
``preparing``, ``embedding``, ``training``, ``evaluating``) and :class:`EpochEnd` for every epoch,
and returns a :class:`TrainResult`. The model folder is written at the end; when the consumer
closes the generator (cancel) or an error stops it, the best model so far is still saved in a
``finally``.

- ``quick``: frozen backbone, features cached on disk (see ``data.FeatureStore``), a linear head
  trained on them and folded into the model's classifier.
- ``full``: a pretrained backbone first gets its head fitted the quick way (this is the head
  warm-up), then every layer trains at a lower learning rate; ``simple-cnn`` or a backbone without
  weights trains from scratch (:mod:`cnndesk.ml.full`). AdamW, warm-up + cosine, label
  smoothing, class weights, batched augmentation on cached pixels, channels_last, early stopping
  that restores the best epoch; on CUDA also AMP, and an out-of-memory error halves the batch and
  carries on.

Both modes run their epochs through the one loop, :func:`cnndesk.ml.loop.fit`; the best epoch is
the one with the highest validation accuracy, ties broken by the lowest validation loss.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnndesk import heldout, paths
from cnndesk.defaults import FULL_PRETRAINED_EPOCHS, FULL_SCRATCH_EPOCHS
from cnndesk.domain import (
    Calibration,
    CnndeskError,
    DatasetError,
    EpochEnd,
    Evaluation,
    Progress,
    RefusedFile,
    SamplePrediction,
    TrainConfig,
    TrainingSample,
    TrainingSet,
    TrainMode,
    TrainResult,
    TrainStarted,
)
from cnndesk.ml import backbones
from cnndesk.ml.calibration import calibrate
from cnndesk.ml.crossval import cross_validate
from cnndesk.ml.data import FeatureStore, PixelCache, featurizer_id, geometry
from cnndesk.ml.device import DeviceChoice, pick_device
from cnndesk.ml.evaluate import evaluation_from_logits
from cnndesk.ml.full import as_preparing, fine_tune, model_logits, read_pixels, require_readable
from cnndesk.ml.head import (
    QUICK_HEAD,
    HeadSettings,
    embed,
    fit_head,
    head_logits,
    install_head,
)
from cnndesk.ml.loop import snapshot
from cnndesk.ml.memory import training_memory
from cnndesk.ml.model_io import save_model
from cnndesk.ml.weights import create_backbone
from cnndesk.outputs import replacing

log = logging.getLogger(__name__)

Event = Progress | EpochEnd

QUICK = {name: getattr(QUICK_HEAD, name) for name in ("epochs", "batch_size", "lr", "patience")}
FULL_PRETRAINED = {"epochs": FULL_PRETRAINED_EPOCHS, "batch_size": 32, "lr": 5e-4, "patience": 3}
FULL_SCRATCH = {"epochs": FULL_SCRATCH_EPOCHS, "batch_size": 64, "lr": 2e-3, "patience": 8}


def _check(data: TrainingSet) -> None:
    if len(data.classes) < 2:
        raise DatasetError("training needs at least two classes with labeled images")
    present = {s.label for s in data.train}
    empty = [name for i, name in enumerate(data.classes) if i not in present]
    if empty:
        raise DatasetError(
            f"these classes have no training images: {', '.join(empty)}; label a few more"
        )


def _validation(data: TrainingSet) -> tuple[tuple[TrainingSample, ...], tuple[TrainingSample, ...]]:
    """(train, val); with no val split, every 5th training image (by key, per class) is held out."""
    if data.val or len(data.train) < 10:
        return data.train, data.val or data.train
    ordered = sorted(data.train, key=lambda s: (s.label, s.key))
    val = tuple(s for i, s in enumerate(ordered) if i % 5 == 4)
    held = {s.key for s in val}
    return tuple(s for s in data.train if s.key not in held), val


def _held_out(
    data: TrainingSet, val_set: tuple[TrainingSample, ...]
) -> tuple[str, tuple[TrainingSample, ...]]:
    """Which images the run is measured on (:func:`cnndesk.heldout.held_out`), and those images.

    ``val_set`` is :func:`_validation`'s; when it is the training set itself (too few images to
    hold any out), only a test split is held out, else the measure is on ``train`` and says so.
    """
    if val_set is data.train:
        return ("test", data.test) if data.test else ("train", val_set)
    on = heldout.held_out(
        heldout.class_counts([s.label for s in data.test]),
        heldout.class_counts([s.label for s in val_set]),
        classes=len(data.classes),
    )
    chosen = {"test": data.test, "test+val": (*val_set, *data.test), "val": val_set}
    return on, tuple(chosen.get(on, ()))


def _drain(gen: Generator[Any, None, Any]) -> Any:
    """Run a generator to its end without its events (inside a ``finally``, where nothing may
    be yielded)."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


@dataclass
class _Run:
    """State shared by the phases of one run, and what the ``finally`` needs to save."""

    data: TrainingSet
    config: TrainConfig
    choice: DeviceChoice
    model: torch.nn.Module
    data_config: dict[str, Any]
    folder: Path
    mode: TrainMode
    settings: dict[str, Any]
    weights_source: str
    started: float = field(default_factory=time.perf_counter)
    history: list[EpochEnd] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch: int = 0
    val_loss: float | None = None
    val_accuracy: float | None = None
    evaluation: Evaluation | None = None
    stats: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    """Images that could not be decoded (path → reason); the job marks them in the library."""
    saved: bool = False
    best_stage: str = "train"
    """``head`` when full mode's fine-tuning never beat the warm-up head."""
    held: tuple[str, tuple[TrainingSample, ...]] = ("", ())
    """What the run is measured on (see :func:`_held_out`)."""
    temperature: float = 1.0
    calibration: Calibration | None = None
    calibration_points: tuple[tuple[float, ...], tuple[int, ...]] = ((), ())
    """Calibrated confidence and 0/1 correctness of each held-out prediction the temperature
    was fitted on: ``Predictor`` picks "unknown" thresholds for a target precision from them."""
    library_predictions: tuple[SamplePrediction, ...] = ()

    def keep_best(
        self,
        epoch: int,
        val_loss: float | None,
        val_accuracy: float | None,
        *,
        stage: str,
        state: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Keep the model's state now (or ``state``, a CPU copy already made) as the best."""
        self.best_state = snapshot(self.model) if state is None else state
        self.best_epoch, self.val_loss, self.val_accuracy = epoch, val_loss, val_accuracy
        self.best_stage = stage

    def metrics(self, *, cancelled: bool) -> dict[str, Any]:
        test = self.evaluation if self.evaluation and self.evaluation.split == "test" else None
        return {
            "val_accuracy": self.val_accuracy,
            "val_loss": self.val_loss,
            "test_accuracy": test.accuracy if test else None,
            "evaluation_split": self.evaluation.split if self.evaluation else None,
            "evaluation_accuracy": self.evaluation.accuracy if self.evaluation else None,
            "evaluation": self.evaluation.summary() if self.evaluation else None,
            "temperature": self.temperature,
            "per_class": [
                {"name": c.name, "precision": c.precision, "recall": c.recall, "f1": c.f1,
                 "support": c.support}
                for c in (self.evaluation.per_class if self.evaluation else ())
            ],
            "best_epoch": self.best_epoch,
            "best_stage": self.best_stage,
            "epochs": sum(1 for e in self.history if e.stage == "train"),
            "seconds": round(time.perf_counter() - self.started, 3),
            "cancelled": cancelled,
            "history": [e.as_json() for e in self.history],
        }  # fmt: skip

    def save(self, *, cancelled: bool) -> Path | None:
        if self.best_state is None:
            return None
        if cancelled and self.evaluation is None and self.mode is TrainMode.FULL:
            # Stopped mid-training: measure the best epoch's model, as a finished run would be.
            try:
                _drain(_full_evaluation(self, batch_size=2 * self.settings["batch_size"]))
            except Exception as exc:  # the model itself must still be saved
                log.warning("could not evaluate the stopped run's best model: %s", exc)
        self.model.load_state_dict(self.best_state)
        confidence, correct = self.calibration_points
        splits = (("train", self.data.train), ("val", self.data.val), ("test", self.data.test))
        info = {
            "backbone": self.config.backbone,
            "classes": list(self.data.classes),
            "data_config": dict(self.data_config),
            "metrics": self.metrics(cancelled=cancelled),
            "training": {
                **self.config.as_json(),
                **self.settings,
                "mode": self.mode.value,
                "weights_source": self.weights_source,
            },
            "dataset": [
                {"key": s.key, "class": self.data.classes[s.label], "split": split}
                for split, samples in splits
                for s in samples
            ],
            "device": self.choice.description,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(),
            "temperature": self.temperature,
            "calibration": {
                **(self.calibration.as_json() if self.calibration else {"temperature": 1.0}),
                "confidence": [round(c, 6) for c in confidence],
                "correct": list(correct),
            },
        }
        save_model(self.folder, self.model, info)
        if self.evaluation is not None:
            text = json.dumps(self.evaluation.as_json(with_predictions=True), indent=1)
            try:  # a full disk here keeps the saved model (its predictions are in the library)
                with replacing(self.folder / "evaluation.json", encoding="utf-8") as handle:
                    handle.write(text)
            except (CnndeskError, OSError) as exc:
                log.warning("the model is saved without its evaluation.json (%s)", exc)
        self.saved = True
        return self.folder

    def result(self, folder: Path | None) -> TrainResult:
        """What :func:`train` returns, once the model is saved to ``folder`` (if it was)."""
        return TrainResult(
            model_path=str(folder) if folder else None,
            backbone=self.config.backbone,
            mode=self.mode.value,
            classes=tuple(self.data.classes),
            device=self.choice.description,
            epochs=sum(1 for e in self.history if e.stage == "train"),
            best_epoch=self.best_epoch,
            best_stage=self.best_stage,
            val_accuracy=self.val_accuracy,
            val_loss=self.val_loss,
            test_accuracy=(
                self.evaluation.accuracy
                if self.evaluation and self.evaluation.split == "test"
                else None
            ),
            seconds=time.perf_counter() - self.started,
            embedded=self.stats.get("embedded", 0),
            reused=self.stats.get("reused", 0),
            history=tuple(self.history),
            evaluation=self.evaluation,
            unreadable=tuple(RefusedFile(p, r) for p, r in self.unreadable.items()),
            library_predictions=self.library_predictions,
        )


def new_model_folder(backbone: str) -> Path:
    """A fresh folder name under ``paths.models_dir()`` for a model of ``backbone``."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = paths.models_dir() / f"{stamp}-{paths.safe_folder_name(backbone)}"
    folder, n = base, 2
    while folder.exists():
        folder, n = base.with_name(f"{base.name}-{n}"), n + 1
    return folder


def _resolved_data_config(model: torch.nn.Module, image_size: int | None) -> dict[str, Any]:
    from timm.data import resolve_model_data_config

    config = dict(resolve_model_data_config(model))
    if image_size:
        config["input_size"] = (3, image_size, image_size)
    config["input_size"] = tuple(config["input_size"])
    return config


def train(data: TrainingSet, config: TrainConfig) -> Generator[Event, None, TrainResult]:
    """Train a classifier on ``data`` as ``config`` says; yields events, returns the result.

    Training leaves a core free (:func:`~cnndesk.ml.device.pick_device`); torch's previous
    thread count comes back when it ends, however it ends, so prediction uses every core again.
    While it runs, freed activation memory stays in the process instead of going back to the
    system on every batch (:func:`~cnndesk.ml.memory.training_memory`).
    """
    threads = torch.get_num_threads()
    try:
        with training_memory():
            return (yield from _train(data, config))
    finally:
        torch.set_num_threads(threads)


def _train(data: TrainingSet, config: TrainConfig) -> Generator[Event, None, TrainResult]:
    _check(data)
    choice = pick_device(config.device, threads=config.threads)
    mode = TrainMode(config.mode)
    from_scratch = config.backbone == backbones.SIMPLE_CNN or not (
        config.pretrained or config.weights
    )
    if mode is TrainMode.QUICK and config.backbone == backbones.SIMPLE_CNN:
        log.info("simple-cnn has no pretrained features to freeze; training it fully")
        mode = TrainMode.FULL
    settings = _settings(config, mode, from_scratch=from_scratch)
    building = create_backbone(
        config.backbone,
        len(data.classes),
        pretrained=config.pretrained and not from_scratch,
        weights_file=config.weights,
        seed=config.seed,
    )
    backbone = yield from as_preparing(building, choice)
    model = backbone.model.to(choice.device).to(memory_format=torch.channels_last)
    data_config = _resolved_data_config(model, config.image_size)
    train_set, val_set = _validation(data)
    run = _Run(
        data=data,
        config=config,
        choice=choice,
        model=model,
        data_config=data_config,
        folder=Path(config.out) if config.out else new_model_folder(config.backbone),
        mode=mode,
        settings=settings,
        weights_source=backbone.source,
        held=_held_out(data, val_set),
    )
    yield TrainStarted(
        0,
        0,
        f"Training {config.backbone} ({mode.value}) on {choice.description}",
        device=choice.description,
        backbone=config.backbone,
        mode=mode.value,
        classes=tuple(data.classes),
        train_images=len(train_set),
        val_images=len(val_set),
        test_images=len(data.test),
        weights=backbone.source,
    )
    cancelled = True
    try:
        if mode is TrainMode.QUICK or backbone.pretrained:
            yield from _quick(run, backbone.weights_id, train_set, val_set, mode)
        if mode is TrainMode.FULL:
            yield from _full(run, train_set, val_set, pretrained=backbone.pretrained)
        cancelled = False
        folder = run.save(cancelled=False)
    finally:
        if cancelled and not run.saved:
            folder = run.save(cancelled=True)
            log.info("training stopped early; best model so far saved to %s", folder)
    if mode is TrainMode.FULL and folder is not None:
        # The model is saved; now its view of every library image (a stop here keeps it).
        yield from _full_library_predictions(run)
    return run.result(folder)


def _settings(config: TrainConfig, mode: TrainMode, *, from_scratch: bool) -> dict[str, Any]:
    """Epochs, batch size, learning rate and patience: the config's, else the mode's defaults."""
    defaults = (
        QUICK if mode is TrainMode.QUICK else FULL_SCRATCH if from_scratch else FULL_PRETRAINED
    )
    return {
        "epochs": config.epochs or defaults["epochs"],
        "batch_size": config.batch_size or defaults["batch_size"],
        "lr": config.lr or defaults["lr"],
        "patience": config.patience or defaults["patience"],
    }


def _quick(
    run: _Run,
    weights_id: str,
    train_set: Sequence[TrainingSample],
    val_set: Sequence[TrainingSample],
    mode: TrainMode,
) -> Generator[Event, None, None]:
    """Fit the head on cached features (full mode's warm-up); in quick mode also evaluate it,
    cross-validate it, calibrate it and predict every library image from the same features."""
    ident = featurizer_id(
        backbone=run.config.backbone, weights_id=weights_id, data_config=run.data_config
    )
    everything = [*train_set, *val_set]
    if mode is TrainMode.QUICK:
        everything += [*run.data.test, *run.data.unlabeled]
    features, failed = yield from embed(
        run.model,
        everything,
        store=FeatureStore(ident),
        pixels=PixelCache(geometry(run.data_config)),
        data_config=run.data_config,
        choice=run.choice,
        stats=run.stats,
    )
    for path, reason in failed:
        log.warning("skipped %s: %s", path, reason)
        run.unreadable[str(path)] = str(reason)
    usable = [s for s in train_set if s.key in features], [s for s in val_set if s.key in features]
    require_readable(run, usable[0], len(train_set))
    quick = mode is TrainMode.QUICK
    settings = _head_settings(run.config, run.settings if quick else QUICK)
    fit = yield from fit_head(
        features,
        *usable,
        n_classes=len(run.data.classes),
        settings=settings,
        device_description=run.choice.description,
        stage="train" if quick else "head",
    )
    run.history.extend(fit.history)
    install_head(run.model, fit)
    run.keep_best(fit.best_epoch, fit.val_loss, fit.val_accuracy, stage=fit.history[0].stage)
    if quick:
        _quick_evaluation(run, fit, features, settings)


def _head_settings(config: TrainConfig, settings: dict[str, Any]) -> HeadSettings:
    """The head's settings: ``settings``' epochs, batch size, lr and patience, and the config's
    weight decay, label smoothing and seed."""
    return HeadSettings(
        **{name: settings[name] for name in QUICK},
        weight_decay=config.weight_decay,
        label_smoothing=config.label_smoothing,
        seed=config.seed,
    )


def _features_logits(fit: Any, features: dict[str, np.ndarray], samples: Sequence[TrainingSample]):
    if not samples:
        return torch.empty(0, len(fit.bias))
    return head_logits(fit, torch.from_numpy(np.stack([features[s.key] for s in samples])).float())


def _quick_evaluation(
    run: _Run, fit: Any, features: dict[str, np.ndarray], settings: HeadSettings
) -> None:
    """Quick mode's measures, all from cached features (about a second for 400 images).

    5-fold cross-validation of the same head (fitted with the same ``settings``) over every
    labeled image gives each one an out-of-fold prediction; the temperature is fitted on those,
    the held-out evaluation (or, by the rule, the cross-validation itself) is reported
    calibrated, and every library image gets the model's view: labeled ones their out-of-fold
    prediction, unlabeled ones the head's.
    """
    data = run.data
    on, held = run.held
    held = tuple(s for s in held if s.key in features)
    labeled = sorted(
        {s.key: s for s in (*data.train, *data.val, *data.test) if s.key in features}.values(),
        key=lambda s: s.key,
    )
    labels = np.array([s.label for s in labeled], dtype=np.int64)
    cv = None
    if len(labeled) >= 2:
        cv = cross_validate(
            np.stack([features[s.key] for s in labeled]),
            labels,
            n_classes=len(data.classes),
            folds=heldout.CV_FOLDS,
            seed=run.config.seed,
            head=settings,
        )
    held_logits = _features_logits(fit, features, held)
    if cv is not None:
        calibration = calibrate(cv.logits, labels, on="cross-validation")
        fitted_on = (torch.from_numpy(cv.logits), labeled)
    else:
        calibration = calibrate(held_logits.numpy(), [s.label for s in held], on=on)
        fitted_on = (held_logits, list(held))
    _set_calibration(run, calibration, *fitted_on)
    t = calibration.temperature
    if cv is not None and heldout.prefer_cross_validation(len(held), len(labeled)):
        logits, samples, split = torch.from_numpy(cv.logits), labeled, "cross-validation"
    else:
        logits, samples, split = held_logits, list(held), on
    evaluation = evaluation_from_logits(logits / t, samples, classes=data.classes, split=split)
    run.evaluation = replace(
        evaluation,
        calibration=calibration,
        cv_accuracy=cv.accuracy if cv is not None else None,
        cv_images=len(labeled) if cv is not None else 0,
    )
    oof = {s.key: cv.logits[i] for i, s in enumerate(labeled)} if cv is not None else {}
    rest = [s for s in (*data.train, *data.val, *data.test, *data.unlabeled) if s.key in features]
    rest_logits = _features_logits(fit, features, [s for s in rest if s.key not in oof])
    by_key = dict(zip([s.key for s in rest if s.key not in oof], rest_logits.numpy()))
    by_key.update(oof)
    run.library_predictions = _sample_predictions(
        rest, torch.from_numpy(np.stack([by_key[s.key] for s in rest])) if rest else None, t
    )


def _set_calibration(
    run: _Run, calibration: Calibration, logits: torch.Tensor, samples: Sequence[TrainingSample]
) -> None:
    run.calibration, run.temperature = calibration, calibration.temperature
    probabilities = (logits.float() / calibration.temperature).softmax(dim=1)
    confidence, predicted = probabilities.max(dim=1)
    labels = torch.tensor([s.label for s in samples], dtype=torch.long)
    run.calibration_points = (
        tuple(float(c) for c in confidence),
        tuple(int(v) for v in (predicted == labels)),
    )


def _sample_predictions(
    samples: Sequence[TrainingSample], logits: torch.Tensor | None, temperature: float
) -> tuple[SamplePrediction, ...]:
    """Calibrated predictions; ``loss`` is the calibrated cross-entropy (0 for unlabeled)."""
    if logits is None or not samples:
        return ()
    probabilities = (logits.float() / temperature).softmax(dim=1)
    out = []
    for s, p in zip(samples, probabilities):
        loss = float(-torch.log(p[s.label].clamp(min=1e-12))) if s.label >= 0 else 0.0
        out.append(
            SamplePrediction(
                path=s.path,
                key=s.key,
                image_id=s.image_id,
                label=s.label,
                predicted=int(p.argmax()),
                probabilities=tuple(round(float(v), 6) for v in p),
                loss=loss,
            )
        )
    return tuple(out)


def _full(
    run: _Run,
    train_set: Sequence[TrainingSample],
    val_set: Sequence[TrainingSample],
    *,
    pretrained: bool,
) -> Generator[Event, None, None]:
    """Fine-tune every layer (:func:`cnndesk.ml.full.fine_tune`), then measure the best epoch."""
    batch_size = yield from fine_tune(run, train_set, val_set, pretrained=pretrained)
    yield from _full_evaluation(run, batch_size=batch_size * 2)


def _full_evaluation(run: _Run, *, batch_size: int) -> Generator[Event, None, None]:
    """Measure the best epoch's model on the held-out images and fit its temperature there."""
    if run.best_state is not None:
        run.model.load_state_dict(run.best_state)
    split, samples = run.held
    samples, px = yield from read_pixels(run, samples, side=None, message="Reading held-out images")
    logits = yield from model_logits(run, samples, px, epoch=0, batch_size=batch_size)
    calibration = calibrate(logits.numpy(), [s.label for s in samples], on=split)
    _set_calibration(run, calibration, logits, samples)
    evaluation = evaluation_from_logits(
        logits / calibration.temperature, samples, classes=run.data.classes, split=split
    )
    run.evaluation = replace(evaluation, calibration=calibration)


def _full_library_predictions(run: _Run) -> Generator[Event, None, None]:
    """After full mode has saved its model: its calibrated view of every library image."""
    data = run.data
    samples = list(
        {s.key: s for s in (*data.train, *data.val, *data.test, *data.unlabeled)}.values()
    )
    samples, px = yield from read_pixels(run, samples, side=None, message="Reading library images")
    logits = yield from model_logits(
        run, samples, px, epoch=0, batch_size=2 * run.settings["batch_size"]
    )
    run.library_predictions = _sample_predictions(samples, logits, run.temperature)
