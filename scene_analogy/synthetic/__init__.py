"""The embedded default dataset: procedural furniture and furnished rooms, no download needed.

`python -m scene_analogy.synthetic --save_root DIR --num_scenes N --seed S` writes point samples,
triplets and evaluation pairs in the shared layout of DESIGN §8.3.
"""
