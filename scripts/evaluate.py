"""Score a trained pipeline on the test split: seqeval word by word (overall, per type, per
language, default and strict mode), the entity scores' reliability, spacy evaluate's scores, and
the training's learning curve (multinerd.evaluation.evaluate says what is written where).

    python scripts/evaluate.py training/cnn/model-calibrated corpus/test metrics/cnn --training-log training/cnn/log.jsonl
"""

from pathlib import Path
from typing import Optional

import typer

from multinerd.cli import fail
from multinerd.evaluation.evaluate import EvaluateError, evaluate_pipeline
from multinerd.loading import Precision

app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: str = typer.Argument(
        ..., help="Trained pipeline: a folder such as training/cnn/model-best, or a package name"
    ),
    test_dir: Path = typer.Argument(..., help="Gold corpus: corpus/test (one folder of .spacy shards per language)"),
    output_dir: Path = typer.Argument(..., help="Where seqeval.json and seqeval.md go"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
    precision: Precision = typer.Option(
        Precision.fp32, help="The transformer's: fp32, or int8 (CPU only; its linear layers quantized at load time)"
    ),
    batch_size: int = typer.Option(0, min=0, help="Docs per batch; 0: the pipeline's own batch size"),
    spacy_scores: bool = typer.Option(True, help="Also write scores.json with spacy evaluate's scores"),
    training_log: Optional[Path] = typer.Option(
        None, help="The training's log (training/cnn/log.jsonl): its learning curve goes to OUTPUT_DIR/training.png"
    ),
):
    try:
        evaluate_pipeline(model, test_dir, output_dir, gpu_id, batch_size, spacy_scores, training_log, precision)
    except EvaluateError as err:
        fail(str(err))


if __name__ == "__main__":
    app()
