"""The package's layout stays as DESIGN §2 draws it: one folder per stage, every import running downward,
no import circle (deferred imports inside functions count too), few top-level modules, short docstrings."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "scene_analogy"
# Higher imports lower, never the other way; stages of equal rank do not import each other. The command
# faces (top-level modules and `__main__`s) sit above everything. Order of DESIGN §2:
# commands -> cli -> evaluation / training / user_scenes -> data / baselines -> match / vis -> field /
# structures -> ops / files. `synthetic` (the embedded data) sits with the consumers of data, `fixtures`
# (raw trees and known-answer pairs built from it) just below the command layer.
RANKS = {"files": 0, "ops": 0, "structures": 1, "field": 1, "match": 2, "vis": 2, "data": 3, "baselines": 3,
         "evaluation": 4, "training": 4, "user_scenes": 4, "synthetic": 4, "fixtures": 5, "cli": 6, "faces": 7}
MAX_TOP_LEVEL_MODULES = 10
MAX_DOCSTRING_LINES = 25


def module_files(root: Path | None = None) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages by their __init__)."""
    root = root or REPO / PACKAGE
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that `name` imports anywhere in its file (also inside functions), plus the
    packages whose __init__ such an import runs first."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != PACKAGE or target == name:
                continue
            found.add(target)
            parts = target.split(".")
            for k in range(2, len(parts)):  # parent packages run first, unless the importer lives inside them
                parent = ".".join(parts[:k])
                if not (name + ".").startswith(parent + "."):
                    found.add(parent)
    return {t for t in found if t in modules and t != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def stage(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1:
        return "root"
    if len(parts) == 2 and (REPO / PACKAGE / f"{parts[1]}.py").is_file() or parts[-1] == "__main__":
        return "faces"
    return parts[1]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_circle_finder_finds_circles():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    found = circles(import_graph())
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_every_import_runs_downward():
    upward = []
    for name, targets in import_graph().items():
        here = stage(name)
        for target in sorted(targets):
            there = stage(target)
            if here in ("root", there) or there == "root":
                continue
            assert here in RANKS and there in RANKS, f"{name} or {target}: a stage missing from RANKS"
            if RANKS[here] <= RANKS[there]:
                upward.append(f"{name} ({here}) -> {target} ({there})")
    assert upward == [], "imports that do not run downward:\n" + "\n".join(upward)


def test_every_stage_folder_is_ranked():
    folders = {p.name for p in (REPO / PACKAGE).iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(RANKS) - {"faces"}


def test_the_core_never_imports_a_dataset_package():
    modules = module_files()
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("threed_front", "arkit") for n in names if not
                               getattr(node, "level", 0)), f"{name} imports a dataset package"


def test_top_level_holds_only_the_command_faces():
    top = sorted(p.name for p in (REPO / PACKAGE).glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_module_docstrings_are_short():
    long = []
    for package in (PACKAGE, "threed_front", "arkit"):
        for name, path in module_files(REPO / package).items():
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)
            if doc is not None and doc.count("\n") + 1 > MAX_DOCSTRING_LINES:
                long.append(f"{name}: {doc.count(chr(10)) + 1} lines")
    assert long == [], f"module docstrings over {MAX_DOCSTRING_LINES} lines (histories go to docs/decisions.md): {long}"
