"""Build a tiny, randomly initialised BERT (seeded) with a WordPiece vocabulary trained on a
dataset's tokens, for trying the trf config offline:

    python scripts/make_tiny_bert.py assets/multinerd_sample /tmp/tiny-bert
    python -m spacy project run all . --vars.config=trf --vars.transformer=/tmp/tiny-bert --vars.max_steps=20 --vars.name=multinerd_tiny

It learns nothing useful: it only exercises the real code path.
"""

from pathlib import Path

import typer
from wasabi import msg

from multinerd_dev.tiny_bert import make_tiny_bert


def main(
    source: Path = typer.Argument(..., exists=True, help="Dataset folder or file to train the vocabulary on"),
    output: Path = typer.Argument(..., help="Folder to save the model and tokenizer in"),
    seed: int = typer.Option(0, help="Seed of the weights"),
):
    make_tiny_bert(source, output, seed=seed)
    msg.good(f"Saved a tiny BERT to {output}")


if __name__ == "__main__":
    typer.run(main)
