"""No pickle by default, anywhere in the repository: every `torch.load` passes `weights_only=True`,
every `np.load` passes `allow_pickle=False`, and nothing calls `pickle.load(s)`, except the few
places that read the authors' pickled files, each behind an explicit opt-in (`--allow_pickle`) or
through the restricted unpickler of `convert_checkpoint`."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("scene_analogy", "threed_front", "arkit", "benchmarks", "scripts", "examples")
# (file, function) -> why pickle is allowed there
ALLOWED = {
    ("scene_analogy/structures/scene.py", "_pickled_idx_map"): "the authors' idx map; only with --allow_pickle",
    ("scene_analogy/data/eval_pairs.py", "plain_arrays"): "one-off conversion; the command insists on --allow_pickle",
    ("scene_analogy/field/authors.py", "_load_tree"): "restricted unpickler: an allowlist of inert stubs",
}


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<expr>"
    return None


def _calls():
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")) if (REPO / folder).is_dir() else []:
            tree = ast.parse(path.read_text(), filename=str(path))
            parents = {}
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    parents[child] = node
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
                    function, up = None, node
                    while up in parents:
                        up = parents[up]
                        if isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            function = up.name
                            break
                    yield path.relative_to(REPO).as_posix(), function, owner, node.func.attr, node


def test_every_load_refuses_pickle_by_default():
    offenders, allowed_seen = [], set()
    for rel, function, owner, attr, call in _calls():
        where = f"{rel}:{call.lineno} ({function})"
        allowed = (rel, function) in ALLOWED
        if owner == "torch" and attr == "load":
            ok = _keyword(call, "weights_only") is True
        elif owner == "np" and attr == "load":
            ok = _keyword(call, "allow_pickle") is False
        elif owner == "pickle" and attr in ("load", "loads"):
            ok = False
        else:
            continue
        if not ok and allowed:
            allowed_seen.add((rel, function))
        elif not ok:
            offenders.append(where)
    assert offenders == [], "loads that may unpickle: " + ", ".join(offenders)
    assert allowed_seen == set(ALLOWED), "the allowlist names places that no longer unpickle"
