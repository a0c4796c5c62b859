"""The matcher (DESIGN §5): coarse candidate search, local refinement, the thin-plate-spline
displacement (`rbf`) and the dense map object that results (`analogy_map.AnalogyMap`)."""
