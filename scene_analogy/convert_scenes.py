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

from scene_analogy.cli.boundary import user_errors
from scene_analogy.data.eval_pairs import convert_authors_scenes


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m scene_analogy.convert_scenes", description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="scene roots (triplets or their _augment folders)")
    p.add_argument("--allow_pickle", action="store_true", help="required: the files are read with pickle")
    args = p.parse_args(argv)
    if not args.allow_pickle:
        p.error("reading the authors' files needs pickle, which can run code: pass --allow_pickle for files you trust")
    with user_errors():
        converted, plain = convert_authors_scenes(args.folders)
    print(f"converted {converted} scene files; {plain} were already plain")


if __name__ == "__main__":
    main()
