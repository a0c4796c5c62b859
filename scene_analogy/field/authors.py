"""Read the authors' released field (a pickled whole module) and convert it into our checkpoint format
(`python -m scene_analogy.convert_checkpoint` is the command).

The input is the authors' `model.pth`: `torch.save(module)` of `threed_front.feature_field.KeyPointFeatureField`
carrying its argparse config as `cfg`. The output is either a `.pth`/`.pt` file (one checkpoint
`{"state_dict", "config"}`) or a folder, which receives `model.pth` and `config.json`.

Safety: unpickling runs code named by the file, so the file is read with a restricted unpickler that
resolves only an explicit allowlist: torch's tensor/parameter rebuild functions and storage types,
`collections.OrderedDict`, `builtins.set`, `argparse.Namespace`, `torch.device`, and class names,
namely the torch.nn module classes the field is built from and any class of the authors'
`threed_front.feature_field` module. Every class name is mapped onto an inert stub that only records
its pickled state (no torch.nn code runs); activation functions become inert markers. Anything else
(`os.system`, `builtins.eval`, `subprocess.*`, ...) is refused before it is resolved, so it never
executes, and the command fails with one line naming the file and the refused global.

The config comes from the weights' shapes (width, class count, layers, feed-forward, output size,
distance MLP sizes), from the pickled attention module (heads) and dropout, and from `cfg` for what
weights cannot tell: `agg_radius` -> radius, `agg_radius_limit` -> max_neighbors, `normalize_feats`.
"""

from __future__ import annotations

import argparse
import collections
import os
import pickle
import re
import types
from pathlib import Path
from typing import Any

import torch
import torch._utils

from scene_analogy.field.checkpoint import check_state_dict, save_checkpoint, save_pretrained
from scene_analogy.field.model import ContextDescriptorField, FieldConfig
from scene_analogy.files.errors import DataError

__all__ = ["read_authors_checkpoint", "convert_checkpoint", "main"]

AUTHOR_MODULES = ("threed_front.feature_field",)
_TORCH_NN_CLASSES = {
    "torch.nn.modules.linear": ("Linear", "NonDynamicallyQuantizableLinear", "_LinearWithBias", "Identity"),
    "torch.nn.modules.sparse": ("Embedding",),
    "torch.nn.modules.container": ("Sequential", "ModuleList", "ModuleDict"),
    "torch.nn.modules.activation": ("ReLU", "GELU", "MultiheadAttention"),
    "torch.nn.modules.dropout": ("Dropout",),
    "torch.nn.modules.normalization": ("LayerNorm",),
    "torch.nn.modules.transformer": ("TransformerEncoder", "TransformerEncoderLayer"),
}
_SAFE_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("argparse", "Namespace"): argparse.Namespace,
    ("torch", "device"): torch.device,
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Refused(Exception):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.global_name = f"{module}.{name}"


class StubModule:
    """Inert stand-in for a pickled class: construction and unpickling only record the state."""

    origin = "?"

    def __init__(self, *args, **kwargs):
        self.pickled_state = None

    def __setstate__(self, state):
        # Kept aside, never merged into __dict__: the state is data to read, not to act on.
        object.__setattr__(self, "pickled_state", state)


class ActivationMarker:
    """What a pickled activation function (e.g. torch.nn.functional.relu) turns into."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.name} is an inert marker from a converted checkpoint")


_stubs: dict[str, type] = {}


def _stub_class(module: str, name: str) -> type:
    key = f"{module}.{name}"
    if key not in _stubs:
        _stubs[key] = type(name, (StubModule,), {"origin": key, "__module__": __name__})
    return _stubs[key]


def _resolve(module: str, name: str) -> Any:
    """The allowlist: a safe object for (module, name), or _Refused."""
    if (module, name) in _SAFE_FUNCTIONS:
        return _SAFE_FUNCTIONS[(module, name)]
    if name in _TORCH_NN_CLASSES.get(module, ()) or (module in AUTHOR_MODULES and _IDENTIFIER.match(name)):
        return _stub_class(module, name)
    if module == "torch.nn.functional" and name in ("relu", "gelu"):
        return ActivationMarker(name)
    raise _Refused(module, name)


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose every global goes through the allowlist (`_resolve`)."""

    def find_class(self, module, name):
        module = str(module)
        # Protocol-2 pickles name the builtins module by its Python 2 name.
        return _resolve("builtins" if module == "__builtin__" else module, str(name))


