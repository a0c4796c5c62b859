"""Convert the authors' pre-generated scene files once, so they load without pickle from then on.

    python -m scene_analogy.convert_scenes FOLDER [FOLDER ...] --allow_pickle

Every `{train,test}_scene_<i>/scene.npz` under each FOLDER (a triplet root or its `_augment`
folder) is rewritten in place, atomically, with its object arrays made plain: the pickled
`pair_pos_idx_map` dict ({target index: original index}) becomes the (N,) int array of DESIGN §8.3
(-1 for a distractor), and object arrays of strings become unicode arrays. Files without object
arrays are left untouched. Reading a pickle can run code, so the command insists on --allow_pickle:
convert only files you trust (the authors' downloads).
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import numpy as np

from . import atomic
from .cli import user_errors
from .errors import DataError
from .scene import SCENE_FILE, _pickled_idx_map, scene_dirs


def plain_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The file's arrays with every object array made plain, or None when it has none."""
    try:
        with np.load(path, allow_pickle=True) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(path, f"not a readable .npz file ({exc})") from None
    objects = [key for key, value in arrays.items() if value.dtype == object]
    if not objects:
        return None
    for key in objects:
        if key == "pair_pos_idx_map":
            count = len(arrays["pair_pos_obj_id"]) if "pair_pos_obj_id" in arrays else None
            if count is None:
                raise DataError(path, "has pair_pos_idx_map but no pair_pos_obj_id to size it")
            arrays[key] = _pickled_idx_map(path, count)
        elif all(isinstance(v, str) for v in arrays[key].reshape(-1)):
            arrays[key] = arrays[key].astype(str)
        else:
            raise DataError(path, f"key '{key}' holds objects other than strings; cannot convert it")
    return arrays


def convert(folders: list[str]) -> tuple[int, int]:
    """(files converted, files already plain) over every scene folder under `folders`."""
    converted = plain = 0
    for folder in folders:
        dirs = scene_dirs(folder)
        if not dirs:
            raise DataError(folder, "no {train,test}_scene_<i> folders")
        for d in dirs:
            arrays = plain_arrays(d / SCENE_FILE)
            if arrays is None:
                plain += 1
            else:
                atomic.save_npz(d / SCENE_FILE, arrays)
                converted += 1
    return converted, plain


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m scene_analogy.convert_scenes", description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="scene roots (triplets or their _augment folders)")
    p.add_argument("--allow_pickle", action="store_true", help="required: the files are read with pickle")
    args = p.parse_args(argv)
    if not args.allow_pickle:
        p.error("reading the authors' files needs pickle, which can run code: pass --allow_pickle for files you trust")
    with user_errors():
        converted, plain = convert(args.folders)
    print(f"converted {converted} scene files; {plain} were already plain")


if __name__ == "__main__":
    main()
