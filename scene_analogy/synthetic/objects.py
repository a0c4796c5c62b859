"""The procedural object pool: parametric furniture standing in for 3D-FUTURE (DESIGN §10).

Every 3D-FRONT class (`classes.THREED_FRONT`) has at least six visibly different designs; each design
is a function of a seeded numpy Generator, so `variants_per_design` variants of it differ in size and
proportions. This module holds the registry (`DESIGNS`, `SUBCLASSES`), the public API and the CLI;
the designs live in `designs_home.py` (classes 0-3) and `designs_work.py` (classes 4-7), built from
`primitives.py` (mesh builders) and `assemblies.py` (shared sub-assemblies).

Canonical frame (that of `pool.ModelInfo`): metres, +y up, the side a person uses faces +z (seat
fronts, open shelf sides, a bed's foot; its headboard is at -z), bottom at y = 0 (pendant lamps too;
the room generator hangs them from the ceiling), bounding box centred at x = z = 0.

Decisions:
- Model ids are `syn_<class tag>_<subclass>_<NN>`, numbered per subclass in design order.
- A variant's Generator is seeded by (seed, crc32(design name), variant), so adding a design or
  changing `variants_per_design` leaves the other models' shapes unchanged.
- Every subclass gets at least 3 models (extra variants when it has few designs), so the split can
  give it >= 2 train and >= 1 test models; the split is drawn per subclass from the seed with a test
  share of `TEST_FRACTION`. Every class has >= 2 subclasses, hence >= 4 train and >= 2 test models.
- `split_by="model"` (default) splits a subclass's models: one design's variants may fall on both sides.
  `split_by="design"` holds out whole designs (`TEST_FRACTION` of a subclass's, at least one, never all):
  no test model shares a design with a training model. Ids and shapes do not depend on the split.

`python -m scene_analogy.synthetic.objects --gallery OUT.png [--seed S]` draws every model.
"""

from __future__ import annotations

import argparse
import math
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import trimesh

from scene_analogy.files import atomic
from scene_analogy.structures.classes import THREED_FRONT
from scene_analogy.structures.pool import ModelInfo, ObjectPool
from scene_analogy.synthetic import designs_home as home
from scene_analogy.synthetic import designs_work as work
from scene_analogy.synthetic.primitives import Parts

TEST_FRACTION = 0.25
MIN_MODELS_PER_SUBCLASS = 3  # 2 train + 1 test
SPLITS_BY = ("model", "design")  # what the train / test split holds out (module docstring)

# Short class names used in model ids.
CLASS_TAGS = {"bed": "bed", "pier/stool": "stool", "others": "others", "sofa": "sofa", "chair": "chair",
              "lighting": "lighting", "table": "table", "cabinet/shelf/desk": "cabinet"}


@dataclass(frozen=True)
class Design:
    """One parametric design: its class, subclass and the function that builds a variant."""

    class_name: str
    subclass: str
    build: Callable[[np.random.Generator], Parts]

    @property
    def name(self) -> str:
        """The build function's name; it seeds the variants, so it must stay stable."""
        return self.build.__name__


def _designs(class_name: str, subclass: str, *builders) -> list[Design]:
    """One `Design` per build function, all of the given class and subclass."""
    return [Design(class_name, subclass, b) for b in builders]


