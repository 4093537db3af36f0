"""Train a pipeline on a converted corpus: `spacy train` with the training length computed from
the corpus size (the corpus streams, so spaCy can't count it), the transformer and the GPU
checked before anything else starts, and resumable: a checkpoint every --checkpoint-every steps
and at each evaluation in OUTPUT/checkpoint, from which the same command, rerun after a crash,
continues (--restart discards it). Other options (`--paths.train corpus/train`, ...) are spaCy's config
overrides, passed on as `spacy train` takes them.
"""

from pathlib import Path
from typing import Optional

import typer
from spacy.cli._util import parse_config_overrides
from wasabi import msg

from multinerd.cli import fail
from multinerd.training.checkpoint import ResumeRefused
from multinerd.training.gpu import GPUUnavailable
from multinerd.training.hub import TransformerUnavailable
from multinerd.training.run import NoTrainingData, train_pipeline

app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="configs/cnn.cfg or configs/trf.cfg"),
    output: Path = typer.Argument(..., help="Where model-best and model-last go"),
    report: Path = typer.Option(Path("corpus/report.json"), help="The corpus report (scripts/convert.py)"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
    max_steps: int = typer.Option(0, help="Training steps; 0: [multinerd] epochs over the training split"),
    transformer: Optional[str] = typer.Option(None, help="Transformer name or local folder (trf config)"),
    checkpoint_every: int = typer.Option(
        10_000, help="Steps between checkpoints (there is one at each evaluation too); 0: at evaluations only"
    ),
    restart: bool = typer.Option(
        False, "--restart/--resume", help="Discard OUTPUT/checkpoint and start at step 0, or resume from it (default)"
    ),
):
    overrides = parse_config_overrides(ctx.args)
    try:
        step = train_pipeline(
            config_path,
            output,
            report,
            overrides=overrides,
            gpu_id=gpu_id,
            max_steps=max_steps,
            transformer=transformer,
            checkpoint_every=checkpoint_every,
            restart=restart,
        )
    except (NoTrainingData, TransformerUnavailable, GPUUnavailable, ResumeRefused) as err:
        fail(str(err))
    msg.good(f"Trained to step {step:,}: {output / 'model-best'}")


if __name__ == "__main__":
    app()
