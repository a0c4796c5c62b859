"""3D-FRONT + 3D-FUTURE: readers of the dataset's own files and the `python -m threed_front.*` commands.

Readers and entry modules arrive with the 3D-FRONT issue; all logic they use lives in `scene_analogy`.
"""