DESIGNS: tuple[Design, ...] = tuple(
    _designs("bed", "double_bed", home.double_platform_bed, home.double_panel_bed, home.four_poster_bed)
    + _designs("bed", "single_bed", home.spindle_single_bed, home.upholstered_single_bed, home.storage_single_bed)
    + _designs("pier/stool", "stool", home.bar_stool, home.square_stool, home.pedestal_stool)
    + _designs("pier/stool", "ottoman", home.cube_ottoman, home.round_ottoman, home.bench_ottoman)
    + _designs("others", "plant", home.bush_plant, home.potted_tree, home.spiky_plant)
    + _designs("others", "decor", home.floor_vase, home.plinth_sculpture, home.folding_screen, home.standing_mirror)
    + _designs("sofa", "multi_seat_sofa", home.modern_sofa, home.chesterfield_sofa)
    + _designs("sofa", "l_shaped_sofa", home.chaise_sofa, home.corner_sofa)
    + _designs("sofa", "loveseat", home.track_loveseat, home.camelback_loveseat)
    + _designs("chair", "dining_chair", work.slat_dining_chair, work.upholstered_dining_chair, work.cantilever_chair)
    + _designs("chair", "armchair", work.club_armchair, work.lounge_armchair)
    + _designs("chair", "office_chair", work.office_chair, work.task_chair)
    + _designs("lighting", "pendant_lamp", work.cone_pendant, work.globe_pendant, work.chandelier)
    + _designs("lighting", "floor_lamp", work.drum_floor_lamp, work.arc_floor_lamp, work.tripod_floor_lamp)
    + _designs("table", "dining_table", work.rect_dining_table, work.round_dining_table, work.trestle_table)
    + _designs("table", "coffee_table", work.shelf_coffee_table, work.round_coffee_table)
    + _designs("table", "side_table", work.tripod_side_table, work.drawer_side_table)
    + _designs("cabinet/shelf/desk", "nightstand", work.drawer_nightstand, work.open_nightstand)
    + _designs("cabinet/shelf/desk", "wardrobe", work.two_door_wardrobe, work.chest_wardrobe)
    + _designs("cabinet/shelf/desk", "bookshelf", work.open_bookshelf, work.cube_bookshelf)
    + _designs("cabinet/shelf/desk", "desk", work.leg_desk, work.pedestal_desk)
    + _designs("cabinet/shelf/desk", "tv_stand", work.cabinet_tv_stand, work.console_tv_stand)
)

# class name -> its subclasses, in design order (the vocabulary the room generator relies on).
SUBCLASSES: dict[str, tuple[str, ...]] = {
    name: tuple(dict.fromkeys(d.subclass for d in DESIGNS if d.class_name == name)) for name in THREED_FRONT.names
}


@dataclass(frozen=True)
class SyntheticModel:
    """A pool entry with its triangle mesh in the canonical frame."""

    info: ModelInfo
    mesh: trimesh.Trimesh
    design: str = ""  # the name of the design function it is a variant of


@dataclass(frozen=True)
class _Planned:
    """A model still to build: its id, design, variant number and split."""

    model_id: str
    design: Design
    variant: int
    split: str


