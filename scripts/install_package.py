"""Install the packaged pipeline and try it, as a user would: a plain `pip install WHEEL` into a
fresh virtual environment, `spacy.load` there in a fresh process on a sentence per language, then
the wheel into this environment too (multinerd.packaging.install).

    python scripts/install_package.py --packages packages --package xx_multinerd --version 0.1.0
"""

from pathlib import Path
from typing import Optional

import typer

from multinerd.cli import fail
from multinerd.packaging.install import InstallError, install_and_try

app = typer.Typer(add_completion=False)


@app.command()
def main(
    packages: Path = typer.Option(Path("packages"), help="Folder `spacy package` wrote to"),
    package: str = typer.Option("xx_multinerd", help="Package name (with the language prefix)"),
    version: Optional[str] = typer.Option(None, help="Version to install; default: the newest built"),
    target: Optional[Path] = typer.Option(
        None, envvar="PIP_TARGET", help="Install into this folder (pip --target) instead of this environment"
    ),
    venv: Optional[Path] = typer.Option(
        None,
        envvar="MULTINERD_INSTALL_VENV",
        help="The virtual environment to try the wheel in, created if missing (default: a fresh one, removed after)",
    ),
    requirements: Path = typer.Option(
        Path("requirements.txt"), exists=True, dir_okay=False, help="Its exact pins constrain the dependencies"
    ),
):
    try:
        install_and_try(packages, package, version, target, venv, requirements)
    except InstallError as err:
        fail(str(err))


if __name__ == "__main__":
    app()
