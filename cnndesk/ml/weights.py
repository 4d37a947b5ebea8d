"""Building a backbone with its pretrained weights, found in this order:

1. a local file the user chose (safetensors, or a PyTorch state dict read with ``weights_only``),
   which must fill at least 90 % of the backbone's tensors (:func:`load_weights_file`),
2. the caches (cnndesk's own, Hugging Face's, torch hub's),
3. a download, with progress and cancel (a generator, like every long job),
4. otherwise a :class:`WeightsUnavailableError` naming the two ways out: a local file, or
   training from scratch.

Nothing here ever waits on the network for more than a short timeout, and offline mode
(``HF_HUB_OFFLINE=1``) skips the download at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import urllib.error
import urllib.request
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import torch

from cnndesk import paths
from cnndesk.domain import ModelError, Progress, WeightsUnavailableError
from cnndesk.ml import backbones

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 10.0
_HUB_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Backbone:
    model: torch.nn.Module
    source: str
    """Where the weights came from, in words (a file, the cache, a download, none)."""
    weights_id: str
    """Identifies the starting weights exactly (a content hash), for the feature cache."""
    pretrained: bool


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pretrained_cfg(name: str) -> dict:
    import timm

    cfg = timm.models.get_pretrained_cfg(name) or timm.models.get_pretrained_cfg(
        name.split(".", 1)[0]
    )
    return cfg.to_dict() if cfg is not None else {}


def _own_cache_file(name: str) -> Path:
    return paths.cache_dir() / "weights" / f"{name.replace('/', '_')}.safetensors"


def cached_weights(name: str) -> Path | None:
    """A weights file for ``name`` already on this machine, or ``None``."""
    own = _own_cache_file(name)
    if own.is_file():
        return own
    cfg = _pretrained_cfg(name)
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - timm depends on huggingface_hub
            try_to_load_from_cache = None
        for filename in (cfg.get("hf_hub_filename"), *_HUB_FILES):
            if try_to_load_from_cache and filename:
                found = try_to_load_from_cache(hub_id, filename)
                if isinstance(found, str) and Path(found).is_file():
                    return Path(found)
    url = cfg.get("url")
    if url:
        legacy = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
        if legacy.is_file():
            return legacy
    return None


def download_urls(name: str) -> list[str]:
    """Where ``name``'s published weights can be downloaded from, best first."""
    cfg = _pretrained_cfg(name)
    urls = []
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        names = [cfg["hf_hub_filename"]] if cfg.get("hf_hub_filename") else list(_HUB_FILES)
        urls += [f"{endpoint}/{hub_id}/resolve/main/{filename}" for filename in names]
    if cfg.get("url"):
        urls.append(cfg["url"])
    return urls


