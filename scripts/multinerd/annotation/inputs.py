"""The inputs of annotation, cut into blocks: what `scripts/annotate.py` reads, for every engine.

A source is a text file (one text a line; blank lines hold none), a JSONL file (a text field; an id field or one made
from the file and line; other fields carried through), a Parquet file (the same columns), a
DocBin (`.spacy`, each doc's text), or a Hugging Face dataset split with a text column. An input
is one of those files, a folder or a glob of them, or a dataset id.

Each source is cut into blocks of at most `block_size` texts, planned from the files alone (line
offsets, Parquet metadata, dataset lengths), so that every engine reads exactly the same blocks,
names each output part file after its block, and a rerun knows which blocks are done. A block is
read on its own (`read_block`), from a byte offset or a row range, so memory holds one block,
whatever the input size.

Reading never raises on a bad row: it returns the block with the first problem named (file and
line or row), or, when asked to skip invalid rows, without them and with their count.
"""

import glob
import re
from enum import Enum
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import srsly

from multinerd.sources import is_local


class Format(str, Enum):
    text = "text"
    jsonl = "jsonl"
    parquet = "parquet"
    docbin = "docbin"
    dataset = "dataset"


SUFFIXES = {".txt": Format.text, ".jsonl": Format.jsonl, ".json": Format.jsonl, ".parquet": Format.parquet,
            ".spacy": Format.docbin}  # fmt: skip
LINE_FORMATS = (Format.text, Format.jsonl)
# The column annotation adds to each row (so no input field may have its name).
OUTPUT_COLUMN = "entities"
_GLOB_CHARS = re.compile(r"[*?\[]")


class InputError(Exception):
    """An input that can't be read at all (missing, empty, not a known format); one line."""


class Source(NamedTuple):
    location: str  # a file path, or a dataset id
    key: str  # the name ids and block names use: the path below the input's root, or the dataset id and split
    format: Format
    split: Optional[str] = None  # datasets only


class Block(NamedTuple):
    """Texts `start` to `stop` (exclusive) of a source: line numbers (from 1) in text and JSONL
    files, whose bytes `offset` to `end` they are; row indices (from 0) elsewhere. `number`: its
    place among the input's blocks, from 0 (`plan_input`)."""

    source: Source
    start: int
    stop: int
    offset: int = 0
    end: int = 0
    number: int = 0

    @property
    def name(self) -> str:
        """The block's part-file name, `part-<name>`: its number, sorting in input order (the
        output's manifest pins the input and block size, so a number always means the same texts)."""
        return f"{self.number:05d}"

    @property
    def size(self) -> int:
        return self.stop - self.start


class ReadSettings(NamedTuple):
    text_field: str = "text"
    id_field: str = "id"
    skip_invalid: bool = False


class BlockRows(NamedTuple):
    """A block as read: its rows (a pyarrow Table of `id`, `text` and the carried columns), the
    rows skipped as invalid, and, unless those are skipped, the first problem (which stops the run)."""

    table: object  # pyarrow.Table
    skipped: int
    problem: Optional[str] = None


def _root_of_glob(pattern: str) -> Path:
    """The folder a glob's matches are named from: its path up to the first part with a wildcard."""
    parts = Path(pattern).parts
    fixed = parts[: next(i for i, part in enumerate(parts) if _GLOB_CHARS.search(part))]
    return Path(*fixed) if fixed else Path(".")


