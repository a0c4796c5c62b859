"""`python -m arkit.main_field_match --scene_root ROOT ...`: find scene analogies between pairs
of ARKit scenes (identical, augment, random, manual or hist_match pairs) and score them; writes
metrics.json, pairs.json, maps/ and PNG pictures under --log_dir (`scene_analogy.field_match`)."""

from __future__ import annotations

from scene_analogy.cli.dataset_commands import run_field_match

from . import SPEC


def main(argv=None) -> None:
    run_field_match(argv, "python -m arkit.main_field_match", SPEC)


if __name__ == "__main__":
    main()
