"""Installing the packaged pipeline and trying it, as a user would (`install_and_try`).

Finds the wheel that `spacy project run package` built (packages/xx_multinerd-<version>/dist/),
installs it as a user does: a plain `pip install WHEEL`, dependencies and all, into a fresh
virtual environment that has never seen this repository (the pins of requirements.txt as
constraints, so that torch is the pinned build). Then in a fresh Python process of that
environment, outside this repository and offline, it runs (multinerd.packaging.try_package) `spacy.load("xx_multinerd")` on one
sentence in each of the 10 languages and prints which data the model was trained on (and that
the sample's model is a demonstration), the entities found, where the package was loaded from
and the test scores its meta.json carries. Last, it installs the wheel into this environment too
(or with --target into a folder), where the project's packages already meet its requirements.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import srsly
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version
from wasabi import msg

from multinerd.labels import SENTENCES
from multinerd.packaging import try_package


class InstallError(Exception):
    """The package can't be installed or loaded; the message is the line to show."""


# How the smoke test's test_scores are printed.
SCORE_NAMES = {
    "seqeval_f_default": "seqeval F1 (default)",
    "seqeval_f_strict": "seqeval F1 (strict)",
    "ents_f": "spaCy ents_f",
}


def describe_scores(scores: Dict[str, Optional[float]]) -> str:
    """The scores in %, as in "seqeval F1 (default) 81.20, ...", or a note that there are none."""
    if not scores:
        return "none in the package's meta (run `spacy project run evaluate` before `package`)"
    return ", ".join(
        f"{SCORE_NAMES[key]} " + (f"{100 * value:.2f}" if value is not None else "n/a") for key, value in scores.items()
    )


def describe_entity(text: str, label: str, start: int, end: int, score: Optional[float]) -> str:
    """The entity as `Berlin (LOC, 0.93)`, or `Berlin (LOC)` from a package without entity scores."""
    return f"{text} ({label}" + (f", {score:.2f})" if score is not None else ")")


def describe_training(trained_on: Dict) -> str:
    """Which data the model was trained on, from its meta's `multinerd` section (scripts/package_meta.py)."""
    dataset = trained_on.get("dataset") or "data its meta does not name"
    sentences = trained_on.get("train_sentences")
    languages = ", ".join(trained_on.get("languages") or [])
    return (
        f"Trained on {dataset}"
        + (f", {sentences:,} training sentences" if sentences else "")
        + (f" in {languages}" if languages else "")
    )


def _version_key(wheel: Path):
    """Newest version first, then the newest file: `xx_multinerd-1.10.0-py3-none-any.whl` > `...-1.9.2-...`."""
    try:
        version = Version(wheel.name.split("-")[1])
    except (IndexError, InvalidVersion):
        version = Version("0")
    return version, wheel.stat().st_mtime


def find_wheel(packages: Path, package: str, version: Optional[str]) -> Optional[Path]:
    """The wheel of `package` (at `version`, else the newest version) under PACKAGES/<package>-<version>/dist."""
    pattern = f"{package}-{version}/dist/*.whl" if version else f"{package}-*/dist/*.whl"
    wheels = [wheel for wheel in packages.glob(pattern) if wheel.name.startswith(re.sub("_+", "_", package) + "-")]
    if not wheels:
        return None
    return max(wheels, key=_version_key)


def pins(requirements: Path) -> List[str]:
    """The exact pins (`name==version`) of a requirements file, without extras: pip's constraints."""
    found = []
    for line in requirements.read_text(encoding="utf8").splitlines():
        try:
            requirement = Requirement(line.split("#")[0].strip())
        except InvalidRequirement:  # blank lines, comments, options such as -e .
            continue
        if len(requirement.specifier) == 1 and next(iter(requirement.specifier)).operator == "==":
            found.append(f"{requirement.name}{requirement.specifier}")
    return found


