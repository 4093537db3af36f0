"""Annotation of a corpus of any size with a spaCy pipeline (`scripts/annotate.py`): the output
folder, the annotation of one block, and the local engine. The Ray engine is in ray_engine.py.

Output: a folder of part files, one per input block (multinerd.annotation.inputs), named after the
block's number: `part-00000.parquet` (or `.jsonl`), one row per input text: its `id`, the text
with `keep_text`, the carried fields, and `entities` (start and end character, label, text, and the score where the pipeline
gives one: the entity scores component's `ent._.score`, or a span categorizer's). Optionally
`part-<block>.spacy`, the Docs as a DocBin, in the same order. Each file is written under a hidden temporary name and renamed into place, so a part
file is complete or absent: a rerun skips the blocks whose part file exists (resume), and a crash
leaves no half-written part. `_annotate.json` records what the output was made from (input files,
model by a digest of its files, settings), so a rerun with other settings or changed inputs stops instead of mixing them.
"""

import fcntl
import hashlib
import json
import multiprocessing
import os
import queue
import sys
import time
import uuid
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence

import srsly

from multinerd.annotation.inputs import OUTPUT_COLUMN, Block, BlockRows, ReadSettings, Source, fingerprint, read_block
from multinerd.annotation.mapped_loading import load_for_annotation
from multinerd.loading import ENTITY_FACTORIES, LoadError, Precision, pipeline_problem, precision_problem
from multinerd.loading import load_pipeline as load_shared

MANIFEST = "_annotate.json"
LOCK = "_annotate.lock"
SPAN_FACTORIES = ("spancat", "spancat_singlelabel")


class OutputFormat(str, Enum):
    parquet = "parquet"
    jsonl = "jsonl"


class AnnotateError(Exception):
    """A problem the user can fix (bad input row, pipeline that can't load, output of another
    run): one line, naming where and what to do."""


class Options(NamedTuple):
    """Everything a worker needs to annotate blocks: picklable, sent to every process and actor."""

    model: str
    output: str
    format: OutputFormat = OutputFormat.parquet
    read: ReadSettings = ReadSettings()
    batch_size: int = 256
    gpu_id: int = -1
    spans_key: Optional[str] = None
    docbin: bool = False
    code: Optional[str] = None
    threads: int = 0  # torch threads per worker; 0: leave torch's default
    keep_text: bool = False  # the text stays in the output, after the id
    precision: Precision = Precision.fp32  # the transformer's (multinerd.pipeline.precision)


class BlockResult(NamedTuple):
    block: str
    texts: int  # rows read: rows + skipped
    rows: int
    skipped: int
    entities: int
    words: int
    problem: Optional[str] = None


def entity_type():
    import pyarrow

    return pyarrow.list_(
        pyarrow.struct(
            [("start", pyarrow.int64()), ("end", pyarrow.int64()), ("label", pyarrow.string()),
             ("text", pyarrow.string()), ("score", pyarrow.float64())]
        )
    )  # fmt: skip


def doc_entities(doc, spans_key: Optional[str] = None) -> List[Dict]:
    """The entities of a Doc: `doc.ents` with the entity scores component's `ent._.score` where the
    pipeline has one (multinerd.pipeline.entity_scores), or the spans of `doc.spans[spans_key]` with the
    scores a span categorizer puts in the group's attrs."""
    if spans_key is None:
        from spacy.tokens import Span

        scored = Span.has_extension("score")
        return [
            {"start": ent.start_char, "end": ent.end_char, "label": ent.label_, "text": ent.text,
             "score": float(ent._.score) if scored and ent._.score is not None else None}
            for ent in doc.ents
        ]  # fmt: skip
    group = doc.spans.get(spans_key, [])
    scores = getattr(group, "attrs", {}).get("scores")
    return [
        {"start": span.start_char, "end": span.end_char, "label": span.label_, "text": span.text,
         "score": None if scores is None else float(scores[i])}
        for i, span in enumerate(group)
    ]  # fmt: skip


