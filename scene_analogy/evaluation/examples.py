"""Pair files (`sample_scene_pairs/*.tsv`, DESIGN §8.3): which target RoI maps to which reference.

Header `tgt ref tgt_inst ref_inst`, tab-separated, LF or CRLF. `tgt` and `ref` are scene folders
under the scene root; `tgt_inst` are the RoI object indices in the target; `ref_inst` the analogous
reference objects in the same order, or empty when no analogy exists (the right answer is then
"no map"). A row naming a missing folder or an index out of range is skipped with a message naming
the row, the folder and the reason; a file with no usable row is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .evaluation import EvalExample
from .scene import SCENE_FILE, read_triplet
from .skips import SkipLog

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
        cells = text.rstrip("\r").split("\t") + [""] * 2
        try:
            tgt_inst, ref_inst = _indices(cells[2]), _indices(cells[3])
        except ValueError:
            raise DataError(path, f"line {number}: instance lists must be comma-separated integers") from None
        if not cells[0] or not cells[1] or not tgt_inst:
            raise DataError(path, f"line {number}: needs a tgt folder, a ref folder and at least one tgt_inst")
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
