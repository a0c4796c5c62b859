"""`python -m threed_front.main_scene_augment --orig_scene_root ROOT`: evaluation pairs with ground
truth from ROOT's held-out triplets, written to `<ROOT>_augment` (`scene_analogy.augment`)."""

from __future__ import annotations

from scene_analogy.cli.dataset_commands import run_scene_augment

from . import SPEC


def main(argv=None) -> None:
    run_scene_augment(argv, "python -m threed_front.main_scene_augment", SPEC)


if __name__ == "__main__":
    main()
