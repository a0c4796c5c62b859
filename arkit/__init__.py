"""ARKitScenes (3DOD): readers of scan meshes and box annotations and the `python -m arkit.*` commands.

Readers and entry modules arrive with the ARKit issue; all logic they use lives in `scene_analogy`.
"""
