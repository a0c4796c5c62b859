"""3D scene analogies with neural contextual scene maps (Kim et al., ICCV 2025).

The dataset-agnostic core: scene model, neighbour search, descriptor field, matching, metrics.
"""

__version__ = "0.1.0"
