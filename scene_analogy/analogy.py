"""`python -m scene_analogy.analogy`: a scene analogy between two of your own instance-labelled scenes.

    python -m scene_analogy.analogy --tgt T --ref R --roi_ids 3 4 5 --out DIR [--up y|z]
        [--checkpoint PATH] [--topk K] [--transfer FILE ...] [--place MESH --pose POSE.json]
        [--show_candidates]

Writes DIR/map.npz, DIR/maps/map_<k>.npz, DIR/roi_mapped.ply, DIR/maps.json, DIR/analogy.png and
DIR/analogy.html (`user_scenes/outputs.py`; the viewer also draws what was transferred and placed);
`--transfer` writes DIR/transferred_<name> for each point list, `--place` writes DIR/placed_<mesh
name> and DIR/placed_pose.json (`transfer.py`). Scene formats: `user_scenes/formats.py`. The same
in Python (this module re-exports the API):

    from scene_analogy.analogy import load_scene, find_analogy
    result = find_analogy(load_scene("target.ply"), load_scene("reference.ply"), roi_ids=[3, 4, 5])
    result.best.apply(points)  # an AnalogyMap in the files' frames, or None: no analogy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scene_analogy.cli.boundary import user_errors
from scene_analogy.cli.flags import add_picture_flags, instance_id, positive_int, seed
from scene_analogy.files.errors import DataError
from scene_analogy.user_scenes.formats import load_scene

__all__ = ["load_scene", "find_analogy", "main"]


def __getattr__(name: str):
    # The matcher (and torch) load on first use, so a command with a bad input file fails at once.
    if name == "find_analogy":
        from scene_analogy.user_scenes.matching import find_analogy

        return find_analogy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scene_analogy.analogy", description=__doc__.splitlines()[0])
    p.add_argument("--tgt", required=True, help="target scene: .ply, .npz or a folder of per-object meshes")
    p.add_argument("--ref", required=True, help="reference scene (same formats)")
    p.add_argument("--roi_ids", required=True, type=instance_id, nargs="+", help="target instance ids of the region of interest")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--up", choices=("y", "z"), default="y", help="up axis of the input files (default y)")
    p.add_argument("--checkpoint", default=None,
                   help="field checkpoint (default: pretrained/synthetic_default with labels, pretrained/no_semantic without)")
    p.add_argument("--topk", type=positive_int, default=3, help="distinct maps to return, best first")
    p.add_argument("--transfer", nargs="+", default=[], metavar="FILE", help="point lists (.csv, .json, .npy) to map")
    p.add_argument("--place", default=None, metavar="MESH", help="a mesh placed in the target by --pose")
    p.add_argument("--pose", default=None, metavar="POSE.json", help="the placement of --place in the target")
    p.add_argument("--use_map", type=positive_int, default=None,
                   help="transfer with the k-th ranked map (default: the best one, if it is an analogy)")
    p.add_argument("--ignore_labels", action="store_true", help="match without class labels (no_semantic)")
    p.add_argument("--grey_levels", type=positive_int, default=None, help="N of grey-coded PLYs (default: inferred)")
    p.add_argument("--num_keypoints", type=positive_int, default=50, help="farthest-point keypoints per object")
    add_picture_flags(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=seed, default=0)
    return p


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if (args.place is None) != (args.pose is None):
        build_parser().error("--place and --pose go together")
    with user_errors():
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise DataError(args.out, "is a file; --out names the folder the outputs go to")
        target = load_scene(args.tgt, args.up, args.grey_levels, seed=args.seed)
        reference = load_scene(args.ref, args.up, args.grey_levels, seed=args.seed)
        from scene_analogy.user_scenes.matching import find_analogy
        from scene_analogy.user_scenes.outputs import carried_overlays, write_outputs
        from scene_analogy.user_scenes.transfer import (
            place_mesh,
            read_placement,
            read_points,
            transfer_names,
            transfer_points,
            write_points,
        )

        names = transfer_names(args.transfer)  # every input is checked before the matcher runs
        lists = [read_points(f) for f in args.transfer]
        transferring = bool(lists or args.place)
        if transferring and args.use_map is not None and args.use_map > args.topk:
            raise DataError(None, f"--use_map {args.use_map} is beyond --topk {args.topk}: at most {args.topk} "
                                  f"map(s) are returned")
        placement = read_placement(args.place, args.pose, args.up) if args.place else None
        analogy = find_analogy(target, reference, args.roi_ids, args.checkpoint, args.topk,
                               num_keypoints=args.num_keypoints, ignore_labels=args.ignore_labels,
                               device=args.device, seed=args.seed)
        use = analogy.best if args.use_map is None else (
            analogy.maps[args.use_map - 1] if args.use_map <= len(analogy.maps) else None)
        carried = [] if use is None else [transfer_points(use, points, args.up) for points in lists]
        overlays = [] if use is None else carried_overlays(analogy, use, args.use_map or 1,
                                                           list(zip(names, lists, carried)), placement)
        written = write_outputs(analogy, args.out, show_candidates=args.show_candidates, overlays=overlays)
        result = analogy.result
        print(f"checkpoint {analogy.checkpoint} ({'with' if analogy.semantic else 'without'} class labels); "
              f"{len(result.maps)} map(s) in {result.timings.get('total', 0.0):.1f} s")
        for k in range(len(result.maps)):
            pairs = ", ".join(f"{t}->{r}" for t, r in analogy.correspondence_ids(k))
            print(f"  #{k + 1}: cost {result.maps[k].cost:.3f}  objects {pairs}")
        if result.best is None and result.maps:
            print(f"no analogy: the best cost is above the threshold {analogy.threshold}")
        elif result.best is None:  # no candidate at all: e.g. no reference object of the RoI's classes
            print("no analogy: no candidate map (no reference object of the RoI objects' classes?)")
        if transferring and use is None and args.use_map is not None:  # asked for more maps than were found: exit 2
            raise DataError(None, f"--use_map {args.use_map}: only {len(analogy.maps)} map(s) were found; "
                                  f"nothing was transferred")
        if transferring and use is None:  # no analogy: a result, not bad input (exit 1, outputs written)
            hint = "; --use_map K transfers with the K-th map found" if analogy.maps else ""
            print(f"error: no map to transfer with (no analogy{hint})", file=sys.stderr)
            raise SystemExit(1)
        for name, points in zip(names, carried):
            path = Path(args.out) / f"transferred_{name}"
            write_points(path, points)
            written.append(path)
        if placement is not None:
            written.extend(place_mesh(use, placement, args.up, args.out))
    print("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
