"""Reading and writing files: atomic writes, PLY, meshes, JSON, the DataError type and counted skips."""
