"""Build the package of a trained pipeline that installs from public distributions alone.

`spacy package` requires the distributions of the functions the pipeline's config names. In this
project's environment this project's own distribution (pyproject.toml, on no package index)
serves them through entry points, as catalogue prefers entry points, so spaCy requires it too;
yet the package needs nothing of it: the code the config names travels inside it (`--code`) and
registers itself: every module of multinerd/pipeline/ (`shipped_modules`, the one list).
`package_model` runs `spacy package --build none` with that code, then `build_package` drops that
requirement from the folder it wrote and builds the sdist and wheel as `spacy package` does, its output kept for errors.
It also drops the empty author fields spaCy fills in (its card shows an empty author as the link
"[n/a]()") and writes the card again from the meta, with spaCy's own function.
"""

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Iterable, List, Sequence, Set

import srsly
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from spacy.cli.package import generate_readme
from spacy.util import packages_distributions

# What ships inside the model: the modules of this folder, each a top-level module of the package.
PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"
# This project's top-level module: the distribution that provides it is this project's own.
PROJECT_MODULE = "multinerd"
FORMATS = ("sdist", "wheel")
AUTHOR_FIELDS = ("author", "email", "url")


class BuildError(Exception):
    """`python -m build` failed; the message is its output."""


def shipped_modules() -> List[Path]:
    """The files `spacy package --code` ships: every module of multinerd/pipeline/."""
    return sorted(path for path in PIPELINE.glob("*.py") if path.name != "__init__.py")


def project_distributions() -> Set[str]:
    """The canonical names of the installed distributions that provide this project's code."""
    return {canonicalize_name(name) for name in packages_distributions().get(PROJECT_MODULE, [])}


def public_requirements(requirements: Iterable[str], own: Set[str]) -> List[str]:
    """The requirements less those on this project's own distributions."""
    return [req for req in requirements if canonicalize_name(Requirement(req).name) not in own]


def wheel_requirements(wheel: Path) -> List[str]:
    """The Requires-Dist lines of a wheel's metadata."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode("utf8"))
    return metadata.get_all("Requires-Dist") or []


def build_package(folder: Path, formats: Sequence[str]) -> List[Path]:
    """Build FORMATS of the package folder into FOLDER/dist, requiring public distributions only;
    returns what FOLDER/dist holds."""
    meta = srsly.read_json(folder / "meta.json")
    meta["requirements"] = public_requirements(meta.get("requirements", []), project_distributions())
    meta = {key: value for key, value in meta.items() if value or key not in AUTHOR_FIELDS}
    srsly.write_json(folder / "meta.json", meta)
    # The card at the top (the sdist's and wheel's description) and the one inside the package.
    package = f"{meta['lang']}_{meta['name']}"
    for card in (folder / "README.md", folder / package / f"{package}-{meta['version']}" / "README.md"):
        card.write_text(generate_readme(meta), encoding="utf8")
    # No isolation: the environment's setuptools builds it, offline, as `spacy package` would.
    command = [sys.executable, "-m", "build", "--no-isolation", *(f"--{fmt}" for fmt in formats), "."]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, encoding="utf8")
    if result.returncode != 0:
        raise BuildError(result.stdout + result.stderr)
    return sorted((folder / "dist").iterdir())


def package_model(model: Path, output: Path, name: str, version: str, formats: Sequence[str]) -> List[Path]:
    """`spacy package` MODEL into OUTPUT/<lang>_<name>-<version> with the shipped modules as its
    code and the CLI's defaults (the requirement on spacy), from nothing (`--force` would keep an
    earlier build's README.md, a stale card), then build FORMATS of it (build_package); returns
    what its dist/ holds."""
    from spacy.cli.package import package

    folder = output / f"{srsly.read_json(model / 'meta.json')['lang']}_{name}-{version}"
    if folder.exists():
        shutil.rmtree(folder)
    package(model, output, code_paths=shipped_modules(), name=name, version=version, create_sdist=False,
            create_wheel=False, require_parent=True, force=True, silent=False)  # fmt: skip
    return build_package(folder, formats)