# torch.load takes a "pickle module": anything with an Unpickler class and a load function.
restricted_pickle = types.ModuleType("scene_analogy_restricted_pickle")
restricted_pickle.Unpickler = RestrictedUnpickler
restricted_pickle.load = lambda file, **kwargs: RestrictedUnpickler(file, **kwargs).load()


def _load_tree(path: Path) -> Any:
    if not path.is_file():
        raise DataError(path, "no such file")
    try:
        return torch.load(path, map_location="cpu", pickle_module=restricted_pickle, weights_only=False)
    except _Refused as exc:
        raise DataError(path, f"refused to unpickle global '{exc.global_name}': only tensors, containers and "
                              "the field's module classes are allowed (the file may be malicious)") from None
    except Exception as exc:  # torch/pickle raise many types for foreign or damaged files
        text = str(exc).strip().splitlines()
        raise DataError(path, f"not a readable PyTorch file ({text[0] if text else type(exc).__name__})") from None


def _state(node: Any) -> dict:
    return node.pickled_state if isinstance(node, StubModule) and isinstance(node.pickled_state, dict) else {}


def _collect(node: Any, prefix: str, out: dict, seen: set, path: Path) -> None:
    """state_dict of a stub module tree: parameters, persistent buffers, then children."""
    if id(node) in seen:
        raise DataError(path, f"module '{prefix.rstrip('.')}' appears twice in the tree")
    seen.add(id(node))
    state = _state(node)
    skip = state.get("_non_persistent_buffers_set") or set()
    for table in ("_parameters", "_buffers"):
        for name, tensor in (state.get(table) or {}).items():
            if tensor is None or (table == "_buffers" and name in skip):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise DataError(path, f"'{prefix}{name}' is a {type(tensor).__name__}, not a tensor")
            # A fresh tensor: nothing pickled (hooks, attributes) rides along into our checkpoint.
            out[prefix + name] = tensor.detach().clone()
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            _collect(child, f"{prefix}{name}.", out, seen, path)


def _child(node: Any, dotted: str) -> dict:
    for name in dotted.split("."):
        node = (_state(node).get("_modules") or {}).get(name)
    return _state(node)


def _shape(state_dict: dict, key: str, path: Path) -> tuple:
    if key not in state_dict:
        raise DataError(path, f"key '{key}' is missing: not a descriptor field of the expected layout")
    return tuple(state_dict[key].shape)


