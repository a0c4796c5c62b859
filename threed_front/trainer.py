"""`python -m threed_front.trainer --scene_root ROOT ...`: train the context descriptor field on
3D-FRONT triplets (`scene_analogy.train`); point samples default to data/3d_front_point_samples.
Without --epochs or --steps it runs the published default of 100 epochs and prints the planned steps;
--wandb without credentials logs offline under --log_dir and says so."""

from __future__ import annotations

from scene_analogy.cli.dataset_commands import run_trainer

from . import SPEC


def main(argv=None) -> None:
    run_trainer(argv, "python -m threed_front.trainer", SPEC.preset, SPEC.point_sample_root, len(SPEC.classes))


if __name__ == "__main__":
    main()