def _offline() -> bool:
    return any(
        os.environ.get(var, "").lower() in ("1", "true", "yes", "on")
        for var in ("HF_HUB_OFFLINE", "CNNDESK_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _unavailable(name: str, reason: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"pretrained weights for {name} are not on this machine and {reason}. Either choose a"
        f" local weights file (--weights FILE: a .safetensors or PyTorch state dict for {name}),"
        " or train from scratch (--backbone simple-cnn, or --no-pretrained)."
    )


def download(name: str) -> Generator[Progress, None, Path]:
    """Download ``name``'s weights into cnndesk's cache, yielding byte progress; cancellable."""
    if _offline():
        raise _unavailable(name, "downloads are switched off (offline mode)")
    urls = download_urls(name)
    if not urls:
        raise _unavailable(name, "timm knows no published weights for it")
    target = _own_cache_file(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    errors = []
    try:  # the finally also runs on cancel (GeneratorExit at a yield): no half file is left
        for url in urls:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    total = int(response.headers.get("Content-Length") or 0)
                    done = 0
                    with open(partial, "wb") as out:
                        while block := response.read(1 << 20):
                            out.write(block)
                            done += len(block)
                            yield Progress(done, total, f"Downloading {name} weights")
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            if url.endswith(".safetensors"):
                os.replace(partial, target)
                return target
            # A pickled checkpoint: read it safely (weights only) once, keep it as safetensors.
            from safetensors.torch import save_file

            state = torch.load(partial, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
                state = state["state_dict"]
            save_file({k: v.contiguous() for k, v in state.items()}, str(target))
            return target
    finally:
        partial.unlink(missing_ok=True)
    log.info("weights download failed: %s", "; ".join(errors))
    raise _unavailable(name, "could not be downloaded (no connection to the model hub?)")


def create_backbone(
    name: str,
    num_classes: int,
    *,
    pretrained: bool = True,
    weights_file: str | Path | None = None,
    seed: int = 0,
) -> Generator[Progress, None, Backbone]:
    """Build ``name`` through ``timm.create_model`` with weights resolved as the module says."""
    import timm

    torch.manual_seed(seed)
    if name == backbones.SIMPLE_CNN or not (pretrained or weights_file):
        if weights_file:
            raise ModelError(f"{name} trains from scratch; it cannot start from {weights_file}")
        model = _create(timm, name, num_classes)
        return Backbone(model, "none: trains from scratch", f"random-seed{seed}", False)
    if weights_file:
        file = Path(weights_file).expanduser()
        model = _create(timm, name, num_classes)
        filled, total = load_weights_file(model, name, file)
        if filled == total:
            return Backbone(model, f"file {file}", file_sha256(file), True)
        # Covered enough, but not all by name and shape: let timm's loader adapt the rest (its
        # per-model filters resample position embeddings, for one; it reads weights only). If
        # it cannot, keep what matched by name and shape.
        try:
            model = _create(timm, name, num_classes, file=file)
        except (RuntimeError, KeyError, ValueError, OSError, AssertionError) as exc:
            log.warning(
                "%s: timm could not adapt the rest (%s); %d of %d tensors loaded by name",
                file, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, filled, total,
            )  # fmt: skip
        return Backbone(model, f"file {file}", file_sha256(file), True)
    file = cached_weights(name)
    source = f"cache {file}"
    if file is None:
        file = yield from download(name)
        source = f"downloaded to {file}"
    try:
        model = _create(timm, name, num_classes, file=file)
    except (RuntimeError, KeyError, ValueError, OSError, AssertionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"the weights in {file} do not fit {name} ({first}). Choose the weights file made"
            f" for {name}, or another backbone."
        ) from exc
    return Backbone(model, source, file_sha256(file), True)


MIN_COVERAGE = 0.9
"""A weights file must fill at least this share of the backbone's tensors (by name and shape):
below it, the file is for another architecture and training would start from random weights."""
WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def read_weights_file(file: Path) -> dict[str, torch.Tensor]:
    """The tensors of a local weights file, read without running any code.

    ``.safetensors`` files are checked header first (a pickle renamed ``.safetensors`` is
    refused, never unpickled); ``.pt``/``.pth``/``.bin`` are read with ``torch.load``'s
    ``weights_only=True``, which refuses anything but tensors and plain containers.
    """
    import stat

    from cnndesk.model_folder import read_safetensors_header

    try:
        status = file.stat()
    except FileNotFoundError:
        raise ModelError(f"the weights file {file} does not exist") from None
    except OSError as exc:
        raise ModelError(f"the weights file {file} cannot be read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(status.st_mode):
        raise ModelError(f"the weights file {file} is not a regular file")
    suffix = file.suffix.lower()
    if suffix not in WEIGHTS_SUFFIXES:
        raise ModelError(
            f"{file} is not a weights file cnndesk reads: use a .safetensors file or a PyTorch"
            " state dict (.pt, .pth, .bin)"
        )
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            read_safetensors_header(file)
            state: object = load_file(str(file), device="cpu")
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except ModelError:
        raise
    except pickle.UnpicklingError as exc:  # what weights_only=True says about other objects
        raise ModelError(
            f"{file} holds more than tensors (Python objects that would run code when loaded),"
            " so cnndesk does not load it; use a .safetensors file or a plain state dict"
        ) from exc
    except Exception as exc:  # a damaged archive: RuntimeError, EOFError, OSError, ...
        first = "".join(ch for ch in (str(exc).splitlines() or [""])[0] if ch.isprintable())
        raise ModelError(
            f"{file} cannot be read as weights ({first[:200] or type(exc).__name__}); cnndesk"
            " reads safetensors files and plain PyTorch state dicts"
        ) from exc
    if isinstance(state, dict):
        for key in ("state_dict_ema", "model_ema", "state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelError(f"{file} holds no state dict (a mapping of tensor names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_weights_file(model: torch.nn.Module, name: str, file: Path) -> tuple[int, int]:
    """Load ``file`` into ``model`` (a ``name`` backbone); refuse a file that does not cover it.

    The classifier is left as built (its size is the library's classes). Every other tensor of
    the model counts; a file filling fewer than :data:`MIN_COVERAGE` of them by name and shape
    is refused, naming the file, the architecture and the numbers. Returns how many tensors it
    filled, of how many.
    """
    state = read_weights_file(file)
    head = getattr(model, "pretrained_cfg", {}).get("classifier")
    heads = (head,) if isinstance(head, str) else tuple(head or ())
    wanted = {
        key: tensor
        for key, tensor in model.state_dict().items()
        if not key.endswith("num_batches_tracked")
        and not any(key == h or key.startswith(f"{h}.") for h in heads)
    }
    fits = {
        key: state[key]
        for key, tensor in wanted.items()
        if key in state
        and tuple(state[key].shape) == tuple(tensor.shape)
        and state[key].is_floating_point() == tensor.is_floating_point()
    }
    if len(fits) < MIN_COVERAGE * len(wanted):
        raise ModelError(
            f"the weights in {file} do not fit {name}: they fill {len(fits)} of {len(wanted)}"
            f" tensors of {name} (at least {MIN_COVERAGE:.0%} are needed); is the file for"
            " another architecture? Choose the weights file made for it, or another backbone."
        )
    for key, tensor in fits.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelError(f"the weights in {file} hold NaN or infinite values (in {key})")
    model.load_state_dict(fits, strict=False)
    return len(fits), len(wanted)


def _create(timm, name: str, num_classes: int, *, file: Path | None = None) -> torch.nn.Module:
    kwargs = {}
    if file is not None:
        kwargs["pretrained_cfg_overlay"] = {"file": str(file)}
    try:
        return timm.create_model(
            name, pretrained=file is not None, num_classes=num_classes, **kwargs
        )
    except RuntimeError as exc:
        if "Unknown model" in str(exc):
            raise ModelError(
                f"unknown backbone {name!r}: use one of timm.list_models() or simple-cnn"
            ) from exc
        raise