def entity_source(nlp, spans_key: Optional[str]) -> Optional[str]:
    """Where a pipeline's entities are: `spans_key` if given; doc.ents (None) if it recognizes
    entities; else the key of its span categorizer. Raises AnnotateError if it has neither."""
    factories = {name: nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    if spans_key is not None or any(f in ENTITY_FACTORIES for f in factories.values()):
        return spans_key
    spancats = [name for name, factory in factories.items() if factory in SPAN_FACTORIES]
    if spancats:
        return nlp.get_pipe(spancats[0]).key
    raise AnnotateError(
        f"The pipeline has no entity recognizer nor span categorizer (pipes: {', '.join(nlp.pipe_names) or 'none'}): "
        "pass a NER pipeline such as training/cnn/model-best, or --spans-key KEY for spans another component sets."
    )


def check_model(options: Options) -> None:
    """Raise AnnotateError unless `options.model` is an installed package or a pipeline folder
    that can run at `options.precision` (cheap: the driver checks before any worker loads it)."""
    problem = pipeline_problem(options.model) or precision_problem(options.model, options.precision, options.gpu_id)
    if problem is not None:
        raise AnnotateError(problem)


def load_pipeline(options: Options):
    """The pipeline `options.model` names (a package or a folder; multinerd.loading), its
    transformer's weights memory-mapped, with `options.code` imported first (custom components).
    Raises AnnotateError."""
    from spacy.cli._util import import_code

    if options.code:
        import_code(options.code)
    try:
        nlp = load_shared(options.model, options.gpu_id, load_for_annotation, options.precision)
    except LoadError as err:
        raise AnnotateError(str(err)) from None
    if options.threads and "torch" in sys.modules:
        import torch

        torch.set_num_threads(options.threads)
    return nlp


def part_path(output: Path, block: str, fmt: OutputFormat) -> Path:
    return output / f"part-{block}.{fmt.value}"


def _temporary(path: Path) -> Path:
    """A hidden name beside `path` (readers of the folder skip names starting with '.'), unique
    to this writer, so that two attempts at one block never write the same file."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    temporary = _temporary(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_rows(path: Path, table, fmt: OutputFormat) -> None:
    """One part file, atomically: Parquet, or JSON lines (non-JSON values as their text)."""
    if fmt == OutputFormat.parquet:
        import pyarrow.parquet

        write_atomically(path, lambda temporary: pyarrow.parquet.write_table(table, temporary))
        return

    def write_jsonl(temporary: Path) -> None:
        with temporary.open("w", encoding="utf8") as f:
            for row in table.to_pylist():
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    write_atomically(path, write_jsonl)


def read_part(path: Path):
    """A part file as a pyarrow Table."""
    import pyarrow

    if path.suffix == ".parquet":
        import pyarrow.parquet

        return pyarrow.parquet.read_table(path)
    rows = list(srsly.read_jsonl(path))
    return pyarrow.Table.from_pylist(rows)


class BlockAnnotator:
    """A loaded pipeline that annotates whole blocks and writes their part files: one per
    process (local engine) or actor (Ray engine)."""

    def __init__(self, options: Options):
        self.options = options
        self.nlp = load_pipeline(options)
        self.spans_key = entity_source(self.nlp, options.spans_key)
        self.opened_datasets: Dict = {}  # a dataset input is loaded once, not once a block

    def annotate_rows(self, block: str, rows: BlockRows, on_doc: Callable[[], None] = lambda: None) -> BlockResult:
        """Annotate a block as read and write its part file(s); a block with a problem writes nothing."""
        import pyarrow
        from spacy.tokens import DocBin

        if rows.problem is not None:
            return BlockResult(block, 0, 0, 0, 0, 0, rows.problem)
        options, table = self.options, rows.table
        docbin = DocBin(store_user_data=False) if options.docbin else None
        entities, words = [], 0
        # A memory zone frees the strings and lexemes the block's texts add to the vocab when it
        # ends (nothing of a Doc is used after it): without it the vocab grows with every new word
        # of the corpus. The entities and the DocBin keep copies of what they need.
        with self.nlp.memory_zone():
            for doc in self.nlp.pipe(table.column("text").to_pylist(), batch_size=options.batch_size):
                entities.append(doc_entities(doc, self.spans_key))
                words += len(doc)
                if docbin is not None:
                    docbin.add(doc)
                on_doc()
        kept = table if options.keep_text else table.drop_columns(["text"])
        out = kept.append_column(OUTPUT_COLUMN, pyarrow.array(entities, entity_type()))
        output = Path(options.output)
        if docbin is not None:  # before the part file, whose presence marks the block done
            write_atomically(output / f"part-{block}.spacy", lambda temporary: docbin.to_disk(temporary))
        write_rows(part_path(output, block, options.format), out, options.format)
        found = sum(map(len, entities))
        return BlockResult(block, len(table) + rows.skipped, len(table), rows.skipped, found, words)

    def annotate(self, block: Block, on_doc: Callable[[], None] = lambda: None) -> BlockResult:
        return self.annotate_rows(block.name, read_block(block, self.options.read, self.opened_datasets), on_doc)


# --- the output folder -------------------------------------------------------------------------


def model_digest(model: str, chunk_size: int = 1 << 20) -> str:
    """What a pipeline is, whatever its path: a BLAKE2b digest of the names and contents of every
    file in its folder (an installed package's data folder, whose meta.json names the package and
    its version). Retrained in place, a model gets another digest. Files are read in chunks, so
    a trf model's 700 MB of weights pass through once and are never held."""
    from multinerd.loading import pipeline_folder

    folder = pipeline_folder(model)
    if folder is None:  # a package laid out otherwise: all of its files
        from spacy.util import get_package_path

        folder = get_package_path(model)
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode("utf8") + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(chunk_size):
                digest.update(chunk)
    return digest.hexdigest()


def manifest_of(input: str, sources: Sequence[Source], block_size: int, options: Options) -> Dict:
    """What an output is made from. A rerun resumes only with the same model (by its contents,
    not its path), settings and sources (skip_invalid may change: blocks done either way are
    right for both)."""
    return {
        "input": input,
        "model": options.model,
        "settings": {
            "model_digest": model_digest(options.model),
            "precision": options.precision.value,
            "format": options.format.value,
            "block_size": block_size,
            "text_field": options.read.text_field,
            "id_field": options.read.id_field,
            "spans_key": options.spans_key,
            "docbin": options.docbin,
            "keep_text": options.keep_text,
        },
        "skip_invalid": options.read.skip_invalid,
        "sources": {source.key: fingerprint(source) for source in sources},
    }


def _difference(old: Dict, new: Dict) -> Optional[str]:
    """The first setting or source that differs between two manifests, in words; None if none."""
    before_settings = old.get("settings", {})
    for key, value in new["settings"].items():
        if key == "model_digest" and before_settings.get(key) != value:
            if old.get("model") == new["model"]:
                return f"the model: {new['model']}'s files changed since, retrained or replaced"
            return f"the model: {new['model']}'s files differ from those of {old.get('model')}"
        if before_settings.get(key) != value:
            return f"{key} was {before_settings.get(key)!r}, now {value!r}"
    before, now = old.get("sources", {}), new["sources"]
    for name in sorted(set(before) | set(now)):
        if before.get(name) != now.get(name):
            what = "is new" if name not in before else "is gone" if name not in now else "changed"
            return f"input file {name} {what}"
    return None


def _our_files(output: Path) -> List[Path]:
    names = ("part-*", ".part-*.partial", MANIFEST)
    return sorted({path for pattern in names for path in output.glob(pattern) if path.is_file()})


@contextmanager
def output_folder(output: Path, manifest: Dict, overwrite: bool) -> Iterator[Path]:
    """Open an output folder for a run: locked against a second run, resumable when it was made
    from the same input and settings (else AnnotateError), emptied of this tool's files with
    `overwrite`, and cleared of temporary files a crashed run left."""
    if output.exists() and not output.is_dir():
        raise AnnotateError(f"{output} is a file: pass a folder for the part files.")
    output.mkdir(parents=True, exist_ok=True)
    with open(output / LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AnnotateError(f"Another annotate run is writing {output}: wait for it, or choose another output.")
        previous = output / MANIFEST
        if overwrite:
            for path in _our_files(output):
                path.unlink()
        elif previous.exists():
            earlier = srsly.read_json(previous)
            # Outputs from before the precision was recorded were annotated at fp32.
            earlier["settings"] = {"precision": Precision.fp32.value, **earlier.get("settings", {})}
            before = earlier["settings"]["precision"]
            if before != manifest["settings"]["precision"]:
                raise AnnotateError(
                    f"{output} holds parts annotated at {before} precision, not {manifest['settings']['precision']}: "
                    f"pass --precision {before} to resume, or --overwrite to start again."
                )
            difference = _difference(earlier, manifest)
            if difference:
                raise AnnotateError(
                    f"{output} was started from other settings ({difference}): pass --overwrite to start again, "
                    "or another output folder."
                )
        elif any(path.name != LOCK for path in output.iterdir()):
            raise AnnotateError(f"{output} holds files that annotate did not write: choose an empty or new folder.")
        for path in output.glob(".part-*.partial"):
            path.unlink()  # a crashed run's unfinished file
        write_atomically(previous, lambda temporary: srsly.write_json(temporary, manifest))
        yield output


def pending_blocks(blocks: Sequence[Block], output: Path, fmt: OutputFormat) -> List[Block]:
    """The blocks without a part file yet."""
    done = {path.name for path in output.glob(f"part-*.{fmt.value}")}
    return [block for block in blocks if part_path(output, block.name, fmt).name not in done]


# --- the local engine --------------------------------------------------------------------------


def annotate_here(
    blocks: Iterable[Block], annotator: BlockAnnotator, on_doc: Callable[[], None]
) -> Iterator[BlockResult]:
    """Blocks annotated in this process by a loaded pipeline, one after the other: streaming nlp.pipe."""
    for block in blocks:
        yield annotator.annotate(block, on_doc)


def _worker(options: Options, tasks, results) -> None:
    """A local worker process: loads the pipeline once, then annotates the blocks it is sent
    until it gets None."""
    try:
        annotator = BlockAnnotator(options)
    except AnnotateError as err:
        results.put(str(err))
        return
    while (block := tasks.get()) is not None:
        results.put(annotator.annotate(block))


def annotate_in_processes(blocks: Sequence[Block], options: Options, workers: int) -> Iterator[BlockResult]:
    """Blocks annotated by `workers` processes, each with its own pipeline, a block at a time
    each (a few queued ahead), results in the order they finish. A worker that dies stops the
    run (what it finished stays done)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    tasks, results = context.Queue(), context.Queue()
    processes = [context.Process(target=_worker, args=(options, tasks, results), daemon=True) for _ in range(workers)]
    for process in processes:
        process.start()
    todo, in_flight = iter(blocks), 0
    try:
        for block in todo:
            tasks.put(block)
            in_flight += 1
            if in_flight >= 2 * workers:
                break
        while in_flight:
            try:
                result = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise AnnotateError(
                        f"A worker process died (exit code {dead[0].exitcode}): rerun to resume "
                        "(finished blocks are kept), with fewer --workers if memory ran out."
                    )
                continue
            if isinstance(result, str):
                raise AnnotateError(result)
            in_flight -= 1
            yield result
            block = next(todo, None)
            if block is not None:
                tasks.put(block)
                in_flight += 1
    finally:
        for _ in processes:
            tasks.put(None)
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()


# --- the run's totals --------------------------------------------------------------------------


class Totals:
    """What a run did, added up block by block."""

    def __init__(self, already_done: int, empty_files: int):
        self.blocks = self.texts = self.rows = self.skipped = self.entities = self.words = 0
        self.already_done, self.empty_files = already_done, empty_files
        self.start = time.perf_counter()

    def add(self, result: BlockResult) -> None:
        if result.problem is not None:
            raise AnnotateError(
                f"{result.problem}. Fix the input, or pass --skip-invalid to skip bad rows and count them."
            )
        self.blocks += 1
        self.texts += result.texts
        self.rows += result.rows
        self.skipped += result.skipped
        self.entities += result.entities
        self.words += result.words

    def as_dict(self) -> Dict:
        seconds = time.perf_counter() - self.start
        return {
            "blocks": self.blocks,
            "blocks_already_done": self.already_done,
            "texts_in": self.texts,
            "rows_out": self.rows,
            "skipped": self.skipped,
            "empty_files_skipped": self.empty_files,
            "entities": self.entities,
            "words": self.words,
            "seconds": round(seconds, 3),
            "texts_per_s": round(self.texts / max(seconds, 1e-9), 1),
            "words_per_s": round(self.words / max(seconds, 1e-9), 1),
        }
