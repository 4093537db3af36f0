"""Convert a NER dataset into the sharded DocBin corpus that training reads.

SOURCE is a Hugging Face dataset id (Babelscape/multinerd), a folder or file of JSONL/Parquet rows
in MultiNERD's shape, or MultiNERD/WikiNEuRal TSV files. See `multinerd.data.corpus` for the layout.
"""

import errno
import sys
from pathlib import Path
from typing import List, Optional

import srsly
import typer
from spacy.cli._util import string_to_list
from tqdm import tqdm
from wasabi import msg

from multinerd.cli import Loader, fail, parse_loader
from multinerd.data.corpus import InvalidRow, NoTrainingSentences, convert
from multinerd.data.readers import SPLITS, SourceError, is_local, read_files, read_hub
from multinerd.data.staging import OutputError
from multinerd.labels import ENTITY_TYPES

app = typer.Typer(add_completion=False)


def parse_langs(langs: str) -> Optional[List[str]]:
    """`all` -> None (no filter); `de,en` -> ["de", "en"]."""
    if langs.strip().lower() in ("", "all"):
        return None
    return string_to_list(langs)


def parse_labels(labels: Optional[str]) -> Optional[List[str]]:
    """--labels: a file (a JSON list, `labels/ner.json` as `spacy init labels` writes it, or one
    label a line), else a list such as `PER,ORG,LOC,MISC`; None if not given."""
    if labels is None:
        return None
    path = Path(labels)
    if not path.is_file():
        return string_to_list(labels)
    if path.suffix.lower() == ".json":
        data = srsly.read_json(path)
        return sorted(data["1"]) if isinstance(data, dict) else list(data)  # "1": the BEGIN action's labels
    return [line.strip() for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


def os_error_message(err: OSError, output: Path) -> str:
    """One line for a file system error: which file, what, and what to do."""
    where = err.filename or output
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        what = f"free some space there, or pass an output folder on another disk (nothing in {output} was replaced)"
    elif Path(where).resolve().is_relative_to(output.resolve()):
        what = "pass an output folder you can write to"
    else:
        what = "check that it exists and can be read"
    return f"{where}: {err.strerror or err}: {what}."


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
    use_files = loader == Loader.files or (loader == Loader.auto and is_local(source))
    rows = read_files(Path(source), lang) if use_files else read_hub(source, lang)
    # A local folder read through datasets is an input too.
    inputs = [Path(source)] if use_files or Path(source).exists() else []
    # delay: none at all for a run that stops at once, so that a failure is the one line it prints
    progress = tqdm(unit=" sent", unit_scale=True, desc="converting", mininterval=1.0, delay=1.0, file=sys.stderr)
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
            labels=parse_labels(labels),
            dedupe=dedupe,
            require_train=not allow_no_train,
            inputs=inputs,
        )
    except InvalidRow as err:
        progress.close()
        fail(f"{err}. Fix the data, or pass --skip-invalid to skip bad rows and count them.")
    except (SourceError, OutputError, NoTrainingSentences) as err:
        progress.close()
        fail(str(err))
    except OSError as err:
        progress.close()
        fail(os_error_message(err, output))
    progress.close()
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
