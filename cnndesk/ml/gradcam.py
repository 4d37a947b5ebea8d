"""Grad-CAM: where in an image a model found the evidence for a class (Selvaraju et al., 2017).

A forward hook on the model's **last convolutional stage** keeps its activation ``A`` (``[K, h, w]``)
and a hook on that tensor its gradient; the map is ``relu(sum_k mean(dy_c/dA_k) * A_k)``, upsampled
to the image and scaled to [0, 1]. The stage is found generically: the last module whose output
is a 4-D map while ``forward_features`` runs (timm models, and cnndesk's simple-cnn); a model
without ``forward_features`` is traced through its whole forward pass, ignoring the ``1×1``
output of a global pool. A backbone with no such map — a vision transformer, whose features are
tokens — raises :class:`~cnndesk.domain.ModelError` that says so; nothing is guessed.

The whole image is resized to the model's input size for the map (no centre crop), so the map
covers every pixel of the picture it is drawn on. Maps are cached as ``.npy`` under
``paths.cache_dir()/gradcam/`` per (model weights, image content, class).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import unicodedata
import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cnndesk import paths
from cnndesk.domain import ModelError, Progress
from cnndesk.ml.preprocess import decode_file, decode_image, normalize
from cnndesk.outputs import printable

log = logging.getLogger(__name__)

MAP_SIDE = 224
"""Cached maps are stored at most this many pixels on their longer side (resized on use)."""


@dataclass(frozen=True)
class ClassMap:
    """One Grad-CAM map: ``heat`` is float32 ``[H, W]`` in [0, 1] at the image's aspect ratio."""

    class_index: int
    class_name: str
    probability: float
    heat: np.ndarray


