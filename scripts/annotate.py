"""Annotate a corpus of any size with a spaCy pipeline: texts in, a folder of part files out.

    python scripts/annotate.py INPUT OUTPUT --model xx_multinerd [--engine local|ray] [--workers N]

INPUT: text files (one text a line), JSONL or Parquet (a text field; an id field or one made from
file and line; other fields carried through), DocBins (.spacy), a folder or glob of those, or a
Hugging Face dataset id (--split, --text-field). OUTPUT: one part file per input block (Parquet
or JSONL; --docbin adds DocBin shards), written atomically; a rerun resumes where the last one
stopped (--overwrite starts again). See multinerd.annotation.engine, multinerd.annotation.inputs and
multinerd.annotation.ray_engine.

Engines: `local` (default) runs nlp.pipe in this process, or in --workers processes, each with
the pipeline loaded; `ray` runs a Ray Data pipeline on an embedded Ray (loopback only) or on the
cluster at --address, with a pool of --workers actors (--cpus-per-worker, --gpus-per-worker).
"""

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Iterator, Optional

import srsly
import typer
from tqdm import tqdm
from wasabi import msg

from multinerd.annotation.engine import (
    MANIFEST,
    AnnotateError,
    BlockAnnotator,
    BlockResult,
    Options,
    OutputFormat,
    Totals,
    annotate_here,
    annotate_in_processes,
    check_model,
    manifest_of,
    output_folder,
    pending_blocks,
    write_atomically,
)
from multinerd.annotation.inputs import InputError, ReadSettings, find_sources, plan_input
from multinerd.cli import Loader, fail, parse_loader

app = typer.Typer(add_completion=False)


class Engine(str, Enum):
    local = "local"
    ray = "ray"


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


class Progress:
    """The run's bar, in input lines and rows (blank lines and skipped rows too, so that it ends
    full). It starts when annotation does, after the pipeline has loaded, so that loading is not
    in its rate: at once where this process loads it, at the first block done where workers do."""

    def __init__(self, total: int):
        self.total, self.bar = total, None

    def start(self, done: int = 0) -> None:
        self.bar = tqdm(
            total=self.total, initial=done, unit=" texts", unit_scale=True, desc="annotating", mininterval=1.0,
            file=sys.stderr, smoothing=0.1, delay=2.0,
        )  # fmt: skip

    def update(self, n: int) -> None:
        if self.bar is None:
            self.start(n)
        else:
            self.bar.update(n)

    def close(self, leave: bool = True) -> None:
        if self.bar is not None:
            self.bar.leave = leave  # on an error, the message, not a half-full bar, is the last line
            self.bar.close()


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
    if engine == Engine.local and (address or cpus or cpus_per_worker or gpus_per_worker):
        fail(
            "--address, --cpus, --cpus-per-worker and --gpus-per-worker are for --engine ray: add it, or leave them out."
        )
    if address and address.startswith("ray://"):
        # Ray Data's streaming executor needs the driver to be a node's own worker (Ray 2.60:
        # "'Worker' object has no attribute 'core_worker'" through Ray Client).
        fail(
            f"--address {address}: Ray Data can't run through Ray Client (ray://). Run annotate on a node of the "
            "cluster with --address auto, or submit it there as a Ray Job (`ray job submit -- python scripts/annotate.py ...`)."
        )
    read = ReadSettings(text_field, id_field, skip_invalid)
    shared_threads = max(1, (cpus or os.cpu_count() or 1) // workers) if workers > 1 else 0
    options = Options(
        model, str(output), format, read, batch_size or None, gpu_id, spans_key, docbin,
        str(code) if code else None, threads or shared_threads, keep_text,
    )  # fmt: skip
    try:
        sources = find_sources(input, dataset=None if loader == Loader.auto else loader == Loader.datasets, split=split)
        plan = plan_input(sources, block_size, skip_invalid)
        check_model(model)
    except (InputError, AnnotateError) as err:
        fail(str(err))
    manifest = manifest_of(input, sources, block_size, options)
    progress = None
    try:
        with output_folder(output, manifest, overwrite):
            pending = pending_blocks(plan.blocks, output, format)
            totals = Totals(len(plan.blocks) - len(pending), len(plan.empty_files))
            sizes = {block.name: block.size for block in pending}
            progress, per_doc = Progress(sum(sizes.values())), False
            if not pending:  # a resume with nothing left to do loads no pipeline and starts no Ray
                results = iter(())
            elif engine == Engine.ray:
                gpus = gpus_per_worker if gpus_per_worker is not None else (1.0 if gpu_id >= 0 else 0.0)
                results = ray_results(pending, options, workers, address, cpus, cpus_per_worker, gpus, max_retries)
            elif workers > 1:
                results = annotate_in_processes(pending, options, workers)
            else:
                annotator = BlockAnnotator(options)
                progress.start()
                results, per_doc = annotate_here(pending, annotator, lambda: progress.update(1)), True
            for result in results:
                totals.add(result)
                # What the bar has not counted of the block: all of it from workers, else its blank
                # lines and skipped rows.
                progress.update(sizes[result.block] - (result.rows if per_doc else 0))
            progress.close()
            summary = totals.as_dict()
            write_atomically(
                output / MANIFEST, lambda temporary: srsly.write_json(temporary, {**manifest, "last_run": summary})
            )
    except AnnotateError as err:
        if progress is not None:
            progress.close(leave=False)
        fail(str(err))
    print_summary(summary, output)


def ray_results(pending, options, workers, address, cpus, cpus_per_worker, gpus, max_retries) -> Iterator[BlockResult]:
    """The Ray engine's results, in a Ray session for the run (imported only for this engine)."""
    from multinerd.annotation.ray_engine import annotate_with_ray, ray_session

    with ray_session(address, cpus or None):
        yield from annotate_with_ray(pending, options, workers, cpus_per_worker, gpus, max_retries)


if __name__ == "__main__":
    app()
