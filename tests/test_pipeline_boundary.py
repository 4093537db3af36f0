"""The one hard boundary: what ships inside the model (`spacy package --code`, every module of
multinerd/pipeline/) imports nothing of the project, since in the package each module is a
top-level copy beside the model, with no `multinerd` to import."""

import ast
from pathlib import Path
from typing import List

from multinerd.packaging.build import PIPELINE, shipped_modules

PROJECT_PACKAGES = ("multinerd", "multinerd_dev")


def project_imports(path: Path) -> List[str]:
    """The imports in `path` of the project's packages, or relative ones (a sibling module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] in PROJECT_PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] in PROJECT_PACKAGES:
                found.append("." * node.level + (node.module or ""))
    return found


def test_the_shipped_modules_are_the_pipeline_folders():
    assert shipped_modules() == sorted(set(PIPELINE.glob("*.py")) - {PIPELINE / "__init__.py"})
    assert {path.stem for path in shipped_modules()} == {
        "bio_tagger",
        "colors",
        "entity_scores",
        "precision",
        "tokenizer",
    }


def test_no_shipped_module_imports_the_project():
    assert {path.name: project_imports(path) for path in shipped_modules()} == {
        path.name: [] for path in shipped_modules()
    }


def test_an_import_of_the_project_would_be_caught(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import spacy\nfrom multinerd.labels import LANGUAGES\nimport multinerd_dev.measure\nfrom . import x\n"
    )
    assert project_imports(module) == ["multinerd.labels", "multinerd_dev.measure", "."]
