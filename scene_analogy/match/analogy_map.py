"""`AnalogyMap`: the dense map F(x) = A x + b + d(x) of DESIGN §1, applicable to any points,
savable without pickle.

- A = `linear` (3, 3): yaw rotation · optional mirror · per-axis scale, or a free 3x3 (`affine`).
- b = `offset` (3,).
- d = a thin-plate-spline displacement (`rbf.ThinPlateSpline` with D = 3): `centres` (K, 3),
  `weights` (K, 3), `tail` (4, 3) with rows [constant, x, y, z]. K = 0 means no kernel part (the
  tail, normally zero then, still applies).

Points are rows: F(P) = P A^T + b + d(P). Everything is computed in float64 (torch) and returned in
the caller's type: numpy in -> float64 numpy out; torch in -> torch out on the same device and dtype.

File format (`save` / `load`), a `.npz` of plain arrays (loads with `allow_pickle=False`):
  format_version () int64 = 1
  linear (3, 3) float64, offset (3,) float64
  centres (K, 3), weights (K, 3), tail (4, 3) float64
  cost () float64 (lower is better; may be inf for "not scored")
  roi_points (R, 3) float64 (the RoI keypoints the map was fitted on; (0, 3) if none)
  correspondence (C, 2) int64 rows (target object index, reference object index)
  meta_json () unicode: JSON object of str -> str / int / float / bool
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch

from scene_analogy.files.atomic import save_npz
from scene_analogy.files.errors import DataError
from scene_analogy.match.rbf import ThinPlateSpline

__all__ = ["AnalogyMap", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_CHUNK = 16384  # points per evaluation chunk: (chunk, K) kernel block, ~20 MB for K = 150

# key -> (shape with -1 for a free size, dtype kind, must be finite)
_KEYS = {
    "format_version": ((), "i", True),
    "linear": ((3, 3), "f", True),
    "offset": ((3,), "f", True),
    "centres": ((-1, 3), "f", True),
    "weights": ((-1, 3), "f", True),
    "tail": ((4, 3), "f", True),
    "cost": ((), "f", False),
    "roi_points": ((-1, 3), "f", True),
    "correspondence": ((-1, 2), "i", True),
    "meta_json": ((), "U", False),
}


# dtype kinds accepted per declared kind (integers are fine where floats are expected)
_ACCEPTED_KINDS = {"f": "fiu", "i": "iu", "U": "U"}


def _check_meta(meta: dict) -> dict:
    if not isinstance(meta, dict):
        raise ValueError(f"meta must be a dict, got {type(meta).__name__}")
    clean = {}
    for key, value in meta.items():
        if not isinstance(key, str):
            raise ValueError(f"meta keys must be str, got {key!r}")
        if isinstance(value, (np.integer, np.floating, np.bool_)):
            value = value.item()
        if not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"meta['{key}'] must be str, int, float or bool, got {type(value).__name__}")
        clean[key] = value
    return clean


@dataclass(frozen=True, eq=False)
class AnalogyMap:
    """A dense map F: R^3 -> R^3 (see the module docstring). Arrays are float64 and read-only."""

    linear: np.ndarray
    offset: np.ndarray
    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    tail: np.ndarray = field(default_factory=lambda: np.zeros((4, 3)))
    cost: float = 0.0
    roi_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    correspondence: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        # frozen dataclass: normalise the fields through object.__setattr__ once, here.
        values = {
            "linear": np.asarray(self.linear, dtype=np.float64),
            "offset": np.asarray(self.offset, dtype=np.float64),
            "centres": np.asarray(self.centres, dtype=np.float64).reshape(-1, 3),
            "weights": np.asarray(self.weights, dtype=np.float64).reshape(-1, 3),
            "tail": np.asarray(self.tail, dtype=np.float64),
            "roi_points": np.asarray(self.roi_points, dtype=np.float64).reshape(-1, 3),
            "correspondence": np.asarray(self.correspondence).reshape(-1, 2),
        }
        if values["correspondence"].size and values["correspondence"].dtype.kind not in "iu":
            raise ValueError(f"correspondence must hold integers, got {values['correspondence'].dtype}")
        values["correspondence"] = values["correspondence"].astype(np.int64)
        for name, expected in (("linear", (3, 3)), ("offset", (3,)), ("tail", (4, 3))):
            if values[name].shape != expected:
                raise ValueError(f"{name} must have shape {expected}, got {values[name].shape}")
        if values["centres"].shape != values["weights"].shape:
            raise ValueError(
                f"centres {values['centres'].shape} and weights {values['weights'].shape} must both be (K, 3)"
            )
        for name in ("linear", "offset", "centres", "weights", "tail", "roi_points"):
            if not np.isfinite(values[name]).all():
                raise ValueError(f"{name} contains NaN or inf")
        for name, array in values.items():
            array = array.copy()
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        object.__setattr__(self, "cost", float(self.cost))
        object.__setattr__(self, "meta", _check_meta(dict(self.meta)))

    # ------------------------------------------------------------------ construction

    @classmethod
    def identity(cls) -> "AnalogyMap":
        """F(x) = x."""
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_spline(
        cls,
        linear,
        offset,
        spline: ThinPlateSpline | None,
        cost: float = 0.0,
        roi_points=None,
        correspondence=None,
        meta: dict | None = None,
    ) -> "AnalogyMap":
        """Build a map from A, b (numpy or torch) and a fitted 3-channel displacement spline."""
        def to_numpy(x):
            return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

        kwargs = {}
        if spline is not None:
            if spline.dim != 3:
                raise ValueError(f"the displacement spline must have 3 output channels, got {spline.dim}")
            kwargs = dict(centres=to_numpy(spline.centres), weights=to_numpy(spline.weights),
                          tail=to_numpy(spline.tail))
        return cls(
            to_numpy(linear), to_numpy(offset), **kwargs, cost=float(cost),
            roi_points=np.zeros((0, 3)) if roi_points is None else to_numpy(roi_points),
            correspondence=np.zeros((0, 2), np.int64) if correspondence is None else to_numpy(correspondence),
            meta=meta or {},
        )

    # ------------------------------------------------------------------ evaluation

    def spline(self, device: torch.device | str = "cpu") -> ThinPlateSpline:
        """The displacement d as a torch ThinPlateSpline on `device`."""
        def t(x):
            return torch.tensor(x, dtype=torch.float64, device=device)  # copy: arrays are read-only

        return ThinPlateSpline(t(self.centres), t(self.weights), t(self.tail))

    @staticmethod
    def _as_tensor(points) -> tuple[torch.Tensor, bool]:
        is_numpy = not isinstance(points, torch.Tensor)
        if is_numpy:
            array = np.asarray(points, dtype=np.float64)
            # torch cannot wrap read-only arrays (e.g. a map's own roi_points) without a warning.
            x = torch.from_numpy(array if array.flags.writeable else array.copy())
        else:
            x = points
        if x.dim() != 2 or x.shape[-1] != 3:
            raise ValueError(f"points must have shape (M, 3), got {tuple(x.shape)}")
        if not is_numpy and not x.is_floating_point():
            raise ValueError(f"points must be floating point, got {x.dtype}")
        return x, is_numpy

    def apply(self, points, chunk_size: int = _CHUNK):
        """F(points) for points (M, 3), numpy or torch (any M, evaluated in chunks)."""
        x, is_numpy = self._as_tensor(points)
        x64 = x.detach().to(torch.float64) if is_numpy else x.to(torch.float64)
        linear = torch.tensor(self.linear, device=x.device)
        offset = torch.tensor(self.offset, device=x.device)
        # Explicit sum rather than a matmul, so a point maps bit-identically alone or in a cloud.
        affine = offset + sum(x64[:, j, None] * linear[:, j] for j in range(3))
        out = affine + self.spline(x.device)(x64, chunk_size=chunk_size)
        return out.numpy() if is_numpy else out.to(x.dtype)

    def __call__(self, points, chunk_size: int = _CHUNK):
        return self.apply(points, chunk_size)

    def jacobian(self, points, chunk_size: int = _CHUNK):
        """dF/dx (M, 3, 3) = A + dd/dx, entry [m, i, j] = dF_i/dx_j at points[m] (float64).

        Carries orientations through the map: a direction v at p becomes J(p) v.
        """
        x, is_numpy = self._as_tensor(points)
        x64 = x.detach().to(torch.float64)
        linear = torch.tensor(self.linear, device=x.device)
        out = linear + self.spline(x.device).jacobian(x64, chunk_size=chunk_size)
        return out.numpy() if is_numpy else out

    # ------------------------------------------------------------------ files

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The plain arrays of the file format (module docstring)."""
        return {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "linear": self.linear, "offset": self.offset,
            "centres": self.centres, "weights": self.weights, "tail": self.tail,
            "cost": np.array(self.cost, dtype=np.float64),
            "roi_points": self.roi_points, "correspondence": self.correspondence,
            "meta_json": np.array(json.dumps(self.meta, sort_keys=True)),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the map as `.npz` (atomic: the file is whole or absent)."""
        save_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AnalogyMap":
        """Read a map written by `save`; a bad file raises DataError naming the key."""
        arrays = _read_npz(path)
        if int(arrays["format_version"]) != FORMAT_VERSION:
            raise DataError(path, f"key 'format_version' is {int(arrays['format_version'])}; "
                                  f"this code reads version {FORMAT_VERSION}")
        if arrays["centres"].shape[0] != arrays["weights"].shape[0]:
            raise DataError(path, f"key 'weights' has {arrays['weights'].shape[0]} rows but 'centres' "
                                  f"has {arrays['centres'].shape[0]}")
        try:
            meta = json.loads(str(arrays["meta_json"]))
            meta = _check_meta(meta)
        except (json.JSONDecodeError, ValueError) as error:
            raise DataError(path, f"key 'meta_json' is not a JSON object of str -> str/number: {error}") from None
        fields = {k: arrays[k] for k in ("linear", "offset", "centres", "weights", "tail",
                                         "roi_points", "correspondence")}
        return cls(**fields, cost=float(arrays["cost"]), meta=meta)


def _read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load and validate every key of a map file (shape, dtype kind, finiteness)."""
    if not os.path.isfile(path):
        raise DataError(path, "map file not found")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for key, (shape, kind, finite) in _KEYS.items():
                if key not in data.files:
                    raise DataError(path, f"missing key '{key}' (not an AnalogyMap file?)")
                try:
                    array = data[key]
                except ValueError:
                    raise DataError(path, f"key '{key}' holds a pickled object; refusing to load it") from None
                if array.dtype.kind not in _ACCEPTED_KINDS[kind]:
                    raise DataError(path, f"key '{key}' has dtype {array.dtype}; expected kind '{kind}'")
                if array.ndim != len(shape) or any(e not in (-1, s) for e, s in zip(shape, array.shape)):
                    want = "(" + ", ".join("K" if e == -1 else str(e) for e in shape) + ")"
                    raise DataError(path, f"key '{key}' has shape {array.shape}; expected {want}")
                if finite and not np.isfinite(array).all():
                    raise DataError(path, f"key '{key}' contains NaN or inf")
                arrays[key] = array
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise DataError(path, f"not a readable .npz file ({error})") from None
    return arrays
