"""Readers for every source the converter takes, all yielding `Row`s.

- a Hugging Face dataset id (or a dataset folder) through `datasets.load_dataset`;
- local JSONL or Parquet files with MultiNERD's row shape `{"tokens", "ner_tags", "lang"}`;
- MultiNERD's and WikiNEuRal's original TSV: `<index>\\t<token>\\t<BIO tag>[\\t...]`, one token a
  line, a blank line between sentences.

Readers never raise on a bad row: they yield it with `problem` set, so the converter decides
whether to stop or to skip and count it.
"""

import re
from pathlib import Path
from typing import Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import srsly

from .labels import LANGUAGES

SPLIT_NAMES = {"train": "train", "dev": "dev", "val": "dev", "valid": "dev", "validation": "dev", "test": "test"}
SPLITS = ("train", "dev", "test")
FORMATS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".tsv": "tsv",
    ".conll": "tsv",
    ".conllu": "tsv",
    ".iob": "tsv",
    ".txt": "tsv",
}
_NAME_PARTS = re.compile(r"[^A-Za-z0-9]+")


class Row(NamedTuple):
    tokens: Sequence
    tags: Sequence  # integer ids (MultiNERD) or tag strings
    lang: Optional[str]
    split: str
    where: str  # "file:line" or "source [split] row N", for messages
    problem: Optional[str] = None


class SourceError(Exception):
    """A source that can't be read at all (missing, unreadable, no split in a file name)."""


def _name_parts(path: Path) -> List[str]:
    """Words of a path's file name, then of its folders from the nearest up: `ru/train_ru.tsv` -> train, ru, ru."""
    parts = []
    for name in [path.stem] + [parent.name for parent in path.parents]:
        parts.extend(p for p in _NAME_PARTS.split(name.lower()) if p)
    return parts


def split_of(path: Path) -> Optional[str]:
    return next((SPLIT_NAMES[p] for p in _name_parts(path) if p in SPLIT_NAMES), None)


def lang_of(path: Path) -> Optional[str]:
    return next((p for p in _name_parts(path) if p in LANGUAGES), None)


def find_files(source: Path) -> List[Tuple[Path, str, str, Optional[str]]]:
    """The data files under `source` (a file or a folder) as (path, format, split, language), by path.

    Only the part of a path below the source's parent folder is read for names, so a split or
    language word higher up (a temporary folder called `test_...`) can't leak in.
    """
    if not source.exists():
        raise SourceError(f"{source} does not exist. Pass a dataset id, a data file or a folder of them.")
    candidates = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    files = []
    for path in candidates:
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None or path.name.lower().startswith(("readme", "license")):
            continue
        named = path.relative_to(source.parent.parent if source.is_file() else source.parent)
        split = split_of(named)
        if split is None:
            raise SourceError(
                f"{path}: can't tell which split this file is. Put train, dev/val/validation or test in its name."
            )
        files.append((path, fmt, split, lang_of(named)))
    if not files:
        raise SourceError(f"{source}: no data files (.jsonl, .json, .parquet, .tsv, .conll, .conllu, .iob, .txt).")
    return files


def _decoded_lines(path: Path, after: int = 0) -> Iterator[Tuple[int, Optional[str], Optional[str]]]:
    """(line number, text, problem) for each line after line `after`; undecodable bytes become a
    problem, not a crash.

    Decodes in bulk (fast); only when that fails does it go on line by line from where it got to.
    """
    done = after
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:  # a BOM is dropped
            for number, line in enumerate(f, 1):
                if number > after:
                    done = number
                    yield number, line.rstrip("\r\n"), None
        return
    except UnicodeDecodeError:
        pass
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if number <= done:
                continue
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n"), None
            except UnicodeDecodeError as err:
                yield number, None, f"bytes that are not UTF-8 ({err.reason} at byte {err.start})"


def _tsv_rows(
    lines: Iterable[Tuple[int, Optional[str], Optional[str]]], path: Path, split: str, lang: Optional[str]
) -> Iterator[Row]:
    """Sentences from numbered TSV lines, one line at a time: the careful reader for any input."""
    tokens, tags, start, problem = [], [], 0, None
    for number, line, line_problem in lines:
        if line is not None and not line.strip():
            if tokens or problem:
                yield Row(tokens, tags, lang, split, f"{path}:{start}", problem)
            tokens, tags, problem = [], [], None
            continue
        if not tokens and problem is None:
            start = number
        if line is not None and line.startswith("#"):
            continue  # CoNLL-U style comment lines
        if problem is not None:
            continue
        if line_problem is not None:
            problem, start = line_problem, number
            continue
        columns = line.split("\t")
        if len(columns) < 3:
            problem = f"{len(columns)} tab-separated column(s), expected <index>, <token> and <BIO tag>"
            start = number
            continue
        tokens.append(columns[1])
        tags.append(columns[2].strip())
    if tokens or problem:
        yield Row(tokens, tags, lang, split, f"{path}:{start}", problem)


