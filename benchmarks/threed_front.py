"""Times the 3D-FRONT data commands on a fixture tree: point sampling (models/s) and scene generation
(triplets/s), each the in-process `main()` of its `python -m` module (interpreter start-up excluded).

    python benchmarks/threed_front.py [--num_houses 40] [--num_scenes 400] [--repeats 3]

Targets (issue 6): extract_point_samples >= 10 models/s with the published settings (10,000 surface
samples, subsets 50 100 200 400); main_scene_gen >= 20 triplets/s. Both include reading the raw
files (OBJ meshes; house JSON and the model-box cache); main_scene_gen also writes the pool JSON and
one picture. Prints the median of the repeats after one warm-up run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_seconds  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from scene_analogy.fixtures.threed_front import write_tree  # noqa: E402
from threed_front import extract_point_samples, main_scene_gen  # noqa: E402


def quiet(fn, argv):
    """Run an entry module's main without its printout (warnings stay on stderr)."""
    def call():
        with contextlib.redirect_stdout(io.StringIO()):
            fn(argv)
    return call


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_houses", type=int, default=40)
    p.add_argument("--num_scenes", type=int, default=400)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        summary = write_tree(Path(tmp), args.num_houses, seed=0, progress=False)
        os.chdir(tmp)
        sample_argv = ["--save_num_samples", "50", "100", "200", "400", "--quiet"]
        seconds = median_seconds(quiet(extract_point_samples.main, sample_argv), args.repeats, "cpu")
        print(f"fixture: {summary['houses']} houses, {summary['rooms']} furnished rooms, {summary['models']} models; "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
        print(f"  extract_point_samples  {summary['models'] / seconds:7.1f} models/s   ({seconds:.2f} s for "
              f"{summary['models']} models, 10,000 samples, subsets 50 100 200 400; target >= 10)")
        gen_argv = ["--save_root", "./scenes", "--max_trans_noise", "0.5", "--max_rot_noise", "90",
                    "--num_scenes", str(args.num_scenes), "--quiet"]
        seconds = median_seconds(quiet(main_scene_gen.main, gen_argv), args.repeats, "cpu")
        print(f"  main_scene_gen         {args.num_scenes / seconds:7.1f} triplets/s ({seconds:.2f} s for "
              f"{args.num_scenes} triplets, reading included; target >= 20)")


if __name__ == "__main__":
    main()
