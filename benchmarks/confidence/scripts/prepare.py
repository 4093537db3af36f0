"""Split a data file into training, dev and test sentences and convert them into a corpus.

    python scripts/prepare.py ../../../shared/data/wikineural/en/val.conllu corpus

The split is benchmarks/hf_recipe's (its tuning mode's: a seeded random test part, then a dev part
carved from the training sentences of each language), so the figures here and there are on the
same sentences; the corpus is the product's (multinerd.data.corpus.convert: train, dev, test and a
dev sample that is the whole dev part), what its train, calibrate and evaluate scripts read.
"""

import sys
from pathlib import Path

import typer
from wasabi import msg

# benchmarks/hf_recipe's reading and seeded split (pytest.ini names the same folder)
sys.path.append(str(Path(__file__).resolve().parents[2] / "hf_recipe" / "scripts"))
from recipe import corpus_rows, read_sentences, split_by_language  # noqa: E402

from multinerd.cli import fail  # noqa: E402
from multinerd.data.corpus import convert  # noqa: E402
from multinerd.data.readers import SourceError  # noqa: E402
from multinerd.data.staging import OutputError  # noqa: E402

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Argument(..., help="A data file or folder the product's readers take (TSV, JSONL, Parquet)"),
    output: Path = typer.Argument(..., help="Corpus folder to write"),
    train: int = typer.Option(0, help="Training sentences a language; 0: all not in test or dev"),
    test: int = typer.Option(0, help="Test sentences a language; 0: a fifth"),
    dev: int = typer.Option(-1, help="Dev sentences a language, carved from the training ones; -1: a tenth"),
    seed: int = typer.Option(0, help="Seed of the split"),
):
    if not data.exists():
        fail(f"No data at {data}: pass --vars.data=<file or folder> (WikiNEuRal's val.conllu by default).")
    try:
        sentences, skipped = read_sentences(data)
        parts = split_by_language(sentences, train, test, dev, seed)
    except (SourceError, ValueError) as err:
        fail(f"Can't split {data}: {err}. Pass smaller --train/--test/--dev counts or another file.")
    rows = corpus_rows({split: parts[split] for split in ("train", "dev", "test")})
    try:
        convert(rows, output, seed=seed, dev_sample_size=len(parts["dev"]), inputs=[data])
    except OutputError as err:
        fail(f"Can't write {output}: {err}. Choose another folder.")
    counts = ", ".join(f"{len(parts[split]):,} {split}" for split in ("train", "dev", "test"))
    msg.good(f"{counts} sentences ({skipped:,} invalid rows skipped) in {output}")


if __name__ == "__main__":
    app()
