"""Calibrate a trained pipeline's entity scores on dev and write the calibrated pipeline
(multinerd.evaluation.calibration: temperature and Platt scaling, never on test).

    python scripts/calibrate.py training/trf/model-best corpus/dev_sample training/trf/model-calibrated \\
        --metrics metrics/trf
"""

from pathlib import Path

import typer

from multinerd.cli import fail
from multinerd.evaluation.calibration import CalibrateError, calibrate_pipeline

app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: Path = typer.Argument(..., help="Trained pipeline with entity scores, e.g. training/trf/model-best"),
    dev_dir: Path = typer.Argument(..., help="Dev corpus: corpus/dev_sample (.spacy shards)"),
    output: Path = typer.Argument(..., help="Where the calibrated pipeline goes, e.g. training/trf/model-calibrated"),
    metrics: Path = typer.Option(..., help="Folder for calibration.json, e.g. metrics/trf"),
):
    try:
        calibrate_pipeline(model, dev_dir, output, metrics)
    except CalibrateError as err:
        fail(str(err))


if __name__ == "__main__":
    app()
