"""Convert a NER dataset into the sharded DocBin corpus that training reads.

SOURCE is a Hugging Face dataset id (Babelscape/multinerd), a folder or file of JSONL/Parquet rows
in MultiNERD's shape, or MultiNERD/WikiNEuRal TSV files. See `multinerd.data.corpus` for the layout
and `multinerd.data.run` for the run.
"""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from multinerd.cli import fail, parse_loader
from multinerd.data.readers import SPLITS
from multinerd.data.run import ConvertError, build_corpus
from multinerd.labels import ENTITY_TYPES

app = typer.Typer(add_completion=False)


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
                    counts["duplicates"],
                    counts["deduplicated"],
                    counts.get("in_train", ""),
                )
            )
    msg.table(
        rows,
        header=("split", "lang", "sentences", "tokens", "entities", "repaired", "skipped", "duplicates", "dropped",
                "in train"),
        aligns=("l", "l", "r", "r", "r", "r", "r", "r", "r", "r"),
    )  # fmt: skip
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
    loader: str = typer.Option(
        "auto", help="files, datasets (datasets.load_dataset), or auto: files if SOURCE exists, else datasets"
    ),
    shard_size: int = typer.Option(10_000, min=1, help="Docs per shard"),
    seed: int = typer.Option(0, help="Seed of the training split's shuffle and the dev sample"),
    dev_sample: int = typer.Option(2_000, min=1, help="Size of the dev sample evaluated during training"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad rows and count them instead of stopping"),
    labels: Optional[str] = typer.Option(
        None,
        help="Label set every tag must be in: a list (PER,ORG,LOC,MISC) or a file (JSON list, labels/ner.json, "
        "one a line); default: MultiNERD's types for data with MultiNERD's ids, any for tag strings",
    ),
    dedupe: bool = typer.Option(
        False, "--dedupe", help="Drop exact duplicate sentences from train (dev and test keep theirs)"
    ),
    allow_no_train: bool = typer.Option(
        False, "--allow-no-train", help="Convert evaluation data only: no training sentences is not an error"
    ),
):
    loader = parse_loader(loader)
    try:
        report = build_corpus(
            source, output, loader=loader, langs=langs, lang=lang, shard_size=shard_size, seed=seed,
            dev_sample=dev_sample, skip_invalid=skip_invalid, labels=labels, dedupe=dedupe,
            allow_no_train=allow_no_train,
        )  # fmt: skip
    except ConvertError as err:
        fail(str(err))
    print_report(report)
    done = {split: report["splits"][split]["sentences"] for split in SPLITS}
    skipped = sum(report["splits"][split]["skipped"] for split in SPLITS)
    dropped = report["splits"]["train"]["deduplicated"]
    msg.good(
        f"Wrote {output}: "
        + ", ".join(f"{n:,} {split}" for split, n in done.items())
        + f" docs; {skipped:,} rows skipped; {dropped:,} duplicates dropped; report in {output / 'report.json'}"
    )
    if report["unknown_languages"]:
        msg.warn(
            f"Languages that are not MultiNERD's: {', '.join(report['unknown_languages'])} (in the report's "
            "unknown_languages); check their codes if they should be one of them."
        )


if __name__ == "__main__":
    app()
