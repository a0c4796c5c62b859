"""Evaluation examples: a target, a reference, the RoI and its ground-truth objects, from every pair source.

Pair types (`--scene_pair_type`); scene folders are the root's `test_scene_<i>` (all folders when
it has none), at most `--scene_buffer_size` of them:
- `augment`: `<root>_augment` pairs (DESIGN §6): target = the augmented `pair_pos` scene, reference =
  the folder's `pos` scene, ground truth from `pair_pos_idx_map`.
- `manual`: the rows of a pair file (`sample_scene_pairs/*.tsv`, DESIGN §8.3: header `tgt ref
  tgt_inst ref_inst`, tab-separated, LF or CRLF; an empty `ref_inst` means no analogy). The target is
  the `tgt` folder's `target_prefix` scene (`pair_pos` for 3D-FRONT, `pos` for ARKit). A row naming a
  missing folder or an index out of range is skipped and counted; a file with no usable row is an error.
- `identical`: target and reference are the same `pos` scene; the ground truth is the identity.
- `random` / `hist_match`: the reference is a random other folder / the one with the nearest class
  histogram. No ground truth, though an analogy may exist: scored by Bi-PCP and Chamfer accuracy only.
The RoI of generated pairs is a random kept object plus its 1-2 nearest kept objects (`choose_roi`),
from a generator seeded by (seed, pair index), so it does not depend on which other pairs are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scene_analogy.data.eval_pairs import SPLIT_CODES, augment_protocol, class_histograms, nearest_histogram_scene
from scene_analogy.files.errors import DataError
from scene_analogy.files.skips import SkipLog
from scene_analogy.structures.classes import THREED_FRONT, ClassTable
from scene_analogy.structures.scene import SCENE_FILE, Scene, read_eval_pair, read_triplet, scene_dirs

PAIR_TYPES = ("identical", "augment", "random", "manual", "hist_match")


@dataclass
class EvalExample:
    name: str
    target: Scene
    reference: Scene
    roi: np.ndarray  # (R,) target object indices
    gt_objects: np.ndarray | None  # (R,) reference object index per RoI object; None = no analogy
    analogy_known: bool = True  # False: no ground truth, yet an analogy may exist (random pairs)


def choose_roi(idx_map: np.ndarray, centroids: np.ndarray, rng: np.random.Generator, extra=(1, 2)) -> np.ndarray:
    """A random kept object (idx_map >= 0) plus its 1-2 nearest kept objects; never a distractor."""
    kept = np.flatnonzero(idx_map >= 0)
    if len(kept) == 0:
        raise ValueError("no kept object to build a region of interest from")
    seed_obj = kept[rng.integers(len(kept))]
    count = 1 + int(rng.integers(extra[0], extra[1] + 1))
    dist = np.linalg.norm(centroids[kept, :][:, [0, 2]] - centroids[seed_obj, [0, 2]], axis=1)
    return kept[np.argsort(dist, kind="stable")[:count]]


def augment_root(scene_root: str | os.PathLike) -> Path:
    """`<scene_root>_augment`, where the evaluation pairs of a scene root lie (DESIGN §6)."""
    root = Path(scene_root)
    return root.parent / f"{root.name}_augment"


def pairs_protocol(pair_type: str, scene_root: str | os.PathLike) -> dict:
    """What the metrics record about the pairs: their type and, for augmented pairs, how the targets
    were turned (`global_yaw` of `data.eval_pairs.augment_protocol`)."""
    return {"pairs": pair_type, **(augment_protocol(augment_root(scene_root)) if pair_type == "augment" else {})}


def augment_examples(scene_root: str | os.PathLike, seed: int = 0, limit: int | None = None,
                     allow_pickle: bool = False, classes=None, roi_objects: int | None = None) -> list[EvalExample]:
    """Evaluation pairs of `<scene_root>_augment`: target = augmented `pair_pos`, reference = the
    original `pos` scene of the same folder. The RoI of `test_scene_<i>` is drawn from a generator
    seeded by (seed, i), its own index, so it does not depend on which other pairs are evaluated or
    present (a `train_scene_<i>` pair, read where a root has no test pairs: (seed, 0, i)). `roi_objects`
    N: every RoI is the drawn object and its N - 1 nearest (the same first object as the default's 2-3)."""
    if roi_objects is not None and roi_objects < 1:
        raise DataError(None, f"roi_objects must be >= 1, got {roi_objects}")
    extra = (1, 2) if roi_objects is None else (roi_objects - 1, roi_objects - 1)
    root, aug_root = Path(scene_root), augment_root(scene_root)
    dirs = scene_dirs(aug_root, "test") or scene_dirs(aug_root)
    if not dirs:
        raise DataError(aug_root, "no evaluation pairs found (run the augmentation step first)")
    examples = []
    for d in dirs[:limit]:
        split, _, index = d.name.rpartition("_scene_")
        roi_seed = [seed, int(index)] if split == "test" else [seed, SPLIT_CODES[split], int(index)]
        pair = read_eval_pair(d / "scene.npz", classes, allow_pickle=allow_pickle)
        reference = read_triplet(root / d.name / "scene.npz", ("pos",), classes)["pos"]
        if pair.idx_map.size and pair.idx_map.max() >= len(reference):
            raise DataError(d / "scene.npz", f"key 'pair_pos_idx_map' names object {pair.idx_map.max()}, out of range "
                                             f"for the {len(reference)} objects of {root / d.name / 'scene.npz'}")
        roi = choose_roi(pair.idx_map, pair.scene.bbox_centroids, np.random.default_rng(roi_seed), extra)
        examples.append(EvalExample(d.name, pair.scene, reference, roi, pair.idx_map[roi]))
    return examples


@dataclass(frozen=True)
class PairSource:
    pair_type: str
    scene_root: str
    target_prefix: str = "pair_pos"
    pair_file: str | None = None
    buffer_size: int = -1
    allow_pickle: bool = False
    classes: ClassTable = THREED_FRONT

    def __post_init__(self) -> None:
        if self.pair_type not in PAIR_TYPES:
            raise ValueError(f"pair_type must be one of {PAIR_TYPES}, got {self.pair_type!r}")
        if self.pair_type == "manual" and not self.pair_file:
            raise DataError(None, "--scene_pair_type manual needs --scene_pair_file")


def _buffer(src: PairSource) -> list[Path]:
    dirs = scene_dirs(src.scene_root, "test") or scene_dirs(src.scene_root)
    dirs = dirs if src.buffer_size < 0 else dirs[: src.buffer_size]
    if not dirs:
        raise DataError(src.scene_root, "no {train,test}_scene_<i> folders found")
    return dirs


def load_examples(src: PairSource, seed: int) -> list[EvalExample]:
    """The evaluation examples of one pass (module docstring)."""
    if src.pair_type == "augment":
        limit = None if src.buffer_size < 0 else src.buffer_size
        return augment_examples(src.scene_root, seed=seed, limit=limit, allow_pickle=src.allow_pickle,
                                classes=src.classes)
    if src.pair_type == "manual":
        return manual_examples(src.pair_file, src.scene_root, src.target_prefix)
    dirs = _buffer(src)
    refs = [read_triplet(d / SCENE_FILE, ("pos",))["pos"] for d in dirs]
    if src.pair_type == "identical":
        rois = [choose_roi(np.arange(len(s)), s.bbox_centroids, np.random.default_rng([seed, i])) for i, s in enumerate(refs)]
        return [EvalExample(d.name, s, s, roi, roi) for d, s, roi in zip(dirs, refs, rois)]
    if len(dirs) < 2:
        raise DataError(src.scene_root, f"--scene_pair_type {src.pair_type} needs at least two scene folders")
    hist = class_histograms(refs, len(src.classes))
    examples = []
    for i, d in enumerate(dirs):
        rng = np.random.default_rng([seed, i])
        j = nearest_histogram_scene(hist, i) if src.pair_type == "hist_match" else (i + 1 + int(rng.integers(len(dirs) - 1))) % len(dirs)
        target = refs[i] if src.target_prefix == "pos" else read_triplet(d / SCENE_FILE, (src.target_prefix,))[src.target_prefix]
        roi = choose_roi(np.arange(len(target)), target.bbox_centroids, rng)
        examples.append(EvalExample(f"{d.name}->{dirs[j].name}", target, refs[j], roi, None, analogy_known=False))
    return examples


# -- pair files (manual pairs) --

HEADER = ["tgt", "ref", "tgt_inst", "ref_inst"]


@dataclass(frozen=True)
class PairRow:
    line: int
    tgt: str
    ref: str
    tgt_inst: tuple[int, ...]
    ref_inst: tuple[int, ...] | None  # None: the pair has no analogy


def _indices(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t.strip() != "")


def read_pair_file(path: str | os.PathLike) -> list[PairRow]:
    """Parse a pair file; malformed rows are errors here (they say nothing about any scene)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "pair file not found")
    lines = path.read_text(encoding="utf-8").splitlines()  # handles LF and CRLF
    if not lines or lines[0].strip().split("\t") != HEADER:
        raise DataError(path, f"the first line must be the header {' / '.join(HEADER)} (tab-separated)")
    rows = []
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        cells = text.rstrip("\r").split("\t") + [""] * 3  # a row may end before ref_inst (or tgt_inst)
        try:
            tgt_inst, ref_inst = _indices(cells[2]), _indices(cells[3])
        except ValueError:
            raise DataError(path, f"line {number}: instance lists must be comma-separated integers") from None
        if not cells[0] or not cells[1] or not tgt_inst:
            raise DataError(path, f"line {number}: needs a tgt folder, a ref folder and at least one tgt_inst "
                                  "(tab-separated)")
        if ref_inst and len(ref_inst) != len(tgt_inst):
            raise DataError(path, f"line {number}: {len(tgt_inst)} tgt_inst but {len(ref_inst)} ref_inst")
        rows.append(PairRow(number, cells[0], cells[1], tgt_inst, ref_inst or None))
    return rows


def manual_examples(path: str | os.PathLike, scene_root: str | os.PathLike, target_prefix: str = "pair_pos") -> list[EvalExample]:
    """Evaluation examples of a pair file: target = the `tgt` folder's `target_prefix` scene
    (`pair_pos` for 3D-FRONT, `pos` for ARKit), reference = the `ref` folder's `pos` scene.
    Skipped rows are counted per reason, one warning line each (printed before any error)."""
    skips = SkipLog()
    try:
        return _manual_examples(path, scene_root, target_prefix, skips)
    finally:
        skips.report()


def _manual_examples(path, scene_root, target_prefix: str, skips: SkipLog) -> list[EvalExample]:
    root = Path(scene_root)
    examples = []
    for row in read_pair_file(path):
        tgt_file, ref_file = root / row.tgt / SCENE_FILE, root / row.ref / SCENE_FILE
        missing = next((f for f in (tgt_file, ref_file) if not f.is_file()), None)
        if missing is not None:
            skips.add("pair rows", f"scene folder missing or without {SCENE_FILE}", path,
                      f"line {row.line}: {missing.parent}")
            continue
        target = read_triplet(tgt_file, (target_prefix,))[target_prefix]
        reference = read_triplet(ref_file, ("pos",))["pos"]
        bad = [(name, i, n) for name, idx, n in (("tgt_inst", row.tgt_inst, len(target)),
                                               ("ref_inst", row.ref_inst or (), len(reference)))
               for i in idx if not 0 <= i < n]
        if bad:
            name, i, n = bad[0]
            folder = row.tgt if name == "tgt_inst" else row.ref
            skips.add("pair rows", f"{name} out of range", path,
                      f"line {row.line}: {name} {i} is out of range for {root / folder} ({n} objects)")
            continue
        gt = None if row.ref_inst is None else np.asarray(row.ref_inst, dtype=np.int64)
        examples.append(EvalExample(f"{row.tgt}->{row.ref}", target, reference, np.asarray(row.tgt_inst), gt))
    if not examples:
        raise DataError(path, f"no usable row for scene root {root}")
    return examples