def last_conv_stage(model: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    """The module whose output is the model's last spatial feature map, found by running it."""
    order: list[tuple[torch.nn.Module, tuple[int, ...]]] = []

    def record(module: torch.nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 4:
            order.append((module, tuple(output.shape)))

    handles = [m.register_forward_hook(record) for m in model.modules() if m is not model]
    try:
        with torch.no_grad():
            if hasattr(model, "forward_features"):
                features = model.forward_features(example)
                if not (isinstance(features, torch.Tensor) and features.ndim == 4):
                    shape = tuple(getattr(features, "shape", ()))
                    raise ModelError(
                        f"Grad-CAM needs a convolutional backbone: {type(model).__name__}'s"
                        f" features are {shape}, not a [batch, channels, height, width] map"
                    )
            else:
                model(example)
    finally:
        for handle in handles:
            handle.remove()
    spatial = [(m, s) for m, s in order if s[2] * s[3] > 1 or hasattr(model, "forward_features")]
    if not spatial:
        raise ModelError(
            f"Grad-CAM needs a convolutional stage: {type(model).__name__} produces no 2-D feature map"
        )
    return spatial[-1][0]


def model_input(image: Image.Image, data_config: dict[str, Any]) -> torch.Tensor:
    """The whole image, resized (not cropped) to the model's input, normalised: ``[1, 3, H, W]``."""
    _, height, width = data_config["input_size"]
    resample = Image.Resampling.BICUBIC
    if data_config.get("interpolation") == "bilinear":
        resample = Image.Resampling.BILINEAR
    pixels = np.asarray(image.convert("RGB").resize((width, height), resample), dtype=np.uint8)
    return normalize(torch.from_numpy(pixels.copy()), data_config).unsqueeze(0)


class GradCam:
    """Grad-CAM for one model. Not thread-safe: one instance per worker thread."""

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        classes: Sequence[str],
        data_config: dict[str, Any],
        model_id: str = "",
        cache_root: Path | None = None,
    ) -> None:
        self.model = model.eval()
        self.classes = list(classes)
        self.data_config = data_config
        self.model_id = model_id
        self.cache_root = cache_root if cache_root is not None else paths.cache_dir() / "gradcam"
        self._stage: torch.nn.Module | None = None

    @classmethod
    def from_folder(cls, folder: str | Path, *, cache_root: Path | None = None) -> GradCam:
        """Load a cnndesk model folder; its weights' hash names its cache entries."""
        from cnndesk.ml.model_io import WEIGHTS_FILE, load_model

        model, info = load_model(Path(folder))
        model = model.float()
        digest = _file_digest(Path(folder) / WEIGHTS_FILE)
        return cls(
            model,
            classes=info["classes"],
            data_config=info["data_config"],
            model_id=digest,
            cache_root=cache_root,
        )

    def stage(self, example: torch.Tensor) -> torch.nn.Module:
        if self._stage is None:
            self._stage = last_conv_stage(self.model, example)
        return self._stage

    def class_index(self, name_or_index: str | int) -> int:
        """A class by name or 0-based index; a clear error for one the model does not know."""
        if isinstance(name_or_index, int) or str(name_or_index).isdigit():
            index = int(name_or_index)
            if 0 <= index < len(self.classes):
                return index
        else:  # class names compare in Unicode NFC, as the library stores them
            wanted = unicodedata.normalize("NFC", str(name_or_index))
            for index, name in enumerate(self.classes):
                if unicodedata.normalize("NFC", name) == wanted:
                    return index
        raise ModelError(
            f"the model has no class {name_or_index!r} (classes: {', '.join(self.classes)})"
        )

    def maps_for_tensor(
        self, x: torch.Tensor, class_indices: Sequence[int] | None = None, *, top: int = 1
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Probabilities ``[C]`` and raw maps (``[h, w]`` of the stage, in [0, 1]) for one input.

        ``class_indices`` None: the ``top`` most probable classes.
        """
        stage = self.stage(x)
        saved: dict[str, torch.Tensor] = {}

        def keep(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            saved["activation"] = output
            output.register_hook(lambda grad: saved.__setitem__("gradient", grad))

        handle = stage.register_forward_hook(keep)
        try:
            with torch.enable_grad():
                x = x.detach().float().requires_grad_(True)  # gradients flow even if frozen
                logits = self.model(x)
                probabilities = torch.softmax(logits.detach().float(), 1)[0].numpy()
                if class_indices is None:
                    class_indices = [int(i) for i in np.argsort(-probabilities)[:top]]
                maps: dict[int, np.ndarray] = {}
                for n, index in enumerate(class_indices):
                    self.model.zero_grad(set_to_none=True)
                    logits[0, index].backward(retain_graph=n < len(class_indices) - 1)
                    activation = saved["activation"].detach()[0].float()
                    gradient = saved["gradient"].detach()[0].float()
                    weights = gradient.mean(dim=(1, 2))
                    cam = F.relu(torch.einsum("k,khw->hw", weights, activation))
                    peak = float(cam.max())
                    maps[index] = (cam / peak if peak > 0 else cam).numpy().astype(np.float32)
        finally:
            handle.remove()
        return probabilities, maps

    def explain(
        self, path: str | Path, classes: Sequence[str | int] | None = None, *, top: int = 1
    ) -> list[ClassMap]:
        """Maps for an image file: for ``classes`` (names or indices), else the ``top`` classes.

        Cached per (model, image content, class); a cached map is read, not recomputed.
        """
        # One bounded read of a regular file (never a FIFO, a device or an endless file).
        image, image_key = decode_file(path)
        wanted = [self.class_index(c) for c in classes] if classes else None
        probs: np.ndarray | None = self._cached_probabilities(image_key)
        cached: dict[int, np.ndarray] = {}
        if probs is not None:
            indices = wanted or [int(i) for i in np.argsort(-probs)[:top]]
            cached = {i: m for i in indices if (m := self._load(image_key, i)) is not None}
            wanted = indices
        missing = [i for i in (wanted or []) if i not in cached]
        if probs is None or missing:
            x = model_input(image, self.data_config)
            probs, computed = self.maps_for_tensor(x, missing or wanted, top=top)
            self._store_probabilities(image_key, probs)
            for index, raw in computed.items():
                cached[index] = self._store(image_key, index, _to_image_shape(raw, image.size))
            wanted = wanted or list(computed)
        return [
            ClassMap(i, self.classes[i], float(probs[i]), cached[i]) for i in (wanted or cached)
        ]

    # ------------------------------------------------------------------------------- cache

    def _entry(self, image_key: str, name: str) -> Path:
        return (
            self.cache_root / (self.model_id or "unnamed") / image_key[:2] / f"{image_key}.{name}"
        )

    def _load(self, image_key: str, index: int) -> np.ndarray | None:
        if not self.model_id:
            return None
        try:
            heat = np.load(self._entry(image_key, f"{index}.npy"), allow_pickle=False)
        except (OSError, ValueError):
            return None
        return heat.astype(np.float32) if heat.ndim == 2 else None

    def _store(self, image_key: str, index: int, heat: np.ndarray) -> np.ndarray:
        if self.model_id:
            _cache(self._entry(image_key, f"{index}.npy"), heat)
        return heat

    def _cached_probabilities(self, image_key: str) -> np.ndarray | None:
        if not self.model_id:
            return None
        try:
            probs = np.load(self._entry(image_key, "probs.npy"), allow_pickle=False)
        except (OSError, ValueError):
            return None
        return probs if probs.shape == (len(self.classes),) else None

    def _store_probabilities(self, image_key: str, probs: np.ndarray) -> None:
        if self.model_id:
            _cache(self._entry(image_key, "probs.npy"), probs.astype(np.float32))


def _to_image_shape(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Upsample a stage-sized map (bilinear) to the image's aspect, at most MAP_SIDE long."""
    width, height = size
    scale = min(1.0, MAP_SIDE / max(width, height))
    out = (max(1, round(height * scale)), max(1, round(width * scale)))
    tensor = torch.from_numpy(raw)[None, None]
    heat = F.interpolate(tensor, size=out, mode="bilinear", align_corners=False)[0, 0]
    return heat.clamp(0, 1).numpy().astype(np.float32)


def _cache(path: Path, array: np.ndarray) -> None:
    """Cache ``array`` at ``path``; a full disk or unwritable cache is logged, never fatal."""
    try:
        _save_atomic(path, array)
    except OSError as exc:
        log.warning("could not cache the heat map %s (%s); going on without it", path, exc)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    return digest.hexdigest()[:24]


# ----------------------------------------------------------------------------- overlays


def colormap(heat: np.ndarray) -> np.ndarray:
    """A perceptual blue→green→yellow→red ramp ("turbo"-like): float ``[H, W]`` → uint8 RGB."""
    stops = np.array(
        [
            [48, 18, 59],
            [70, 107, 227],
            [40, 188, 235],
            [50, 241, 152],
            [164, 252, 60],
            [237, 208, 58],
            [251, 128, 34],
            [208, 47, 5],
            [122, 4, 3],
        ],
        dtype=np.float32,
    )
    t = np.clip(heat, 0, 1) * (len(stops) - 1)
    low = np.floor(t).astype(int).clip(0, len(stops) - 2)
    frac = (t - low)[..., None]
    return (stops[low] * (1 - frac) + stops[low + 1] * frac).round().astype(np.uint8)


def overlay(image: Image.Image, heat: np.ndarray, *, alpha: float = 0.45) -> Image.Image:
    """The image with the map drawn over it in colour (the map is resized to the image)."""
    base = image.convert("RGB")
    colours = Image.fromarray(colormap(heat)).resize(base.size, Image.Resampling.BILINEAR)
    return Image.blend(base, colours, alpha)


# ------------------------------------------------------------------------ explain command

MANIFEST = ".cnndesk-explain.json"
"""In an ``explain`` output folder: the files explain wrote there, with their sha256."""


@dataclass(frozen=True)
class WrittenMap:
    image: str
    class_name: str
    probability: float
    overlay: str
    raw: str


def write_explanations(
    model_dir: str | Path,
    images: Sequence[str | Path],
    out: str | Path,
    *,
    class_name: str | None = None,
    top: int = 1,
    force: bool = False,
    cache_root: Path | None = None,
) -> Generator[Progress, None, list[WrittenMap]]:
    """Write ``<stem>.<class>.png`` overlays and ``<stem>.<class>.npy`` maps into ``out``.

    A file already there is replaced only when this command wrote it (it is in the folder's
    manifest with the same content) or with ``force``; anything else stops the run with
    :class:`~cnndesk.domain.OutputError` before that map is written.

    A write that fails (a full disk) removes the half-written pair of that image and stops with
    :class:`~cnndesk.domain.OutputError`; the maps written before it are recorded in the manifest.
    A manifest that cannot be written is an :class:`~cnndesk.domain.OutputError` too, and the
    maps of this run are removed, since the next run would refuse to replace them.
    """
    import json

    from cnndesk.domain import ImageError, OutputError
    from cnndesk.paths import safe_folder_name

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder")
    cam = GradCam.from_folder(model_dir, cache_root=cache_root)
    wanted = [cam.class_index(class_name)] if class_name is not None else None
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest = manifest if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        manifest = {}
    stems: dict[str, int] = {}
    written: list[WrittenMap] = []
    try:
        for n, image in enumerate(images, start=1):
            path = Path(image)
            stem = safe_folder_name(path.stem) or "image"
            stems[stem] = stems.get(stem, 0) + 1
            if stems[stem] > 1:
                stem = f"{stem}-{stems[stem]}"
            try:
                maps = cam.explain(path, wanted, top=top)
                picture = decode_image(path)
            except ImageError as exc:
                raise ImageError(f"{path}: {exc}") from exc
            for cmap in maps:
                base = f"{stem}.{safe_folder_name(cmap.class_name) or cmap.class_index}"
                png, npy = folder / f"{base}.png", folder / f"{base}.npy"
                for target in (png, npy):
                    _check_replaceable(target, manifest, force=force)
                _write_pair(png, npy, cmap.heat, picture)
                for target in (png, npy):
                    manifest[target.name] = hashlib.sha256(target.read_bytes()).hexdigest()
                written.append(
                    WrittenMap(str(path), cmap.class_name, cmap.probability, str(png), str(npy))
                )
            yield Progress(n, len(images), f"Explaining {path.name}")
    except BaseException:
        if written and (exc := _record(manifest_path, manifest, written)) is not None:
            log.warning("could not update %s (%s); removed this run's maps", manifest_path, exc)
        raise
    if written and (exc := _record(manifest_path, manifest, written)) is not None:
        raise OutputError(
            f"Could not record the maps in {printable(manifest_path)}: {exc}; the maps this run "
            "wrote were removed (explain would refuse to replace maps it has no record of)"
        ) from exc
    return written


def _record(manifest_path: Path, manifest: dict, written: list[WrittenMap]) -> OSError | None:
    """Write the manifest; when that fails, remove the maps in ``written`` and return why.

    A map missing from the manifest is one the next ``explain`` refuses to replace, so a run
    whose manifest cannot be written keeps none of its maps.
    """
    import json

    tmp = manifest_path.with_name(f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, manifest_path)
    except OSError as exc:
        for leftover in (tmp, *(Path(p) for m in written for p in (m.overlay, m.raw))):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        return exc
    return None


def _write_pair(png: Path, npy: Path, heat: np.ndarray, picture: Image.Image) -> None:
    """Write one map's ``.npy`` and overlay ``.png``: both, or (an OutputError) neither."""
    from cnndesk.domain import OutputError

    npy_written = False
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        _save_atomic(npy, heat)
        npy_written = True
        _write_png(png, overlay(picture, heat))
    except BaseException as exc:  # a full disk: the maps written before this one stay
        if npy_written:  # not in the manifest: the next run would refuse it
            with contextlib.suppress(OSError):
                npy.unlink()
        if not isinstance(exc, OSError):
            raise
        raise OutputError(
            f"Could not write {printable(png.stem)} in {printable(png.parent)}: {exc}"
        ) from exc


def _check_replaceable(target: Path, manifest: dict, *, force: bool) -> None:
    from cnndesk.domain import OutputError

    if not os.path.lexists(target):
        return
    if target.is_dir() or target.is_symlink():
        raise OutputError(f"{target} is in the way (a folder or a link); remove it or pick --out")
    if force:
        return
    try:
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
    except OSError as exc:
        raise OutputError(f"cannot read {target}: {exc}") from exc
    if manifest.get(target.name) != digest:
        raise OutputError(
            f"{target} exists and was not written by cnndesk explain; use --force to replace it"
        )


def _write_png(path: Path, image: Image.Image) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
