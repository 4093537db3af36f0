"""Convert a NER dataset into the sharded DocBin corpus that training reads.

SOURCE is a Hugging Face dataset id (Babelscape/multinerd), a folder or file of JSONL/Parquet rows
in MultiNERD's shape, or MultiNERD/WikiNEuRal TSV files. See `multinerd.corpus` for the layout.
"""

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from spacy.cli._util import string_to_list
from tqdm import tqdm
from wasabi import msg

from multinerd.cli import fail
from multinerd.corpus import InvalidRow, convert
from multinerd.labels import ENTITY_TYPES
from multinerd.readers import SPLITS, SourceError, is_local, read_files, read_hub

app = typer.Typer(add_completion=False)


class Loader(str, Enum):
    auto = "auto"  # files if SOURCE exists (or looks like a path), else datasets
    files = "files"
    datasets = "datasets"


def parse_langs(langs: str) -> Optional[List[str]]:
    """`all` -> None (no filter); `de,en` -> ["de", "en"]."""
    if langs.strip().lower() in ("", "all"):
        return None
    return string_to_list(langs)


def print_report(report: dict) -> None:
    rows = []
    for split in SPLITS:
        for lang, counts in report["splits"][split]["languages"].items():
            rows.append(
                (
                    split,
                    lang,
                    counts["sentences"],
                    counts["tokens"],
                    sum(counts["entities"].values()),
                    counts["repaired"],
                    counts["skipped"],
                )
            )
    msg.table(
        rows,
        header=("split", "lang", "sentences", "tokens", "entities", "repaired", "skipped"),
        aligns=("l", "l", "r", "r", "r", "r", "r"),
    )
    labels = sorted(
        {label for split in SPLITS for label in report["splits"][split]["entities"]},
        key=lambda label: (ENTITY_TYPES + (label,)).index(label),
    )
    msg.table(
        [(label, *(report["splits"][split]["entities"].get(label, 0) for split in SPLITS)) for label in labels],
        header=("entities", *SPLITS),
        aligns=("l", "r", "r", "r"),
    )


@app.command()
def main(
    source: str = typer.Argument(..., help="Dataset id, or a data file or folder"),
    output: Path = typer.Argument(..., help="Corpus folder to write"),
    langs: str = typer.Option("all", help="Languages to keep: 'all' or a list such as 'de,en'"),
    lang: Optional[str] = typer.Option(
        None, help="Language of rows that name none (TSV files); default: from the path, e.g. ru/ or _ru"
    ),
    loader: Loader = typer.Option(
        Loader.auto, help="files, datasets (datasets.load_dataset), or auto: files if SOURCE exists, else datasets"
    ),
    shard_size: int = typer.Option(10_000, min=1, help="Docs per shard"),
    seed: int = typer.Option(0, help="Seed of the training split's shuffle and the dev sample"),
    dev_sample: int = typer.Option(2_000, min=1, help="Size of the dev sample evaluated during training"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad rows and count them instead of stopping"),
):
    use_files = loader == Loader.files or (loader == Loader.auto and is_local(source))
    rows = read_files(Path(source), lang) if use_files else read_hub(source, lang)
    progress = tqdm(unit=" sent", unit_scale=True, desc="converting", mininterval=1.0, file=sys.stderr)
    try:
        report = convert(
            rows,
            output,
            langs=parse_langs(langs),
            shard_size=shard_size,
            seed=seed,
            skip_invalid=skip_invalid,
            dev_sample_size=dev_sample,
            on_row=progress.update,
            source=source,
        )
    except InvalidRow as err:
        progress.close()
        fail(f"{err}. Fix the data, or pass --skip-invalid to skip bad rows and count them.")
    except SourceError as err:
        progress.close()
        fail(str(err))
    progress.close()
    print_report(report)
    done = {split: report["splits"][split]["sentences"] for split in SPLITS}
    skipped = sum(report["splits"][split]["skipped"] for split in SPLITS)
    msg.good(
        f"Wrote {output}: "
        + ", ".join(f"{n:,} {split}" for split, n in done.items())
        + f" docs; {skipped:,} rows skipped; report in {output / 'report.json'}"
    )
    if not done["train"]:
        msg.warn("No training sentences: the source has no train split for these languages.")


if __name__ == "__main__":
    app()
