"""The files of this project that a Python file runs: itself, the modules of the `multinerd`
package it imports (directly or through the package's own modules), and, where asked, modules of
folders of scripts it imports by bare name (a benchmark's `from recipe import ...`), looked up in
the folders' order as Python's import path would.

What project.yml's `deps` must name (the product's and the benchmarks' tests check them with it).
"""

import ast
from pathlib import Path
from typing import Optional, Sequence, Set

PACKAGE = Path(__file__).resolve().parent


def module_file(name: str, scripts: Sequence[Path] = ()) -> Optional[Path]:
    """The file of module `name`: `multinerd.x` -> scripts/multinerd/x.py (`multinerd` -> its
    __init__.py); a bare name -> name.py in the first of the `scripts` folders that has it; None
    if it is neither."""
    parts = name.split(".")
    if parts[0] == "multinerd":
        path = PACKAGE.parent.joinpath(*parts)
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        return path if path.is_file() else None
    if len(parts) == 1:
        return next((folder / f"{name}.py" for folder in scripts if (folder / f"{name}.py").is_file()), None)
    return None


def _imported_names(path: Path) -> Set[str]:
    """Every module name an import in `path` can load: `import a.b.c` loads a, a.b and a.b.c;
    `from a import b` loads a and, if it is a module, a.b; relative imports inside the package."""
    tree = ast.parse(path.read_text(encoding="utf8"))
    in_package = path.parent == PACKAGE
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if not in_package:
                    continue
                base = "multinerd" + (f".{base}" if base else "")
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