def _plan(seed: int, variants_per_design: int, split_by: str = "model", split_seed: int | None = None) -> list[_Planned]:
    """Ids, designs, variants and splits of every model (no geometry), deterministic for the seed.
    `split_seed` (default: `seed`) alone draws which models or designs are held out, so a root of other
    shapes and rooms (another seed) can hold out the same designs as another root."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0 (got {seed})")
    if variants_per_design < 1:
        raise ValueError(f"variants_per_design must be >= 1 (got {variants_per_design})")
    if split_by not in SPLITS_BY:
        raise ValueError(f"split_by must be one of {', '.join(SPLITS_BY)} (got {split_by!r})")
    planned = []
    for class_name, subclasses in SUBCLASSES.items():
        for subclass in subclasses:
            designs = [d for d in DESIGNS if d.subclass == subclass]
            variants = max(variants_per_design, math.ceil(MIN_MODELS_PER_SUBCLASS / len(designs)))
            members = [(d, v) for d in designs for v in range(variants)]
            test = _test_members(seed if split_seed is None else split_seed, subclass, len(designs), variants, split_by)
            for k, (design, variant) in enumerate(members):
                model_id = f"syn_{CLASS_TAGS[class_name]}_{subclass}_{k:02d}"
                planned.append(_Planned(model_id, design, variant, "test" if k in test else "train"))
    return planned


def _test_members(seed: int, subclass: str, num_designs: int, variants: int, split_by: str) -> set[int]:
    """Indices (design-major: design i's variants are i * variants + v) of a subclass's test models."""
    members = num_designs * variants
    if split_by == "model":
        n_test = min(max(1, round(TEST_FRACTION * members)), members - 2)
        order = np.random.default_rng([seed, zlib.crc32(subclass.encode()), 7]).permutation(members)
        return set(order[:n_test].tolist())
    # Whole designs; at least one stays for training (every subclass has >= 2 designs: a test checks).
    n_test = min(max(1, round(TEST_FRACTION * num_designs)), num_designs - 1)
    held_out = np.random.default_rng([seed, zlib.crc32(subclass.encode()), 8]).permutation(num_designs)[:n_test]
    return {int(i) * variants + v for i in held_out for v in range(variants)}


def _geometry(seed: int, item: _Planned) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (moved to bottom y = 0, bbox centred in xz) and faces of one planned model."""
    rng = np.random.default_rng([seed, zlib.crc32(item.design.name.encode()), item.variant])
    vertices, faces = item.design.build(rng).arrays()
    lo, hi = vertices.min(0), vertices.max(0)
    vertices = vertices - np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
    return vertices, faces


def _info(item: _Planned, vertices: np.ndarray) -> ModelInfo:
    """The pool entry of a planned model, with the bounding box of its placed vertices."""
    class_id = THREED_FRONT.id_of(item.design.class_name)
    return ModelInfo(
        model_id=item.model_id, class_id=class_id, class_name=THREED_FRONT.name_of(class_id),
        subclass=item.design.subclass, split=item.split,
        bbox_min=tuple(float(v) for v in vertices.min(0)), bbox_max=tuple(float(v) for v in vertices.max(0)),
    )


def build_models(seed: int = 0, variants_per_design: int = 2, split_by: str = "model",
                 split_seed: int | None = None) -> list[SyntheticModel]:
    """Every model of the pool with its mesh; the same seed gives identical meshes (whatever `split_by`
    and `split_seed`)."""
    models = []
    for item in _plan(seed, variants_per_design, split_by, split_seed):
        vertices, faces = _geometry(seed, item)
        mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
        models.append(SyntheticModel(_info(item, vertices), mesh, item.design.name))
    return models


def build_pool(seed: int = 0, variants_per_design: int = 2, split_by: str = "model") -> ObjectPool:
    """The pool's `ModelInfo`s only (no trimesh objects, so it is cheap); equal to `build_models`' infos."""
    return ObjectPool([_info(item, _geometry(seed, item)[0]) for item in _plan(seed, variants_per_design, split_by)])


def render_gallery(models: list[SyntheticModel], path, columns: int = 10, dpi: int = 80) -> None:
    """A PNG with one shaded 3D panel per model, titled with its id (test models in red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    rows = math.ceil(len(models) / columns)
    fig = plt.figure(figsize=(columns * 1.9, rows * 2.0))
    light = np.array([0.3, -0.6, 0.75]) / np.linalg.norm([0.3, -0.6, 0.75])  # plot axes, from the viewer's upper left
    palette = plt.get_cmap("tab10")
    for k, model in enumerate(models):
        ax = fig.add_subplot(rows, columns, k + 1, projection="3d")
        # Plot axes (x, -z, y): a proper rotation putting +y up and the +z front towards the viewer.
        v = model.mesh.vertices[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])
        tris = v[model.mesh.faces]
        normals = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
        normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
        shade = 0.35 + 0.65 * np.abs(normals @ light)  # two-sided: winding need not be consistent
        base = np.array(palette(model.info.class_id)[:3])
        ax.add_collection3d(Poly3DCollection(tris, facecolors=shade[:, None] * base, edgecolors="none"))
        lo, hi = v.min(0), v.max(0)
        half = (hi - lo).max() / 2
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), (lo + hi) / 2):
            setter(c - half, c + half)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=20, azim=-60)
        ax.set_axis_off()
        size = "x".join(f"{s:.2f}" for s in model.info.size)
        ax.set_title(f"{model.info.model_id}\n{size} m", fontsize=6,
                     color="red" if model.info.split == "test" else "black")
    fig.tight_layout(pad=0.2)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)


def main(argv=None) -> None:
    """`--gallery OUT.png [--seed S] [--variants_per_design V]`: draw every model to one PNG."""
    parser = argparse.ArgumentParser(description="Draw every model of the synthetic object pool.")
    parser.add_argument("--gallery", required=True, help="output PNG path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants_per_design", type=int, default=2)
    parser.add_argument("--split_by", choices=SPLITS_BY, default="model", help="what the test split holds out")
    args = parser.parse_args(argv)
    models = build_models(args.seed, args.variants_per_design, args.split_by)
    render_gallery(models, args.gallery)
    print(f"wrote {args.gallery} ({len(models)} models)")


if __name__ == "__main__":
    main()
