"""`AnalogyMap`: the dense map F(x) = A x + b + d(x) of DESIGN §1, applicable to any points,
savable without pickle.

- A = `linear` (3, 3): yaw rotation · optional mirror · per-axis scale, or a free 3x3 (`affine`).
- b = `offset` (3,).
- d = the sum of up to three parts, each absent when empty:
  a thin-plate spline (`rbf.ThinPlateSpline`, D = 3): `centres` (K, 3), `weights` (K, 3), `tail`
  (4, 3) with rows [constant, x, y, z]; object parts (`blend.py`): box maps T_i(x) = `part_linear`[i]
  x + `part_offset`[i] of P objects, blended by distance to their target boxes `part_centres`,
  `part_sizes`, `part_rots` with `part_blend` = (sharpness, inner, outer); and Gaussian bumps
  `bump_centres` (B, 3), `bump_weights` (B, 3) of width `bump_width`.
Points are rows: F(P) = P A^T + b + d(P), in float64 (torch); returned in the caller's type: numpy
in -> float64 numpy out; torch in -> torch out on the same device and dtype.

File format (`save` / `load`), a `.npz` of plain arrays (loads with `allow_pickle=False`):
  format_version () int64 = 2 (version 1 files, without the part_* and bump_* keys, still load)
  linear (3, 3), offset (3,), centres (K, 3), weights (K, 3), tail (4, 3) float64
  part_linear (P, 3, 3), part_offset (P, 3), part_centres (P, 3), part_sizes (P, 3),
  part_rots (P, 3, 3), part_blend (3,), bump_centres (B, 3), bump_weights (B, 3), bump_width () float64
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
from scene_analogy.match.blend import bumps, parts_displacement
from scene_analogy.match.rbf import ThinPlateSpline

__all__ = ["AnalogyMap", "FORMAT_VERSION"]

FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_CHUNK = 16384  # points per evaluation chunk: (chunk, K) kernel block, ~20 MB for K = 150

# key -> (shape with -1 for a free size, dtype kind, must be finite)
_PART_KEYS = ("part_linear", "part_offset", "part_centres", "part_sizes", "part_rots", "part_blend",
              "bump_centres", "bump_weights", "bump_width")  # absent from version 1 files
_KEYS = {
    "format_version": ((), "i", True),
    "linear": ((3, 3), "f", True),
    "offset": ((3,), "f", True),
    "centres": ((-1, 3), "f", True),
    "weights": ((-1, 3), "f", True),
    "tail": ((4, 3), "f", True),
    "part_linear": ((-1, 3, 3), "f", True),
    "part_offset": ((-1, 3), "f", True),
    "part_centres": ((-1, 3), "f", True),
    "part_sizes": ((-1, 3), "f", True),
    "part_rots": ((-1, 3, 3), "f", True),
    "part_blend": ((3,), "f", True),
    "bump_centres": ((-1, 3), "f", True),
    "bump_weights": ((-1, 3), "f", True),
    "bump_width": ((), "f", True),
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
    part_linear: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    part_offset: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    part_centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    part_sizes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    part_rots: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    part_blend: np.ndarray = field(default_factory=lambda: np.zeros(3))
    bump_centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    bump_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    bump_width: float = 0.0

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
            "part_linear": np.asarray(self.part_linear, dtype=np.float64).reshape(-1, 3, 3),
            "part_blend": np.asarray(self.part_blend, dtype=np.float64).reshape(3),
            "part_rots": np.asarray(self.part_rots, dtype=np.float64).reshape(-1, 3, 3),
        }
        for name in ("part_offset", "part_centres", "part_sizes", "bump_centres", "bump_weights"):
            values[name] = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1, 3)
        self._check_parts(values)
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
        for name in values:
            if name != "correspondence" and not np.isfinite(values[name]).all():
                raise ValueError(f"{name} contains NaN or inf")
        for name, array in values.items():
            array = array.copy()
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        object.__setattr__(self, "cost", float(self.cost))
        object.__setattr__(self, "bump_width", float(self.bump_width))
        object.__setattr__(self, "meta", _check_meta(dict(self.meta)))

    def _check_parts(self, values: dict) -> None:
        num_parts = len(values["part_linear"])
        for name in ("part_offset", "part_centres", "part_sizes", "part_rots"):
            if len(values[name]) != num_parts:
                raise ValueError(f"{name} has {len(values[name])} rows but part_linear has {num_parts}")
        sharpness, inner, outer = values["part_blend"]
        if num_parts and not (sharpness > 0 and 0 <= inner < outer):
            raise ValueError(f"part_blend must be (sharpness > 0, inner >= 0, outer > inner), got {values['part_blend']}")
        if len(values["bump_centres"]) != len(values["bump_weights"]):
            raise ValueError(f"bump_centres {values['bump_centres'].shape} and bump_weights "
                             f"{values['bump_weights'].shape} must both be (B, 3)")
        if len(values["bump_centres"]) and not float(self.bump_width) > 0:
            raise ValueError(f"bump_width must be > 0 with bumps, got {self.bump_width}")

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
        if self.has_parts and len(x64):
            out = out + torch.cat([self._parts(x64[s:s + chunk_size]) for s in range(0, len(x64), chunk_size)])
        return out.numpy() if is_numpy else out.to(x.dtype)

    @property
    def has_parts(self) -> bool:
        """Whether d has object parts or bumps (`blend.py`) beside the spline."""
        return len(self.part_linear) > 0 or len(self.bump_centres) > 0

    def _parts(self, x64: torch.Tensor) -> torch.Tensor:
        """The object parts and bumps of d at float64 points (M, 3) (zero without them)."""
        def t(a):
            return torch.tensor(a, dtype=torch.float64, device=x64.device)

        out = torch.zeros_like(x64)
        if len(self.part_linear):
            out = out + parts_displacement(x64, t(self.part_linear) - t(self.linear), t(self.part_offset) - t(self.offset),
                                           t(self.part_centres), t(self.part_sizes), t(self.part_rots), self.part_blend)
        if len(self.bump_centres):
            out = out + bumps(x64, t(self.bump_centres), t(self.bump_weights), self.bump_width)
        return out

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
        if self.has_parts and len(x64):  # pointwise, so the gradient of a channel's sum is each point's row
            rows = []
            for start in range(0, len(x64), chunk_size):
                with torch.enable_grad():
                    chunk = x64[start:start + chunk_size].clone().requires_grad_(True)
                    moved = self._parts(chunk)
                    rows.append(torch.stack([torch.autograd.grad(moved[:, i].sum(), chunk, retain_graph=i < 2)[0]
                                             for i in range(3)], dim=1))
            out = out + torch.cat(rows)
        return out.numpy() if is_numpy else out

    def in_frame(self, into_source, into_target) -> "AnalogyMap":
        """G(x) = C_t^T F(C_s x) for rotations C_s (into_source) and C_t (into_target) that turn file
        frames into F's: distances are kept, so every part keeps its form (rows: points @ C)."""
        cs, ct = np.asarray(into_source, dtype=np.float64), np.asarray(into_target, dtype=np.float64)
        tail = np.concatenate([self.tail[:1] @ ct, cs.T @ self.tail[1:] @ ct])
        return AnalogyMap(
            ct.T @ self.linear @ cs, self.offset @ ct, self.centres @ cs, self.weights @ ct, tail, self.cost,
            self.roi_points @ cs, self.correspondence, self.meta,
            part_linear=ct.T @ self.part_linear @ cs, part_offset=self.part_offset @ ct,
            part_centres=self.part_centres @ cs, part_sizes=self.part_sizes, part_rots=cs.T @ self.part_rots,
            part_blend=self.part_blend, bump_centres=self.bump_centres @ cs, bump_weights=self.bump_weights @ ct,
            bump_width=self.bump_width)

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
            **{k: getattr(self, k) for k in _PART_KEYS if k != "bump_width"},
            "bump_width": np.array(self.bump_width, dtype=np.float64),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the map as `.npz` (atomic: the file is whole or absent)."""
        save_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AnalogyMap":
        """Read a map written by `save`; a bad file raises DataError naming the key."""
        arrays = _read_npz(path)
        if arrays["centres"].shape[0] != arrays["weights"].shape[0]:
            raise DataError(path, f"key 'weights' has {arrays['weights'].shape[0]} rows but 'centres' "
                                  f"has {arrays['centres'].shape[0]}")
        try:
            meta = json.loads(str(arrays["meta_json"]))
            meta = _check_meta(meta)
        except (json.JSONDecodeError, ValueError) as error:
            raise DataError(path, f"key 'meta_json' is not a JSON object of str -> str/number: {error}") from None
        fields = {k: arrays[k] for k in ("linear", "offset", "centres", "weights", "tail",
                                         "roi_points", "correspondence") + _PART_KEYS if k in arrays}
        if "bump_width" in fields:
            fields["bump_width"] = float(fields["bump_width"])
        try:
            return cls(**fields, cost=float(arrays["cost"]), meta=meta)
        except ValueError as error:  # parts that disagree with each other
            raise DataError(path, f"inconsistent keys: {error}") from None


def _read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load and validate every key of a map file (shape, dtype kind, finiteness)."""
    if not os.path.isfile(path):
        raise DataError(path, "map file not found")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            version = _read_version(path, data)
            for key, (shape, kind, finite) in _KEYS.items():
                if key not in data.files and version == 1 and key in _PART_KEYS:
                    continue  # version 1: no object parts, no bumps
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


def _read_version(path, data) -> int:
    """The file's format_version, checked to be one this code reads."""
    if "format_version" not in data.files:
        raise DataError(path, "missing key 'format_version' (not an AnalogyMap file?)")
    try:
        version = data["format_version"]
    except ValueError:
        raise DataError(path, "key 'format_version' holds a pickled object; refusing to load it") from None
    if version.shape != () or version.dtype.kind not in "iu" or int(version) not in _READABLE_VERSIONS:
        raise DataError(path, f"key 'format_version' is {version!r}; this code reads versions {_READABLE_VERSIONS}")
    return int(version)
