"""`python -m scene_analogy.convert_checkpoint IN OUT [--radius R] [--max_neighbors K] [--num_heads H]`:
the authors' pickled feature field (IN) as our checkpoint (OUT: a `.pth` file, or a folder for
`model.pth` + `config.json`), read through an allowlist unpickler (`scene_analogy.field.authors`).
"""

from __future__ import annotations

import argparse

from scene_analogy.cli.boundary import user_errors
from scene_analogy.field.authors import convert_checkpoint


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scene_analogy.convert_checkpoint",
                                     description="Convert the authors' pickled feature field into a safe checkpoint.")
    parser.add_argument("src", help="the authors' model.pth (a pickled KeyPointFeatureField)")
    parser.add_argument("dst", help="output .pth file, or a folder for model.pth + config.json")
    parser.add_argument("--radius", type=float, default=None, help="neighbourhood radius, if the file lacks agg_radius")
    parser.add_argument("--max_neighbors", type=int, default=None, help="neighbour cap (default: agg_radius_limit or 100)")
    parser.add_argument("--num_heads", type=int, default=None, help="attention heads, if the file does not say")
    args = parser.parse_args(argv)
    with user_errors():
        field = convert_checkpoint(args.src, args.dst, radius=args.radius, max_neighbors=args.max_neighbors,
                                   num_heads=args.num_heads)
    cfg = field.cfg
    print(f"wrote {args.dst}: {cfg.num_layers} layers, width {cfg.width}, {cfg.num_classes} classes, "
          f"radius {cfg.radius} m, <= {cfg.max_neighbors} neighbours, output {cfg.out_dim}")


if __name__ == "__main__":
    main()
