"""What every benchmark project's tests check about its project.yml: each command's deps exist
(those in the repository, other than other commands' outputs), name no stale product module, and name every script it runs and
every module of the product (`../../scripts/multinerd/`) that those scripts import, directly or
through the product's own modules, or that the configs it trains, or that trained the pipelines it
loads, name, so that a change to any of them reruns the benchmark.
Imported by the tests (each pytest.ini puts `..` on the path)."""

import re
from pathlib import Path
from typing import Dict, List, Sequence, Set

from weasel.util import load_project_config

from multinerd_dev.imports import imported_files, registered_by_config

REPO = Path(__file__).resolve().parent.parent
PRODUCT = REPO / "scripts" / "multinerd"


def command_problems(project: Path, peers: Sequence[Path] = ()) -> Dict[str, List[str]]:
    """Per command of project/project.yml: the deps in the repository that don't exist, and the
    files it uses that its deps don't name: the scripts and configs its lines name, the project's
    scripts those import or start (`from recipe import`, `"children.py"`), the modules they
    import from other benchmarks' script folders `peers` (searched after the project's own), and
    the product modules all of these import (multinerd_dev.imports); and the product modules that
    the configs it names come from, and, where it loads what another command made, the [nlp] and
    [components] modules of the configs that command trained (or that trained what it loaded);
    and the product modules its deps name that none of these, nor the product scripts and configs
    in its deps, use (stale)."""
    config = load_project_config(project)
    own = sorted((project / "scripts").glob("*.py"))
    problems = {}
    # What another command makes is absent until it runs.
    maker = {out: command["name"] for command in config["commands"] for out in command.get("outputs", [])}
    trained: Dict[str, Set[Path]] = {}  # command -> the configs it names, and those behind what it loads
    for command in config["commands"]:
        deps = {(project / dep).resolve() for dep in command.get("deps", [])}
        # Data outside the repository (../../../shared/...) may be absent where the tests run.
        missing = [
            dep
            for dep in command.get("deps", [])
            if dep not in maker and not (project / dep).exists() and (project / dep).resolve().is_relative_to(REPO)
        ]
        named = {word for line in command["script"] for word in re.findall(r"[^\s=]+\.(?:py|cfg)\b", line)}
        used = {(project / word).resolve() for word in named}
        configs = {path for path in used if path.suffix == ".cfg" and path.is_file()}
        loaded = set().union(*(trained.get(maker[dep], set()) for dep in command.get("deps", []) if dep in maker))
        trained[command["name"]] = configs | loaded
        for path in configs:
            used |= registered_by_config(path)
        for path in loaded:
            used |= registered_by_config(path, ("nlp", "components"))
        todo = [path for path in used if path.suffix == ".py"]
        while todo:
            path = todo.pop()
            # What it imports, of the product and of the benchmark's own scripts, and the
            # benchmark's scripts it starts by file name ("children.py").
            found = imported_files(path, [project / "scripts", *peers])
            text = path.read_text(encoding="utf8")
            found |= {other.resolve() for other in own if re.search(rf"\b{other.stem}\.py\b", text)}
            todo.extend(found - used)
            used |= found
        # Product modules in its deps that nothing it runs imports: stale (moved, or no longer
        # imported). Product scripts it starts as children and configs it has them train, being
        # in its deps, vouch for what they import.
        for dep in deps:
            if dep.parent == REPO / "scripts" and dep.is_file():
                used |= imported_files(dep)
            elif dep.suffix == ".cfg" and dep.is_file():
                used |= registered_by_config(dep)
        stale = sorted(str(dep) for dep in deps - used if dep.suffix == ".py" and dep.is_relative_to(PRODUCT))
        problems[command["name"]] = missing + stale + sorted(str(path) for path in used - deps)
    return problems
