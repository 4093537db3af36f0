"""Prepare a trained pipeline for `spacy package`: a copy of it with the meta.json fields spaCy
doesn't fill in, the plots the card links and the license files it ships (multinerd.packaging.meta).

    python scripts/package_meta.py training/trf/model-calibrated packages/model --metrics metrics/trf \\
        --report corpus/report.json --config trf --name multinerd --version 0.1.0
"""

from pathlib import Path

import typer

from multinerd.cli import fail
from multinerd.packaging.meta import PROJECT_AUTHOR, MetaError, write_package_meta

app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="Trained pipeline, e.g. training/trf/model-calibrated"
    ),
    output: Path = typer.Argument(
        ..., help="Folder to write: a copy of MODEL with meta.json, LICENSE, LICENSES_SOURCES"
    ),
    metrics: Path = typer.Option(
        ..., help="Folder with scores.json (spacy evaluate) and seqeval.json (scripts/evaluate.py)"
    ),
    report: Path = typer.Option(Path("corpus/report.json"), help="The corpus report: dataset, languages, sentences"),
    config: str = typer.Option(..., help="Config trained with: cnn or trf (configs/<config>.cfg)"),
    name: str = typer.Option("multinerd", help="Package name without the language (spaCy adds xx_)"),
    version: str = typer.Option("0.1.0", help="Package version"),
    author: str = typer.Option(PROJECT_AUTHOR, help="Author shown in the meta and card"),
    email: str = typer.Option("", help="Author email"),
    url: str = typer.Option("", help="Author or project URL"),
):
    try:
        write_package_meta(model, output, metrics, report, config, name, version, author, email, url)
    except MetaError as err:
        fail(str(err))


if __name__ == "__main__":
    app()