def _derive_config(root: Any, state_dict: dict, cfg: Any, path: Path, overrides: dict) -> FieldConfig:
    """FieldConfig from weight shapes, the pickled submodules, the pickled argparse cfg, and overrides."""
    def from_cfg(name: str, default=None):
        return getattr(cfg, name, default) if isinstance(cfg, argparse.Namespace) else default

    width = _shape(state_dict, "summary_emb.weight", path)[1]
    distance = _shape(state_dict, "dist_emb.dist_mlp.2.weight", path)[0]
    hidden = _shape(state_dict, "dist_emb.dist_mlp.0.weight", path)[0]
    classes, semantics = (0, 0)
    if "semantics_emb.weight" in state_dict:
        rows, semantics = _shape(state_dict, "semantics_emb.weight", path)
        classes = rows - 1
    layer_ids = {int(m.group(1)) for key in state_dict if (m := re.match(r"feat_transformer\.layers\.(\d+)\.", key))}
    if not layer_ids:
        raise DataError(path, "no 'feat_transformer.layers.*' weights found")
    layer0 = _child(root, "feat_transformer.layers.0")
    if layer0.get("norm_first", False):
        raise DataError(path, "the encoder layers are pre-norm (norm_first=True); only post-norm is supported")
    activation = layer0.get("activation")
    if isinstance(activation, ActivationMarker) and activation.name != "relu":
        raise DataError(path, f"the encoder layers use {activation.name}; only ReLU is supported")
    heads = overrides.get("num_heads") or _child(root, "feat_transformer.layers.0.self_attn").get("num_heads") \
        or from_cfg("transformer_num_heads")
    radius = overrides.get("radius") or from_cfg("agg_radius")
    if radius is None or heads is None:
        missing = "--radius" if radius is None else "--num_heads"
        raise DataError(path, f"the file does not say its {missing[2:]}; pass {missing}")
    # Read on the pickled parameter: the collected state_dict holds detached copies (requires_grad False).
    semantics_weight = (_child(root, "semantics_emb").get("_parameters") or {}).get("weight")
    fields = dict(
        radius=float(radius), max_neighbors=int(overrides.get("max_neighbors") or from_cfg("agg_radius_limit", 100)),
        num_layers=max(layer_ids) + 1, num_heads=int(heads), distance_emb_size=distance, distance_hidden=hidden,
        semantics_emb_size=semantics, num_classes=classes,
        feedforward=_shape(state_dict, "feat_transformer.layers.0.linear1.weight", path)[0],
        out_dim=_shape(state_dict, "final_lin.weight", path)[0],
        dropout=float(_child(root, "feat_transformer.layers.0.dropout").get("p", 0.1)),
        train_class_embedding=bool(isinstance(semantics_weight, torch.Tensor) and semantics_weight.requires_grad),
        normalize=bool(from_cfg("normalize_feats", True)),
    )
    if distance + semantics != width:
        raise DataError(path, f"summary_emb width {width} is not distance {distance} + semantics {semantics}")
    try:
        return FieldConfig(**fields)
    except ValueError as exc:
        raise DataError(path, f"the derived config is invalid: {exc}") from None


def _plain(value: Any) -> Any:
    """JSON-like copy of a config value (so the output stays loadable with weights_only=True)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def read_authors_checkpoint(path: str | os.PathLike, **overrides) -> tuple[ContextDescriptorField, dict]:
    """(field with the authors' weights, their argparse config as a plain dict) from a pickled module.

    `overrides` may set radius, max_neighbors or num_heads when the file does not say them.
    """
    path = Path(path)
    root = _load_tree(path)
    state_dict: dict = {}
    if isinstance(root, StubModule):
        _collect(root, "", state_dict, set(), path)
        cfg = _state(root).get("cfg")
    elif isinstance(root, dict) and root and all(isinstance(v, torch.Tensor) for v in root.values()):
        state_dict, cfg = dict(root), None  # a bare state_dict: sizes from shapes, the rest from overrides
    else:
        raise DataError(path, f"expected a pickled KeyPointFeatureField module, found {type(root).__name__}")
    field_cfg = _derive_config(root, state_dict, cfg, path, overrides)
    field = field_cfg.build()
    check_state_dict(state_dict, field, path)
    field.load_state_dict(state_dict)
    source_cfg = {k: _plain(v) for k, v in vars(cfg).items()} if isinstance(cfg, argparse.Namespace) else {}
    return field.eval(), source_cfg


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, **overrides) -> ContextDescriptorField:
    """Read the authors' file `src`, write ours at `dst` (a .pth/.pt file, or a folder)."""
    field, source_cfg = read_authors_checkpoint(src, **overrides)
    dst = Path(dst)
    extra = {"converted_from": Path(src).name, "source_config": source_cfg}
    if dst.suffix in (".pth", ".pt") and not dst.is_dir():
        save_checkpoint(dst, field, **extra)
    else:
        save_pretrained(dst, field, **extra)
    return field