def find_sources(input: str, *, dataset: Optional[bool] = None, split: str = "train") -> List[Source]:
    """The sources of an input: a file, a folder (its files of known formats, recursively, hidden
    ones left out) or a glob; or a dataset id. `dataset`: True for a dataset, False for files,
    None to tell by the input (files if it exists or looks like a path or glob)."""
    if dataset is None:
        dataset = not (is_local(input, SUFFIXES) or _GLOB_CHARS.search(input))
    if dataset:
        return [Source(input, f"{input}[{split}]", Format.dataset, split)]
    path = Path(input)
    if _GLOB_CHARS.search(input) and not path.exists():
        root = _root_of_glob(input)
        files = sorted(Path(p) for p in glob.glob(input, recursive=True) if Path(p).is_file())
    elif path.is_dir():
        root = path
        files = sorted(p for p in path.rglob("*") if p.is_file())
        files = [p for p in files if not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)]
        files = [p for p in files if p.suffix.lower() in SUFFIXES]
    elif path.is_file():
        root, files = path.parent, [path]
    else:
        raise InputError(f"{input} does not exist. Pass a file, a folder or a glob of texts, or a dataset id.")
    sources = []
    for file in files:
        fmt = SUFFIXES.get(file.suffix.lower())
        if fmt is None:
            known = ", ".join(SUFFIXES)
            raise InputError(f"{file}: not a format annotate reads ({known}). Rename it or leave it out of the input.")
        sources.append(Source(str(file), file.relative_to(root).as_posix(), fmt))
    if not sources:
        raise InputError(f"{input}: no input files ({', '.join(SUFFIXES)}). Point at a file, a folder or a glob.")
    return sources


def fingerprint(source: Source) -> Dict:
    """What tells whether a source changed since an output was started: a file's size and mtime."""
    if source.format == Format.dataset:
        return {"dataset": source.location, "split": source.split}
    stat = Path(source.location).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _line_blocks(source: Source, block_size: int, chunk_size: int = 1 << 24) -> Iterator[Block]:
    """Blocks of `block_size` lines, from one pass over the bytes counting line ends (a last line
    without one counts; no line follows a final line end)."""
    with open(source.location, "rb") as f:
        line, start, start_offset, position, pending = 1, 1, 0, 0, False
        while chunk := f.read(chunk_size):
            cursor = 0
            while True:
                found = chunk.find(b"\n", cursor)
                if found < 0:
                    pending = pending or cursor < len(chunk)
                    break
                cursor, line, pending = found + 1, line + 1, False
                if line - start == block_size:
                    yield Block(source, start, line, start_offset, position + cursor)
                    start, start_offset = line, position + cursor
            position += len(chunk)
        if pending:
            line += 1
        if line > start:
            yield Block(source, start, line, start_offset, position)


def _count_rows(source: Source) -> int:
    if source.format == Format.parquet:
        import pyarrow.parquet

        return pyarrow.parquet.ParquetFile(source.location).metadata.num_rows
    from spacy.tokens import DocBin

    return len(DocBin().from_disk(source.location))


def plan_blocks(source: Source, block_size: int) -> List[Block]:
    """The blocks of a source, in order; none for an empty file."""
    if source.format in LINE_FORMATS:
        return list(_line_blocks(source, block_size))
    if source.format == Format.dataset:
        rows = len(_load_dataset(source))
    else:
        try:
            rows = _count_rows(source)
        except Exception as err:  # pyarrow and msgpack raise many types for unreadable files
            raise InputError(f"{source.location}: can't be read as {source.format.value} ({_first_line(err)}).")
    return [Block(source, start, min(start + block_size, rows)) for start in range(0, rows, block_size)]


class Plan(NamedTuple):
    blocks: List[Block]
    empty_files: List[str]  # skipped (--skip-invalid); else an empty file is an InputError