def _tsv_block(block: str, first: int, path: Path, split: str, lang: Optional[str]) -> Iterator[Row]:
    """The sentence in `block` (text between blank lines, starting at line `first`), parsed a
    sentence at a time; anything unusual (comments, blank or short lines) goes to `_tsv_rows`."""
    lines = block.split("\n")
    if block and block[0] != "#" and "\n#" not in block:
        columns = [line.split("\t") for line in lines]
        try:
            tokens = [c[1] for c in columns]
            tags = [c[2].strip() for c in columns]
        except IndexError:
            tokens = None
        if tokens is not None and "" not in tokens and "" not in tags:
            yield Row(tokens, tags, lang, split, f"{path}:{first}")
            return
    yield from _tsv_rows(((first + i, line, None) for i, line in enumerate(lines)), path, split, lang)


# A line break, an empty (or blank) line, a line break: where one sentence ends and the next starts.
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def read_tsv(path: Path, split: str, lang: Optional[str], chunk_size: int = 1 << 22) -> Iterator[Row]:
    """Sentences of a TSV file, read in large chunks and cut at blank lines (fast); after bytes
    that are not UTF-8, the rest is read line by line so the bad line can be named."""
    done = 0  # lines handled so far
    try:
        with path.open(encoding="utf-8-sig") as f:  # a BOM is dropped; universal newlines: \r\n becomes \n
            rest = ""
            while True:
                chunk = f.read(chunk_size)
                text = rest + chunk
                if chunk:
                    last = None
                    for last in _BLANK_LINE.finditer(text):
                        pass
                    if last is None:
                        rest = text
                        continue
                    body, rest = text[: last.start()], text[last.end() :]
                else:
                    body, rest = (text[:-1] if text.endswith("\n") else text), ""
                for block in _BLANK_LINE.split(body):
                    yield from _tsv_block(block, done + 1, path, split, lang)
                    done += block.count("\n") + 2
                if not chunk:
                    return
    except UnicodeDecodeError:
        pass
    yield from _tsv_rows(_decoded_lines(path, after=done), path, split, lang)


def _row_from_dict(record, split: str, lang: Optional[str], where: str) -> Row:
    if not isinstance(record, dict) or "tokens" not in record or "ner_tags" not in record:
        return Row(
            [], [], lang, split, where, 'not a row of the form {"tokens": [...], "ner_tags": [...], "lang": ...}'
        )
    return Row(record["tokens"], record["ner_tags"], record.get("lang") or lang, split, where)


def read_jsonl(path: Path, split: str, lang: Optional[str]) -> Iterator[Row]:
    for number, line, problem in _decoded_lines(path):
        where = f"{path}:{number}"
        if problem is not None:
            yield Row([], [], lang, split, where, problem)
        elif line.strip():
            try:
                record = srsly.json_loads(line)
            except ValueError as err:
                yield Row([], [], lang, split, where, f"not valid JSON ({err})")
                continue
            yield _row_from_dict(record, split, lang, where)


def read_parquet(path: Path, split: str, lang: Optional[str]) -> Iterator[Row]:
    import pyarrow.parquet

    index = 0
    for batch in pyarrow.parquet.ParquetFile(path).iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            yield _row_from_dict(record, split, lang, f"{path}: row {index}")
            index += 1


FILE_READERS = {"tsv": read_tsv, "jsonl": read_jsonl, "parquet": read_parquet}


def read_files(source: Path, lang: Optional[str] = None) -> Iterator[Row]:
    """Rows of every data file under `source`; `lang` is used where neither row nor path names one."""
    for path, fmt, split, path_lang in find_files(source):
        yield from FILE_READERS[fmt](path, split, lang or path_lang)


def is_local(source: str) -> bool:
    """Whether a source names local files: it exists, or it looks like a path, not a hub id."""
    path = Path(source)
    return path.exists() or source.startswith((".", "/", "~")) or path.suffix.lower() in FORMATS


def hub_tag_names(dataset) -> Optional[List[str]]:
    """The tag names a hub dataset declares for its `ner_tags` (a ClassLabel sequence), if it does."""
    feature = getattr(dataset.features.get("ner_tags"), "feature", None)
    return list(feature.names) if hasattr(feature, "names") else None


def read_hub(name: str, lang: Optional[str] = None) -> Iterator[Row]:
    """Rows of every split of a dataset loaded with `datasets.load_dataset` (hub id or dataset folder)."""
    import datasets

    try:
        splits = datasets.load_dataset(name)
    except Exception as err:  # datasets raises many types for "not found" and "offline"
        raise SourceError(
            f"couldn't load {name!r} with datasets.load_dataset ({type(err).__name__}: {str(err).splitlines()[0]}). "
            "Check the name and the network, or pass a local folder of JSONL, Parquet or TSV files."
        ) from None
    for hf_split, dataset in splits.items():
        split = SPLIT_NAMES.get(hf_split.lower())
        if split is None:
            continue
        names = hub_tag_names(dataset)
        index = 0
        for batch in dataset.iter(batch_size=1024):
            for tokens, tags, row_lang in zip(
                batch["tokens"], batch["ner_tags"], batch.get("lang", [lang] * len(batch["tokens"]))
            ):
                if names is not None:
                    tags = [names[t] if isinstance(t, int) and 0 <= t < len(names) else t for t in tags]
                yield Row(tokens, tags, row_lang or lang, split, f"{name} [{hf_split}] row {index}")
                index += 1
