"""Annotate a corpus of any size with a spaCy pipeline: texts in, a folder of part files out.

    python scripts/annotate.py INPUT OUTPUT --model xx_multinerd [--engine local|ray] [--workers N]

INPUT: text files (one text a line), JSONL or Parquet (a text field; an id field or one made from
file and line; other fields carried through), DocBins (.spacy), a folder or glob of those, or a
Hugging Face dataset id (--split, --text-field). OUTPUT: one part file per input block (Parquet
or JSONL; --docbin adds DocBin shards), written atomically; a rerun resumes where the last one
stopped (--overwrite starts again). See multinerd.annotation.run (the run),
multinerd.annotation.engine, multinerd.annotation.inputs and multinerd.annotation.ray_engine.

Engines: `local` (default) runs nlp.pipe in this process, or in --workers processes, each with
the pipeline loaded; `ray` runs a Ray Data pipeline on an embedded Ray (loopback only) or on the
cluster at --address, with a pool of --workers actors (--cpus-per-worker, --gpus-per-worker).
"""

from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from multinerd.annotation.engine import AnnotateError, OutputFormat
from multinerd.annotation.inputs import InputError, ReadSettings
from multinerd.annotation.run import Engine, annotate
from multinerd.cli import fail, parse_loader
from multinerd.loading import Precision

app = typer.Typer(add_completion=False)


def print_summary(totals: dict, output: Path) -> None:
    rows = [
        ("texts in", f"{totals['texts_in']:,}"),
        ("rows out", f"{totals['rows_out']:,}"),
        ("skipped (invalid)", f"{totals['skipped']:,}"),
        ("entities", f"{totals['entities']:,}"),
        ("words/s", f"{totals['words_per_s']:,.0f}"),
        ("texts/s", f"{totals['texts_per_s']:,.0f}"),
        ("time", f"{totals['seconds']:,.1f} s"),
        ("blocks written", f"{totals['blocks']:,}"),
        ("blocks already done", f"{totals['blocks_already_done']:,}"),
    ]
    if totals["empty_files_skipped"]:
        rows.append(("empty files skipped", f"{totals['empty_files_skipped']:,}"))
    msg.table(rows, aligns=("l", "r"))
    msg.good(f"Annotated {totals['rows_out']:,} texts ({totals['skipped']:,} skipped) into {output}")


@app.command()
def main(
    input: str = typer.Argument(..., help="Text/JSONL/Parquet/.spacy file, folder or glob, or a dataset id"),
    output: Path = typer.Argument(..., help="Folder of part files to write (resumed if it holds an earlier run)"),
    model: str = typer.Option("xx_multinerd", help="Installed pipeline package or pipeline folder"),
    engine: Engine = typer.Option(Engine.local, help="local (this machine, no service) or ray (Ray Data)"),
    workers: int = typer.Option(1, min=1, help="local: processes; ray: actors. Each loads the pipeline"),
    format: OutputFormat = typer.Option(OutputFormat.parquet, "--format", help="Part files: parquet or jsonl"),
    text_field: str = typer.Option("text", help="JSONL field / Parquet or dataset column holding the text"),
    id_field: str = typer.Option("id", help="Field holding each text's id; without one: <file>:<line or row>"),
    loader: str = typer.Option("auto", help="files, datasets (datasets.load_dataset), or auto"),
    split: str = typer.Option("train", help="Split of a dataset"),
    block_size: int = typer.Option(10_000, min=1, help="Texts per block (one part file each; the unit of resume)"),
    batch_size: int = typer.Option(0, min=0, help="nlp.pipe batch size; 0: the pipeline's own"),
    gpu_id: int = typer.Option(-1, help="GPU id (spaCy's require_gpu), -1 for the CPU; ray: use the GPUs Ray assigns"),
    precision: Precision = typer.Option(
        Precision.fp32, help="The transformer's: fp32, or int8 (CPU only; its linear layers quantized at load time)"
    ),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Skip bad rows and empty files, and count them"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again: remove the earlier run's part files"),
    docbin: bool = typer.Option(False, "--docbin", help="Also write each block's Docs as a DocBin (.spacy)"),
    keep_text: bool = typer.Option(False, "--keep-text", help="Keep each text in the output, after its id"),
    spans_key: Optional[str] = typer.Option(
        None, help="Entities from doc.spans[KEY] (with scores) instead of doc.ents"
    ),
    code: Optional[Path] = typer.Option(
        None, exists=True, dir_okay=False, help="Python file to import (custom components)"
    ),
    threads: int = typer.Option(0, min=0, help="Torch threads per worker; 0: the CPUs shared among the workers"),
    address: Optional[str] = typer.Option(
        None, help="ray: a cluster this machine is a node of (auto, HOST:6379); default: an embedded Ray"
    ),
    cpus: int = typer.Option(0, min=0, help="ray, embedded: CPUs it may use; 0: all"),
    cpus_per_worker: Optional[float] = typer.Option(None, min=0.01, help="ray: CPUs per actor (fractions allowed)"),
    gpus_per_worker: Optional[float] = typer.Option(
        None, min=0.0, help="ray: GPUs per actor (0.5: two share one); default 1 with --gpu-id"
    ),
    max_retries: int = typer.Option(3, min=0, help="ray: tries of a block whose actor died, after the first"),
):
    loader = parse_loader(loader)
    try:
        summary = annotate(
            input, output, model=model, engine=engine, workers=workers, format=format,
            read=ReadSettings(text_field, id_field, skip_invalid), loader=loader, split=split,
            block_size=block_size, batch_size=batch_size, gpu_id=gpu_id, overwrite=overwrite, docbin=docbin,
            keep_text=keep_text, spans_key=spans_key, code=code, threads=threads, address=address, cpus=cpus,
            cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker, max_retries=max_retries,
            precision=precision,
        )  # fmt: skip
    except (InputError, AnnotateError) as err:
        fail(str(err))
    print_summary(summary, output)


if __name__ == "__main__":
    app()
