"""What every benchmark project's tests check about its project.yml: each command's deps exist
(those in the repository) and name every script it runs and every module of the product
(`../../scripts/multinerd/`) that those scripts import, directly or through the product's own
modules, so that a change to any of them reruns the benchmark. Imported by the tests (each
pytest.ini puts `..` on the path)."""

import ast
import re
from pathlib import Path
from typing import Dict, List, Set

from weasel.util import load_project_config

REPO = Path(__file__).resolve().parent.parent
PRODUCT = REPO / "scripts"
PACKAGE = PRODUCT / "multinerd"


def imported_modules(path: Path) -> Set[str]:
    """The `multinerd` modules a file imports (absolute in a script, relative inside the package)."""
    tree = ast.parse(path.read_text(encoding="utf8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("multinerd."))
        elif isinstance(node, ast.ImportFrom):
            if node.module == "multinerd" or (node.level == 1 and not node.module):
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("multinerd."):
                found.add(node.module.split(".")[1])
            elif node.level == 1 and path.parent == PACKAGE:
                found.add(node.module.split(".")[0])
    return {name for name in found if (PACKAGE / f"{name}.py").exists()}


def product_closure(scripts: List[Path]) -> Set[Path]:
    """The product files `scripts` need: each multinerd module they import and those it imports,
    plus the package's __init__.py."""
    todo = set().union(*(imported_modules(path) for path in scripts))
    done: Set[str] = set()
    while todo:
        name = todo.pop()
        done.add(name)
        todo |= imported_modules(PACKAGE / f"{name}.py") - done
    return {PACKAGE / f"{name}.py" for name in done} | ({PACKAGE / "__init__.py"} if done else set())


def command_problems(project: Path) -> Dict[str, List[str]]:
    """Per command of project/project.yml: the deps in the repository that don't exist, and the
    files it uses that its deps don't name: the scripts and configs its lines name, the project's
    scripts those import or start (`from recipe import`, `"children.py"`), and the product
    modules all of these import."""
    config = load_project_config(project)
    own = sorted((project / "scripts").glob("*.py"))
    problems = {}
    for command in config["commands"]:
        deps = {(project / dep).resolve() for dep in command.get("deps", [])}
        # Data outside the repository (../../../shared/...) may be absent where the tests run.
        missing = [
            dep
            for dep in command.get("deps", [])
            if not (project / dep).exists() and (project / dep).resolve().is_relative_to(REPO)
        ]
        named = {word for line in command["script"] for word in re.findall(r"[^\s=]+\.(?:py|cfg)\b", line)}
        used = {(project / word).resolve() for word in named}
        todo = [path for path in used if path.suffix == ".py"]
        while todo:
            text = todo.pop().read_text(encoding="utf8")
            for other in own:
                if other.resolve() not in used and re.search(
                    rf"\b{other.stem}\.py\b|^\s*(?:from|import) {other.stem}\b", text, re.M
                ):
                    used.add(other.resolve())
                    todo.append(other)
        needed = used | product_closure(sorted(path for path in used if path.suffix == ".py"))
        problems[command["name"]] = missing + sorted(str(path) for path in needed - deps)
    return problems
