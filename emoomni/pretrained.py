"""Loading transformers models and processors from a local path or a hub id, offline-safe.

Every load goes through here so that the project's rules hold in one place: weights only from
safetensors, never ``trust_remote_code``, and in offline mode (``HF_HUB_OFFLINE=1`` or
``TRANSFORMERS_OFFLINE=1``) nothing is fetched: a hub id must already be in the local cache, and a
missing model fails with an error that names it instead of a long hub traceback.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda", "auto")


class ModelNotFoundError(FileNotFoundError):
    """A model or processor could not be found locally (and downloading was not allowed)."""


def offline() -> bool:
    """True when the hub must not be contacted (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set, read now)."""
    from huggingface_hub import constants

    env = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").strip().lower()
    return env in {"1", "on", "yes", "true"} or bool(constants.HF_HUB_OFFLINE)


def _looks_like_path(name: str) -> bool:
    """True for names that can only be file-system paths (absolute, ``./``, ``../``, ``~``, backslashes).

    >>> _looks_like_path("Qwen/Qwen3-8B"), _looks_like_path("./models/q"), _looks_like_path("/m/q")
    (False, True, True)
    """
    return name.startswith((".", "~", "/")) or "\\" in name or os.path.isabs(name) or name.count("/") > 1


def resolve_source(name_or_path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """Decide where a model comes from: ``(path or hub id, from_pretrained kwargs)``.

    A local directory loads with ``local_files_only=True``; a name that can only be a path but does
    not exist raises :class:`ModelNotFoundError`; anything else is a hub id, loaded from the cache
    only when offline.
    """
    name = os.fspath(name_or_path)
    if not name:
        raise ModelNotFoundError("no model given (empty name or path)")
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), {"local_files_only": True}
    if path.exists():
        raise ModelNotFoundError(f"model {name!r}: {path} is a file, expected a model directory (save_pretrained output)")
    if _looks_like_path(name):
        raise ModelNotFoundError(f"model {name!r}: local directory {path} does not exist")
    return name, {"local_files_only": offline()}


def _not_found(name: str, kwargs: dict[str, Any], what: str, err: Exception) -> ModelNotFoundError:
    """The clear error for a model that could not be loaded from where it was looked for."""
    if kwargs.get("local_files_only") and not Path(name).expanduser().is_dir():
        msg = (f"{what} {name!r} is not a local directory and is not in the Hugging Face cache; offline mode "
               "(HF_HUB_OFFLINE=1) forbids downloading. Download it beforehand (huggingface-cli download "
               f"{name}) or pass a local path. ({type(err).__name__}: {err})")
    else:
        msg = f"{what} {name!r} could not be loaded: {type(err).__name__}: {err}"
    return ModelNotFoundError(msg)


def torch_dtype(dtype: str | Any) -> Any:
    """Map ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"`` to what ``from_pretrained`` takes.

    >>> torch_dtype("bfloat16")
    torch.bfloat16
    >>> torch_dtype("auto")
    'auto'
    """
    import torch

    if not isinstance(dtype, str):
        return dtype
    if dtype == "auto":
        return "auto"
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def resolve_device(device: str) -> str:
    """The ``device_map``: ``"auto"`` spreads over the visible GPUs (``"cpu"`` without one); ``"cuda"`` needs a GPU."""
    import torch

    if device == "auto":
        return "auto" if torch.cuda.is_available() else "cpu"
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not one of {', '.join(DEVICES)} (or cuda:N)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for but no CUDA GPU is visible")
    return device


def _refuse_unsafe(kwargs: dict[str, Any]) -> None:
    """Refuse remote code and non-safetensors weights, whatever the caller passes."""
    if kwargs.pop("trust_remote_code", False):
        raise ValueError("trust_remote_code is never allowed in this project")
    if kwargs.pop("use_safetensors", True) is not True:
        raise ValueError("weights load from safetensors only (use_safetensors=True)")


def load_pretrained(model_cls: Any, name_or_path: str | os.PathLike[str], dtype: str = "auto",
                    device: str = "cpu", **kwargs: Any) -> Any:
    """Load ``model_cls.from_pretrained`` from a local dir or hub id: safetensors only, no remote code, eval mode."""
    name, source_kwargs = resolve_source(name_or_path)
    _refuse_unsafe(kwargs)
    dev = resolve_device(device)
    try:
        model = model_cls.from_pretrained(name, dtype=torch_dtype(dtype), use_safetensors=True,
                                          trust_remote_code=False, device_map=dev, **source_kwargs, **kwargs)
    except OSError as e:
        raise _not_found(name, source_kwargs, "model", e) from e
    model.eval()
    log.info("loaded %s from %s (%s, %s)", type(model).__name__, name, model.dtype, model.device)
    return model


def load_processor(cls_or_auto: Any, name_or_path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Load a processor (or tokenizer, feature extractor) class, ``AutoProcessor`` when ``None``."""
    if cls_or_auto is None or cls_or_auto == "auto":
        from transformers import AutoProcessor as cls_or_auto
    name, source_kwargs = resolve_source(name_or_path)
    _refuse_unsafe(kwargs)
    try:
        return cls_or_auto.from_pretrained(name, trust_remote_code=False, **source_kwargs, **kwargs)
    except OSError as e:
        raise _not_found(name, source_kwargs, "processor", e) from e
