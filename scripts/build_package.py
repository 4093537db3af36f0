"""Build the sdist and wheel of a package folder that `spacy package --build none` wrote, requiring
public distributions only (not this project's own, which the package doesn't need).

    python scripts/build_package.py packages/xx_multinerd-0.1.0 --build sdist,wheel
"""

import sys
from pathlib import Path

import typer
from wasabi import msg

from multinerd.cli import fail
from multinerd.packaging.build import FORMATS, BuildError, build_package, wheel_requirements

app = typer.Typer(add_completion=False)


@app.command()
def main(
    folder: Path = typer.Argument(..., help="Package folder spacy package wrote, e.g. packages/xx_multinerd-0.1.0"),
    build: str = typer.Option("sdist,wheel", help="What to build: sdist, wheel, or both comma-separated"),
):
    formats = [fmt.strip() for fmt in build.split(",") if fmt.strip()]
    if not formats or set(formats) - set(FORMATS):
        fail(f"--build {build!r}: choose sdist, wheel or sdist,wheel.")
    if not (folder / "setup.py").is_file() or not (folder / "meta.json").is_file():
        fail(f"{folder} is no package folder (no setup.py and meta.json): run `spacy package ... --build none` first.")
    try:
        built = build_package(folder, formats)
    except BuildError as err:
        sys.stderr.write(str(err))
        fail(
            f"Building {folder} failed (python -m build's output above): check that setuptools and build are installed."
        )
    for path in built:
        requires = ", ".join(wheel_requirements(path)) if path.suffix == ".whl" else None
        msg.good(f"Built {path}" + (f", requiring {requires or 'nothing'}" if requires is not None else ""))


if __name__ == "__main__":
    app()
