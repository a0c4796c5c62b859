"""What the bad-input rows are made of (`cases.py`, `cases_arkit.py`): the `Case` row, the usual kinds
of damage (truncate, empty, edit an npz key, malicious pickle, edited house / model files, pair files)
and the flags each command runs with."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .workspace import OWN_PAIR, Workspace, copy_tree, npz_arrays

Argv = Callable[[Workspace, Path], list]
Make = Callable[[Workspace, Path], None]


@dataclass(frozen=True)
class Case:
    name: str
    module: str
    argv: Argv
    make: Make | None = None
    expect: str = "error"  # or "skip"
    file: str = ""  # what the message must name (as the user gave it)
    problem: str = ""  # regex the message must match
    outputs: tuple[str, ...] = ("out",)  # relative to the case folder
    timeout: float = 120.0
    env: dict = field(default_factory=dict)


# -- kinds of damage ---------------------------------------------------------------------------------------

class Malicious:
    """Unpickling this runs os.mkdir(marker): the suite checks the marker never appears."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def marker(d: Path) -> str:
    return str(d / "PWNED")


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = Path(src).read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])


def empty(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def edit_npz(path: Path, **changes) -> None:
    """Rewrite an npz with some keys replaced (None deletes one); object arrays are pickled by numpy."""
    arrays = npz_arrays(path)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value(arrays[key]) if callable(value) else value
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def malicious_torch(path: Path, d: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": Malicious(marker(d)), "config": {}}, path)


def checkpoint_copy(ws: Workspace, d: Path, name: str = "ckpt") -> Path:
    return copy_tree(ws.checkpoint, d / name)


def other_config_checkpoint(ws: Workspace, d: Path) -> None:
    """model.pth whose config says 2 layers over the weights of a 1-layer field."""
    import torch

    ckpt = checkpoint_copy(ws, d)
    payload = torch.load(ckpt / "model.pth", weights_only=True)
    payload["config"]["num_layers"] = 2
    torch.save(payload, ckpt / "model.pth")
    (ckpt / "config.json").unlink()


def nan_weight_checkpoint(ws: Workspace, d: Path) -> None:
    """model.pth of the workspace's field with one weight NaN (a diverged run's)."""
    import torch

    ckpt = checkpoint_copy(ws, d)
    payload = torch.load(ckpt / "model.pth", weights_only=True)
    payload["state_dict"]["final_lin.weight"][0, 0] = float("nan")
    torch.save(payload, ckpt / "model.pth")


def disagreeing_sidecar(ws: Workspace, d: Path) -> None:
    import json

    ckpt = checkpoint_copy(ws, d)
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["radius"] = 2.0
    (ckpt / "config.json").write_text(json.dumps(cfg))


def scenes_copy(ws: Workspace, d: Path) -> Path:
    copy_tree(ws.scenes.parent / f"{ws.scenes.name}_augment", d / "scenes_augment")
    return copy_tree(ws.scenes, d / "scenes")


def own_npz(d: Path, name: str = "target.npz", **changes) -> Path:
    """The sample target as an NPZ (points, instance, label), with some arrays replaced."""
    from scene_analogy.user_scenes.formats import load_scene

    scene = load_scene(OWN_PAIR / "target.ply")
    arrays = {"points": scene.points, "instance": scene.instance, "label": scene.labels}
    arrays.update({k: (v(arrays[k]) if callable(v) else v) for k, v in changes.items()})
    path = d / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def house_edit(ws: Workspace, d: Path, edit: Callable[[dict], None]) -> None:
    """Copy the house folder; apply `edit` to the first house's JSON."""
    import json

    houses = copy_tree(ws.houses, d / "houses")
    first = sorted(houses.glob("*.json"))[0]
    house = json.loads(first.read_text())
    edit(house)
    first.write_text(json.dumps(house))


def furniture_rooms(house: dict) -> list[dict]:
    uids = {f["uid"] for f in house["furniture"]}
    return [r for r in house["scene"]["room"] if sum(c["ref"] in uids for c in r["children"]) >= 2]


def keep_one_piece(house: dict) -> None:
    uids = {f["uid"] for f in house["furniture"]}
    room = furniture_rooms(house)[0]
    pieces = [c for c in room["children"] if c["ref"] in uids]
    room["children"] = [c for c in room["children"] if c["ref"] not in uids] + pieces[:1]


def zero_scale(house: dict) -> None:
    uids = {f["uid"] for f in house["furniture"]}
    next(c for c in furniture_rooms(house)[0]["children"] if c["ref"] in uids)["scale"] = [0.0, 0.0, 0.0]


def nan_position(house: dict) -> None:
    uids = {f["uid"] for f in house["furniture"]}
    next(c for c in furniture_rooms(house)[0]["children"] if c["ref"] in uids)["pos"] = [float("nan"), 0.0, 0.0]


def model_subset(ws: Workspace, d: Path, count: int = 3) -> Path:
    """A model folder with links to `count` good models (sampling all ~100 would take a while)."""
    root = d / "models"
    root.mkdir(parents=True)
    for folder in sorted(p for p in ws.models.iterdir() if p.is_dir())[:count]:
        (root / folder.name).symlink_to(folder, target_is_directory=True)
    return root


def broken_model(ws: Workspace, d: Path, obj_text: str | None, count: int = 2) -> None:
    root = model_subset(ws, d, count)
    (root / "broken").mkdir()
    if obj_text is not None:
        (root / "broken" / "raw_model.obj").write_text(obj_text)


def model_info_edit(ws: Workspace, d: Path, edit: Callable[[list], None]) -> None:
    import json

    rows = json.loads((ws.models / "model_info.json").read_text())
    edit(rows)
    (d / "model_info.json").write_text(json.dumps(rows))


def pair_file(d: Path, rows: list[str], name: str = "pairs.tsv", newline: str = "\n") -> None:
    text = newline.join(["tgt\tref\ttgt_inst\tref_inst"] + rows) + newline
    (d / name).write_bytes(text.encode())


# -- flags of each command -----------------------------------------------------------------------------------

def analogy(tgt, ref=None, *extra) -> list:
    return ["--tgt", str(tgt), "--ref", str(ref or OWN_PAIR / "reference.ply"), "--roi_ids", "7", "8", "4",
            "--out", "out", *extra]


def demo(ws: Workspace, checkpoint=None, scene_root=None) -> list:
    return ["--checkpoint", str(checkpoint or ws.checkpoint), "--scene_root", str(scene_root or ws.scenes),
            "--num_pairs", "3", "--log_dir", "out", "--num_pictures", "0", "--global_yaw", "grid"]  # the workspace's pairs


TINY_TRAIN = ["--steps", "2", "--num_workers", "0", "--transformer_num_layers", "1", "--transformer_feedforward", "32",
              "--agg_radius_limit", "16", "--val_scenes", "2", "--val_every", "1", "--num_cache_query", "20"]


def train(scene_root, *extra) -> list:
    return ["--scene_root", str(scene_root), "--log_dir", "out", *TINY_TRAIN, *extra]


def match(ws: Workspace, scene_root=None, *extra, checkpoint=None) -> list:
    return ["--scene_root", str(scene_root or ws.scenes), "--load_local_feature_field", str(checkpoint or ws.checkpoint),
            "--log_dir", "out", "--global_num_rot", "2", "--global_topk", "4", "--num_vis", "0", "--quiet", *extra]


def manual(ws: Workspace, pairs: str, *extra) -> list:
    return match(ws, None, "--scene_pair_type", "manual", "--scene_pair_file", pairs, *extra)


def sample(obj_root, *extra) -> list:
    return ["--obj_root", str(obj_root), "--save_root", "out", "--mesh_num_samples", "200", "--save_num_samples", "20",
            "--quiet", *extra]


def scene_gen(ws: Workspace, houses=None, model_info=None, obj_root=None) -> list:
    return ["--obj_root", str(obj_root or ws.models), "--scene_root", str(houses or ws.houses),
            "--obj_model_info_path", str(model_info or ws.models / "model_info.json"), "--save_root", "out",
            "--point_sample_root", "no_samples", "--train_ratio", "0.5", "--quiet"]


def augment(scene_root, *extra) -> list:
    return ["--orig_scene_root", str(scene_root), "--save_root", "out", "--quiet", *extra]


AUG0 = "scenes_augment/test_scene_0/scene.npz"
TEST0 = "scenes/test_scene_0/scene.npz"
TRAIN0 = "scenes/train_scene_0/scene.npz"
