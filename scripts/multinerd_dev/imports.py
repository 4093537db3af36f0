"""The files of this project that a Python file runs: itself, the modules of the project's
packages (`multinerd` and its sub-packages, `multinerd_dev`) it imports (directly or through the package's own modules), and, where asked, modules of
folders of scripts it imports by bare name (a benchmark's `from recipe import ...`), looked up in
the folders' order as Python's import path would; and the modules that the functions a config
names come from (the project package's entry points).

What project.yml's `deps` must name (the product's and the benchmarks' tests check them with it).
"""

import ast
from importlib.metadata import distribution
from pathlib import Path
from typing import Dict, Optional, Sequence, Set, Tuple

from confection import Config

# The folder that holds the project's top-level packages, and their names.
SOURCE = Path(__file__).resolve().parents[1]
PACKAGES = ("multinerd", "multinerd_dev")


def module_file(name: str, scripts: Sequence[Path] = ()) -> Optional[Path]:
    """The file of module `name`: `multinerd.data.corpus` -> scripts/multinerd/data/corpus.py (a
    package -> its __init__.py); a bare name -> name.py in the first of the `scripts` folders that
    has it; None if it is neither."""
    parts = name.split(".")
    if parts[0] in PACKAGES:
        path = SOURCE.joinpath(*parts)
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        return path if path.is_file() else None
    if len(parts) == 1:
        return next((folder / f"{name}.py" for folder in scripts if (folder / f"{name}.py").is_file()), None)
    return None


def _imported_names(path: Path) -> Set[str]:
    """Every module name an import in `path` can load: `import a.b.c` loads a, a.b and a.b.c;
    `from a import b` loads a and, if it is a module, a.b; relative imports inside the packages,
    from the package that holds `path`."""
    tree = ast.parse(path.read_text(encoding="utf8"))
    package = list(path.parent.relative_to(SOURCE).parts) if path.parent.is_relative_to(SOURCE) else []
    in_package = bool(package) and package[0] in PACKAGES
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if not in_package:
                    continue
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in found:
            parts = name.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return names


def imported_files(path: Path, scripts: Sequence[Path] = ()) -> Set[Path]:
    """`path` and every file of this project it imports, directly or not (see the module)."""
    seen: Set[Path] = set()
    todo = [path.resolve()]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _imported_names(current):
            found = module_file(name, scripts)
            if found is not None:
                todo.append(found.resolve())
    return seen


def entry_point_modules() -> Dict[Tuple[str, str], Optional[Path]]:
    """(registry, name) -> the module file the installed project's entry point loads, e.g.
    ("tokenizers", "xx_multinerd.CJKCharTokenizer.v1") -> scripts/multinerd/pipeline/tokenizer.py."""
    entry_points = distribution("xx-multinerd-project").entry_points
    return {(point.group.split("_", 1)[1], point.name): module_file(point.module) for point in entry_points}


def registered_by_config(path: Path, sections: Optional[Sequence[str]] = None) -> Set[Path]:
    """The modules of the project that the functions a config names come from: in all of it, or
    in some top-level sections (loading a trained pipeline resolves [nlp] and [components] only)."""
    config = Config().from_disk(path, interpolate=False)
    found, stack = set(), [config[name] for name in (sections or config)]
    modules = entry_point_modules()
    while stack:
        node = stack.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                stack.append(value)
            elif key.startswith("@") and (key[1:], value) in modules:
                found |= imported_files(modules[key[1:], value])
            elif key == "factory" and ("factories", value) in modules:  # a component of the project's
                found |= imported_files(modules["factories", value])
    return found
