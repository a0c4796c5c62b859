"""Descriptor-field checkpoints: `{"state_dict", "config"}` written atomically, read without pickle.

A checkpoint always knows its own shape: `config` is `dataclasses.asdict(FieldConfig)`, so loading
rebuilds the module from it and then checks every weight against the module's own names and shapes,
naming the first offending key. Files load with `torch.load(weights_only=True)`, which cannot execute
code. `save_pretrained(dir, field)` writes `dir/model.pth` and a human-readable `dir/config.json`;
`load_field(dir)` checks that the two agree. An optional `calibration.json` beside the checkpoint,
`{"local_valid_thres": x, ...}`, holds the matcher's no-analogy threshold measured for these weights
(`scripts/calibrate_threshold.py` writes it); `load_field` puts it on `field.valid_threshold`.

The authors' released `model.pth` is a pickled module, not a checkpoint of this kind; `load_field`
says so and points at `python -m scene_analogy.convert_checkpoint`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any

import torch

from scene_analogy.field.model import ContextDescriptorField, FieldConfig
from scene_analogy.files import atomic
from scene_analogy.files.errors import DataError
from scene_analogy.files.json_files import read_json

__all__ = ["save_checkpoint", "load_field", "save_pretrained", "load_config", "config_from_dict",
           "check_state_dict", "load_calibration"]

PRETRAINED = Path(__file__).resolve().parents[2] / "pretrained"  # the checkpoints shipped with the repository
MODEL_NAME = "model.pth"
CONFIG_NAME = "config.json"
CALIBRATION_NAME = "calibration.json"


def save_checkpoint(path: str | os.PathLike, field: ContextDescriptorField, **extra: Any) -> None:
    """Write `{"state_dict", "config", **extra}` atomically; tensors are moved to the CPU.

    `extra` must hold plain Python values (numbers, strings, lists, dicts) or tensors so the file
    stays loadable with `weights_only=True`.
    """
    for key in ("state_dict", "config"):
        if key in extra:
            raise ValueError(f"save_checkpoint: '{key}' is reserved")
    state = {name: tensor.detach().cpu() for name, tensor in field.state_dict().items()}
    payload = {"state_dict": state, "config": dataclasses.asdict(field.cfg), **extra}
    with atomic.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def save_pretrained(directory: str | os.PathLike, field: ContextDescriptorField, **extra: Any) -> Path:
    """Write `directory/model.pth` (checkpoint) and `directory/config.json`; returns the folder."""
    directory = Path(directory)
    save_checkpoint(directory / MODEL_NAME, field, **extra)
    atomic.write_json(directory / CONFIG_NAME, dataclasses.asdict(field.cfg))
    return directory


def config_from_dict(config: Any, path: str | os.PathLike | None = None) -> FieldConfig:
    """A FieldConfig from a saved dict; unknown or invalid fields raise DataError naming them."""

    if not isinstance(config, dict):
        raise DataError(path, f"the field config must be a dict, got {type(config).__name__}")
    known = {f.name for f in dataclasses.fields(FieldConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise DataError(path, f"unknown field config key(s) {', '.join(map(repr, unknown))}")
    try:
        return FieldConfig(**config)
    except (TypeError, ValueError) as exc:
        raise DataError(path, f"invalid field config: {exc}") from None


def load_config(path: str | os.PathLike) -> FieldConfig:
    """The FieldConfig in a `config.json` (or in `<dir>/config.json` when given a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    return config_from_dict(read_json(path, "field config"), path)


def load_calibration(folder: str | os.PathLike) -> float | None:
    """The calibrated no-analogy threshold in `folder/calibration.json`, or None without that file."""
    path = Path(folder) / CALIBRATION_NAME
    if not path.is_file():
        return None
    calibration = read_json(path, "calibration")
    value = calibration.get("local_valid_thres") if isinstance(calibration, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise DataError(path, f"'local_valid_thres' must be a positive number, got {value!r}")
    return float(value)


def check_state_dict(state: Any, field: ContextDescriptorField, path: str | os.PathLike | None) -> None:
    """Raise DataError naming the first key that is missing, unexpected, of the wrong shape, or not finite."""
    if not isinstance(state, dict):
        raise DataError(path, f"'state_dict' must be a dict of tensors, got {type(state).__name__}")
    expected = field.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise DataError(path, f"key '{key}' is missing from the weights but the config needs it")
        value = state[key]
        if not isinstance(value, torch.Tensor):
            raise DataError(path, f"key '{key}' holds a {type(value).__name__}, not a tensor")
        if tuple(value.shape) != tuple(tensor.shape):
            raise DataError(path, f"key '{key}' has shape {tuple(value.shape)} but the config expects "
                                  f"{tuple(tensor.shape)}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):  # a diverged run's weights
            raise DataError(path, f"key '{key}' holds NaN or inf: these weights cannot describe anything")
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise DataError(path, f"unexpected key '{unexpected[0]}' in the weights (not part of the config's field)")


def load_problem(exc: Exception) -> str:
    """What went wrong in `torch.load(weights_only=True)`, in a few words.

    A file that names a Python object (a pickle that would run code on loading, or a whole pickled
    module) is refused before anything runs; torch's own message then suggests weights_only=False,
    which is exactly what must not be done with an untrusted file, so it is not quoted."""
    message = str(exc)
    refused = re.search(r"GLOBAL ([\w.]+)", message)
    if refused:
        return f"it needs the Python object '{refused.group(1)}', which a checkpoint never does; refused, nothing was run"
    if message.startswith("Weights only load failed"):  # not a pickle torch can read safely: say why, not "retry"
        detail = re.search(r"Unpickler error:\s*(\S[^\n]*)", message)
        return "not a PyTorch file" + (f": {detail.group(1).strip()}" if detail else "")
    lines = message.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def usable_device(name) -> None:
    """DataError unless `name` (a str or torch.device; anything else, e.g. a map_location callable, is
    not checked) is a device this machine has: loading onto an absent one fails inside torch.load with
    a message about the file, not the flag."""
    if not isinstance(name, (str, torch.device)):
        return
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DataError(None, f"unknown device {str(name)!r} (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DataError(None, f"device {str(name)!r}: no CUDA device is available here "
                                  f"(torch {torch.__version__}); use --device cpu")
        if device.index is not None and device.index >= count:
            raise DataError(None, f"device {str(name)!r}: this machine has {count} CUDA device(s)")


def _read(path: Path, map_location) -> dict:
    usable_device(map_location)
    if not path.is_file():
        raise DataError(path, "no such checkpoint file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files; all mean "not ours"
        if "KeyPointFeatureField" in str(exc):
            raise DataError(path, "this is the authors' pickled module, not a checkpoint; convert it with "
                                  "`python -m scene_analogy.convert_checkpoint IN OUT`") from None
        raise DataError(path, f"not a descriptor-field checkpoint ({load_problem(exc)})") from None
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        what = f"a dict with keys {sorted(map(str, payload))}" if isinstance(payload, dict) else type(payload).__name__
        raise DataError(path, f"not a descriptor-field checkpoint: expected a dict with 'state_dict' and "
                              f"'config', found {what}")
    return payload


def check_num_classes(cfg: FieldConfig, num_classes: int | None, path) -> None:
    """DataError unless a field with class embeddings has the data's `num_classes` (None: no check):
    its class ids would mean other classes (or lie outside its table)."""
    if num_classes is not None and cfg.semantics_emb_size > 0 and cfg.num_classes != num_classes:
        raise DataError(path, f"the field was trained on {cfg.num_classes} classes, but this data has {num_classes} "
                              "(a checkpoint of another dataset?)")


def load_field(path: str | os.PathLike, map_location="cpu", num_classes: int | None = None) -> ContextDescriptorField:
    """Rebuild a field from a checkpoint file, or from a folder written by `save_pretrained`.

    The field comes back in eval mode on `map_location`. Any mismatch between the config and the
    weights raises DataError naming the key; for a folder, `config.json` must match the checkpoint.
    `field.valid_threshold` is the folder's calibrated no-analogy threshold (None without one).
    With `num_classes` (the data's class count), a field that embeds another number of classes is
    refused: its class ids would mean other classes (or lie outside its table).
    """
    path = Path(path)
    folder = path if path.is_dir() else None
    if folder is not None:
        path = folder / MODEL_NAME
    payload = _read(path, map_location)
    cfg = config_from_dict(payload["config"], path)
    check_num_classes(cfg, num_classes, path)
    if folder is not None and (folder / CONFIG_NAME).is_file():
        sidecar = load_config(folder)
        if sidecar != cfg:
            diff = [f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(sidecar, f.name)]
            raise DataError(folder / CONFIG_NAME, f"disagrees with {MODEL_NAME} on {', '.join(diff)}")
    field = cfg.build()
    check_state_dict(payload["state_dict"], field, path)
    field.load_state_dict(payload["state_dict"])
    field.valid_threshold = load_calibration(path.parent)
    if isinstance(map_location, (str, torch.device)):
        field = field.to(map_location)
    return field.eval()
