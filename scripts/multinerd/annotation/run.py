"""The annotate command's run: check the options, plan the input, annotate the pending blocks
with the chosen engine under a progress bar, and record the run in the output's manifest."""

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Iterator, Optional

import srsly
from tqdm import tqdm

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
from multinerd.annotation.inputs import ReadSettings, find_sources, plan_input
from multinerd.cli import Loader
from multinerd.loading import Precision


class Engine(str, Enum):
    local = "local"
    ray = "ray"


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


def annotate(
    input: str,
    output: Path,
    *,
    model: str,
    engine: Engine,
    workers: int,
    format: OutputFormat,
    read: ReadSettings,
    loader: Loader,
    split: str,
    block_size: int,
    batch_size: int,
    gpu_id: int,
    overwrite: bool,
    docbin: bool,
    keep_text: bool,
    spans_key: Optional[str],
    code: Optional[Path],
    threads: int,
    address: Optional[str],
    cpus: int,
    cpus_per_worker: Optional[float],
    gpus_per_worker: Optional[float],
    max_retries: int,
    precision: Precision = Precision.fp32,
) -> dict:
    """Annotate INPUT into the folder OUTPUT (resuming an earlier run there) and return the run's
    totals (Totals.as_dict). Raises InputError or AnnotateError, one line each, with nothing of an
    earlier run lost."""
    if engine == Engine.local and (address or cpus or cpus_per_worker or gpus_per_worker):
        raise AnnotateError(
            "--address, --cpus, --cpus-per-worker and --gpus-per-worker are for --engine ray: add it, or leave them out."
        )
    if address and address.startswith("ray://"):
        # Ray Data's streaming executor needs the driver to be a node's own worker (Ray 2.60:
        # "'Worker' object has no attribute 'core_worker'" through Ray Client).
        raise AnnotateError(
            f"--address {address}: Ray Data can't run through Ray Client (ray://). Run annotate on a node of the "
            "cluster with --address auto, or submit it there as a Ray Job (`ray job submit -- python scripts/annotate.py ...`)."
        )
    shared_threads = max(1, (cpus or os.cpu_count() or 1) // workers) if workers > 1 else 0
    options = Options(
        model, str(output), format, read, batch_size or None, gpu_id, spans_key, docbin,
        str(code) if code else None, threads or shared_threads, keep_text, precision,
    )  # fmt: skip
    sources = find_sources(input, dataset=None if loader == Loader.auto else loader == Loader.datasets, split=split)
    plan = plan_input(sources, block_size, read.skip_invalid)
    check_model(options)
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
    except AnnotateError:
        if progress is not None:
            progress.close(leave=False)
        raise
    return summary


def ray_results(pending, options, workers, address, cpus, cpus_per_worker, gpus, max_retries) -> Iterator[BlockResult]:
    """The Ray engine's results, in a Ray session for the run (imported only for this engine)."""
    from multinerd.annotation.ray_engine import annotate_with_ray, ray_session

    with ray_session(address, cpus or None):
        yield from annotate_with_ray(pending, options, workers, cpus_per_worker, gpus, max_retries)