def plan_input(sources: Sequence[Source], block_size: int, skip_invalid: bool = False) -> Plan:
    """The blocks of every source, in input order."""
    blocks, empty = [], []
    for source in sources:
        planned = plan_blocks(source, block_size)
        if not planned:
            if not skip_invalid:
                raise InputError(
                    f"{source.location}: empty file, no texts. Remove it from the input, or pass --skip-invalid."
                )
            empty.append(source.location)
        blocks.extend(block._replace(number=number) for number, block in enumerate(planned, len(blocks)))
    return Plan(blocks, empty)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def _load_dataset(source: Source, opened: Optional[Dict] = None):
    """The dataset split of a source; from `opened` (the caller's: a process reading many blocks
    loads it once), where it is kept."""
    if opened is not None and source in opened:
        return opened[source]
    import datasets

    try:
        dataset = datasets.load_dataset(source.location, split=source.split)
    except Exception as err:  # datasets raises many types for "not found" and "offline"
        raise InputError(
            f"couldn't load {source.location!r} split {source.split!r} with datasets.load_dataset ({_first_line(err)}). "
            "Check the name, the split and the network, or pass local files."
        ) from None
    if opened is not None:
        opened[source] = dataset
    return dataset


def _lines(block: Block) -> Iterator[Tuple[int, Optional[str], Optional[str]]]:
    """(line number, text, problem) of each line of a text or JSONL block."""
    with open(block.source.location, "rb") as f:
        f.seek(block.offset)
        data = f.read(block.end - block.offset)
    for number, raw in enumerate(data.split(b"\n")[: block.size], block.start):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, None, f"bytes that are not UTF-8 ({err.reason} at byte {err.start})"
            continue
        yield number, text[1:] if number == 1 and text.startswith("\ufeff") else text, None


class _Rows:
    """Collects a block's valid rows and its first problem or skip count."""

    def __init__(self, settings: ReadSettings):
        self.settings, self.records, self.skipped, self.problem = settings, [], 0, None

    def bad(self, where: str, what: str) -> bool:
        """Record a bad row; True when reading must stop (the problem will stop the run)."""
        if self.settings.skip_invalid:
            self.skipped += 1
            return False
        self.problem = f"{where}: {what}"
        return True


def _text_problem(record: Dict, field: str) -> Optional[str]:
    if field not in record:
        fields = ", ".join(record) or "none"
        return f'no "{field}" field (fields: {fields}); pass --text-field NAME to read another'
    if not isinstance(record[field], str):
        return f'"{field}" is {type(record[field]).__name__}, not a string'
    return None


def _read_lines(block: Block, settings: ReadSettings) -> BlockRows:
    import pyarrow

    rows, key = _Rows(settings), block.source.key
    for number, line, problem in _lines(block):
        where = f"{block.source.location}:{number}"
        if problem is None and not line.strip():
            continue  # a blank line holds no text
        if problem is None and block.source.format == Format.text:
            rows.records.append({"id": f"{key}:{number}", "text": line})
            continue
        record = None
        if problem is None:
            try:
                record = srsly.json_loads(line)
            except ValueError as err:
                problem = f"not valid JSON ({err})"
        if problem is None and not isinstance(record, dict):
            problem = f"not a JSON object with a {settings.text_field!r} field"
        if problem is None:
            problem = _text_problem(record, settings.text_field)
        if problem is not None:
            if rows.bad(where, problem):
                break
            continue
        text = record.pop(settings.text_field)
        id_ = record.pop(settings.id_field, None)
        rows.records.append({"id": f"{key}:{number}" if id_ is None else str(id_), "text": text, **record})
    names = dict.fromkeys(name for record in rows.records for name in record)  # every row's fields, in order seen
    try:
        table = pyarrow.table({name: [record.get(name) for record in rows.records] for name in names})
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):
        where = f"{block.source.location}:{block.start}-{block.stop - 1}"
        return BlockRows(None, 0, f"{where}: {_mixed_field(rows.records)}; give each field values of one type")
    return BlockRows(table if rows.records else _empty_table(), rows.skipped, rows.problem)


def _mixed_field(records: List[Dict]) -> str:
    """Which field of the records holds values of different types (that Arrow can't store as one column)."""
    import pyarrow

    for name in dict.fromkeys(name for record in records for name in record):  # the first that fails
        try:
            pyarrow.array([record.get(name) for record in records])
        except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):
            types = sorted({type(record[name]).__name__ for record in records if record.get(name) is not None})
            return f'field "{name}" holds values of different types ({", ".join(types)})'
    return "fields hold values of different types"


