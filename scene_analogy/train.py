"""`python -m scene_analogy.train`: train a context descriptor field on scene triplets (DESIGN §4).

The published trainer flags and ours (`--preset`, `--steps`, `--device`, ...); the loop is
`scene_analogy.training.loop.train`.
"""

from __future__ import annotations

from scene_analogy.cli.dataset_commands import run_trainer


def main(argv=None) -> None:
    run_trainer(argv, "python -m scene_analogy.train", preset_default="fast")


if __name__ == "__main__":
    main()