def run_pip(python: Path, args: List[str], what: str) -> None:
    """pip quietly (its output only if it fails), or one line saying what could not be done."""
    # Where pip installs is the command's to say: pip's PIP_TARGET (this script's --target) would
    # send the fresh environment's packages into that folder too.
    env = {key: value for key, value in os.environ.items() if key != "PIP_TARGET"}
    command = [str(python), "-m", "pip", *args]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf8", env=env)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise InstallError(f"pip could not {what} (exit code {result.returncode}; its output is above).")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def user_install(wheel: Path, package: str, venv: Path, constraints: List[str]) -> Path:
    """A plain `pip install WHEEL` into the virtual environment VENV (created if missing; a copy of
    the package from an earlier build is removed first); returns its python."""
    python = venv_python(venv)
    if not python.exists():
        msg.info(f"Creating a fresh virtual environment in {venv}")
        result = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if result.returncode != 0:
            raise InstallError(f"Could not create a virtual environment in {venv}: {result.stderr.strip()}")
    run_pip(python, ["uninstall", "-q", "-y", package], f"remove an earlier {package} from {venv}")
    with tempfile.TemporaryDirectory() as tmp:
        pinned = Path(tmp) / "constraints.txt"
        pinned.write_text("\n".join(constraints) + "\n", encoding="utf8")
        msg.info(f"Running: pip install {wheel} (with its dependencies) in {venv}")
        what = f"install {wheel} with its dependencies into {venv}, from the package index, which pip must reach"
        run_pip(python, ["install", "-q", "--constraint", str(pinned), str(wheel)], what)
    return python


def project_install(wheel: Path, target: Optional[Path]) -> None:
    """Install into this environment (or TARGET), whose packages already meet the requirements."""
    command: List[str] = ["install", "-q", "--no-deps", "--force-reinstall"]
    if target is not None:
        # --upgrade: replace a copy already in the target folder instead of warning and keeping it.
        command += ["--upgrade", "--target", str(target)]
    run_pip(Path(sys.executable), [*command, str(wheel)], f"install {wheel}" + (f" into {target}" if target else ""))


def smoke_test(package: str, python: Path) -> dict:
    """Load the installed package with PYTHON in a fresh process, away from this repository, offline."""
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    # Nothing of this repository on the path: only the installed package.
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as cwd:
        result = subprocess.run(
            [str(python), "-I", try_package.__file__, package, srsly.json_dumps(SENTENCES)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf8",
        )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise InstallError(
            f'spacy.load("{package}") failed in a fresh process (exit code {result.returncode}): see above.'
        )
    return srsly.json_loads(result.stdout.strip().splitlines()[-1])


def install_and_try(
    packages: Path,
    package: str,
    version: Optional[str],
    target: Optional[Path],
    venv: Optional[Path],
    requirements: Path,
) -> None:
    """Install the wheel in a fresh environment, try it there, then install it here (see the module).
    Raises InstallError."""
    wheel = find_wheel(packages, package, version)
    if wheel is None:
        where = packages / f"{package}-{version or '*'}" / "dist"
        raise InstallError(f"No {package} wheel found in {where}: run `spacy project run package` first.")
    with tempfile.TemporaryDirectory() as tmp:
        python = user_install(wheel, package, venv or Path(tmp) / "venv", pins(requirements))
        result = smoke_test(package, python)
    msg.good(
        f'spacy.load("{package}") works in a fresh process of a fresh environment: version {result["version"]}, '
        f"pipeline {result['pipeline']}, {len(result['labels'])} labels"
    )
    print(describe_training(result["trained_on"]))
    if result["trained_on"].get("demonstration"):
        msg.warn(
            "A demonstration model: trained on the project's small hand-written sample, not on MultiNERD, so the "
            "entities below show that the package works, not how well a real model tags. For that: "
            "spacy project run all . --vars.dataset=Babelscape/multinerd"
        )
    for lang, doc in result["docs"].items():
        ents = ", ".join(describe_entity(*ent) for ent in doc["ents"]) or "(none)"
        print(f"{lang}  {doc['text']}\n    entities: {ents}")
    print(f"Test scores (%): {describe_scores(result['test_scores'])}")
    project_install(wheel, target)
    msg.good(f"Installed {wheel.name} into " + (str(target) if target else f"this environment ({sys.prefix})"))