def _empty_table():
    import pyarrow

    return pyarrow.table({"id": pyarrow.array([], pyarrow.string()), "text": pyarrow.array([], pyarrow.string())})


def _block_table(block: Block, opened: Optional[Dict]):
    """The rows of a Parquet, DocBin or dataset block, as a table with the text column under its own name."""
    import pyarrow

    source = block.source
    if source.format == Format.parquet:
        import pyarrow.parquet

        parquet = pyarrow.parquet.ParquetFile(source.location)
        groups, first, row = [], None, 0
        for index in range(parquet.metadata.num_row_groups):
            rows = parquet.metadata.row_group(index).num_rows
            if row + rows > block.start and row < block.stop:
                groups.append(index)
                first = row if first is None else first
            row += rows
        table = parquet.read_row_groups(groups)
        return table.slice(block.start - first, block.size)
    if source.format == Format.docbin:
        from spacy.tokens import DocBin
        from spacy.vocab import Vocab

        docs = list(DocBin().from_disk(source.location).get_docs(Vocab()))[block.start : block.stop]
        return pyarrow.table({"text": [doc.text for doc in docs]})
    return _load_dataset(source, opened).with_format("arrow")[block.start : block.stop]


def _read_table(block: Block, settings: ReadSettings, opened: Optional[Dict]) -> BlockRows:
    import pyarrow
    import pyarrow.compute

    source = block.source
    text_field = "text" if source.format == Format.docbin else settings.text_field
    table = _block_table(block, opened)
    where = source.location if source.format != Format.dataset else f"{source.location} [{source.split}]"
    if text_field not in table.column_names:
        columns = ", ".join(table.column_names)
        return BlockRows(None, 0, f'{where}: no "{text_field}" column (columns: {columns}); pass --text-field NAME')
    texts = table.column(text_field)
    if not (pyarrow.types.is_string(texts.type) or pyarrow.types.is_large_string(texts.type)):
        return BlockRows(None, 0, f'{where}: column "{text_field}" holds {texts.type}, not strings')
    made = pyarrow.array([f"{source.key}:{row}" for row in range(block.start, block.stop)])
    ids = made
    if settings.id_field in table.column_names and source.format != Format.docbin:
        given = pyarrow.compute.cast(table.column(settings.id_field), pyarrow.string())
        ids = pyarrow.compute.coalesce(given, made)
    carried = [name for name in table.column_names if name not in (text_field, settings.id_field)]
    table = pyarrow.table(
        [ids, texts.cast(pyarrow.string()), *(table.column(name) for name in carried)], names=["id", "text", *carried]
    )
    valid = pyarrow.compute.is_valid(table.column("text"))
    nulls = len(table) - pyarrow.compute.sum(valid).as_py() if len(table) else 0
    if nulls and not settings.skip_invalid:
        row = block.start + pyarrow.compute.index(valid, False).as_py()
        return BlockRows(None, 0, f'{where}: row {row}: "{text_field}" is null, not a string')
    return BlockRows(table.filter(valid) if nulls else table, nulls)


def read_block(block: Block, settings: ReadSettings, opened: Optional[Dict] = None) -> BlockRows:
    """The rows of one block (see BlockRows); `opened`: the caller's cache of loaded datasets.
    Carried columns named like an output column are a problem."""
    if block.source.format in LINE_FORMATS:
        rows = _read_lines(block, settings)
    else:
        rows = _read_table(block, settings, opened)
    if rows.problem is None and OUTPUT_COLUMN in rows.table.column_names[2:]:
        where = f"{block.source.location}"
        return BlockRows(
            None, 0, f'{where}: a field is named "{OUTPUT_COLUMN}", as the output\'s column: rename it in the input'
        )
    return rows
