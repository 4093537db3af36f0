"""An encoder of mBERT's exact shape (bert-base-multilingual-cased: vocabulary 119,547, hidden 768,
12 layers, 12 heads, intermediate 3,072) with random weights, for the benchmark's speed figures at
mBERT's cost without the hub: its WordPiece is trained on the benchmark's data at that vocabulary
size (padded with unused pieces where the data can't fill it), as benchmarks/gpu builds one
(`multinerd_dev.tiny_bert.make_random_bert`). It learns nothing useful in a short run: its F1 means
nothing, its words/s and memory are mBERT's (the 119,547-row embedding included).

    python scripts/make_encoder.py ../../../shared/data/wikineural ../../../mbert-shape
"""

from pathlib import Path
from typing import Dict

import typer
from recipe import read_sentences

from multinerd_dev.tiny_bert import MBERT_SHAPE, make_random_bert

app = typer.Typer(add_completion=False)


def build(data: Path, output: Path, shape: Dict[str, int] = MBERT_SHAPE, seed: int = 0) -> int:
    """The encoder of `shape` at `output`, its WordPiece trained on `data`'s words; the number of sentences read."""
    sentences, _ = read_sentences(data)
    make_random_bert((s.words for s in sentences), output, **shape, seed=seed, pad_vocab=True)
    return len(sentences)


@app.command()
def main(
    data: Path = typer.Argument(..., exists=True, help="The benchmark's data (file or folder): the WordPiece's text"),
    output: Path = typer.Argument(..., help="The model folder to write (config, weights, tokenizer)"),
    seed: int = typer.Option(0, help="Seed of the random weights"),
):
    read = build(data, output, MBERT_SHAPE, seed)
    typer.echo(f"Wrote an encoder of mBERT's shape to {output} (WordPiece from {read:,} sentences)")


if __name__ == "__main__":
    app()
