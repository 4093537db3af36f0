"""Package a trained pipeline prepared by scripts/package_meta.py: `spacy package` with the
code that ships inside the model (every module of multinerd/pipeline/), then the sdist and wheel,
requiring public distributions only (not this project's own, which the package doesn't need;
multinerd.packaging.build).

    python scripts/build_package.py packages/model packages --name multinerd --version 0.1.0 --build sdist,wheel
"""

import sys
from pathlib import Path

import typer
from wasabi import msg

from multinerd.cli import fail
from multinerd.packaging.build import FORMATS, BuildError, package_model, wheel_requirements

app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: Path = typer.Argument(..., help="Pipeline scripts/package_meta.py prepared, e.g. packages/model"),
    output: Path = typer.Argument(..., help="Where the package folder goes, e.g. packages"),
    name: str = typer.Option("multinerd", help="Package name without the language (spaCy adds xx_)"),
    version: str = typer.Option("0.1.0", help="Package version"),
    build: str = typer.Option("sdist,wheel", help="What to build: sdist, wheel, or both comma-separated"),
):
    formats = [fmt.strip() for fmt in build.split(",") if fmt.strip()]
    if not formats or set(formats) - set(FORMATS):
        fail(f"--build {build!r}: choose sdist, wheel or sdist,wheel.")
    if not (model / "config.cfg").is_file() or not (model / "meta.json").is_file():
        fail(
            f"{model} is no pipeline (no config.cfg and meta.json): run scripts/package_meta.py (spacy package's input) first."
        )
    try:
        built = package_model(model, output, name, version, formats)
    except BuildError as err:
        sys.stderr.write(str(err))
        fail(
            f"Building {output} failed (python -m build's output above): check that setuptools and build are installed."
        )
    for path in built:
        requires = ", ".join(wheel_requirements(path)) if path.suffix == ".whl" else None
        msg.good(f"Built {path}" + (f", requiring {requires or 'nothing'}" if requires is not None else ""))


if __name__ == "__main__":
    app()
