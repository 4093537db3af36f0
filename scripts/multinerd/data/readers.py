"""Readers for every source the converter takes, all yielding `Row`s.

- a Hugging Face dataset id (or a dataset folder) through `datasets.load_dataset`;
- local JSONL or Parquet files with MultiNERD's row shape `{"tokens", "ner_tags", "lang"}`;
- MultiNERD's and WikiNEuRal's original TSV: `<index>\\t<token>\\t<BIO tag>[\\t...]`, one token a
  line, a blank line between sentences, `-DOCSTART-` lines between documents. A file whose first
  column is not a token index is another format (CoNLL-2003's columns, `token tag` pairs) and is
  refused by name, not read as if it were this one.
- `.json` files holding a JSON array of such rows.

Readers never raise on a bad row: they yield it with `problem` set, so the converter decides
whether to stop or to skip and count it.
"""

import re
from pathlib import Path
from typing import Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import srsly

from multinerd.labels import LANGUAGES

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
    source: str = ""  # the file (or hub split) it comes from: its tags must be written one way


class SourceError(Exception):
    """A source that can't be read at all (missing, unreadable, in another format, no split in a file name)."""


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


DOCSTART = "-DOCSTART-"  # CoNLL's document separator line, in the token's column or the first


def _is_docstart(columns: Sequence[str]) -> bool:
    return DOCSTART in columns[:2]


def _tsv_rows(
    lines: Iterable[Tuple[int, Optional[str], Optional[str]]], path: Path, split: str, lang: Optional[str]
) -> Iterator[Row]:
    """Sentences from numbered TSV lines, one line at a time: the careful reader for any input."""
    tokens, tags, start, problem = [], [], 0, None
    source = str(path)
    for number, line, line_problem in lines:
        if line is not None and (not line.strip() or _is_docstart(line.split("\t"))):
            if tokens or problem:
                yield Row(tokens, tags, lang, split, f"{path}:{start}", problem, source)
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
        if not columns[0].isdecimal():
            problem, start = f"the first column ({columns[0]!r}) is not the token's index", number
            continue
        tokens.append(columns[1])
        tags.append(columns[2].strip())
    if tokens or problem:
        yield Row(tokens, tags, lang, split, f"{path}:{start}", problem, source)


def _tsv_block(block: str, first: int, path: Path, split: str, lang: Optional[str]) -> Iterator[Row]:
    """The sentence in `block` (text between blank lines, starting at line `first`), parsed a
    sentence at a time; anything unusual (comments, blank or short lines) goes to `_tsv_rows`."""
    lines = block.split("\n")
    if block and block[0] != "#" and "\n#" not in block and DOCSTART not in block:
        columns = [line.split("\t") for line in lines]
        try:
            tokens = [c[1] for c in columns]
            tags = [c[2].strip() for c in columns]
        except IndexError:
            tokens = None
        if tokens is not None and "" not in tokens and "" not in tags and all(c[0].isdecimal() for c in columns):
            yield Row(tokens, tags, lang, split, f"{path}:{first}", None, str(path))
            return
    yield from _tsv_rows(((first + i, line, None) for i, line in enumerate(lines)), path, split, lang)


# A line break, an empty (or blank) line, a line break: where one sentence ends and the next starts.
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


ANY_TAG = re.compile(r"^(?:O|[BIES]-\S+)$")  # a BIO or BIOES tag, as another format may write it
# Rewrites whitespace-separated columns, token first and NER tag last, as MultiNERD's TSV.
TO_MULTINERD_TSV = """awk 'NF<2 {print; i=0; next} {print i++ "\\t" $1 "\\t" $NF}' FILE > FILE.tsv"""


def looks_like(fields: Sequence[str]) -> Optional[str]:
    """The format a data line's fields (tab- or space-separated) look like, if a known one."""
    if not ANY_TAG.match(fields[-1]):
        return None
    if len(fields) == 4 and ANY_TAG.match(fields[2]):
        return "CoNLL-2003 columns (token, POS tag, chunk tag, NER tag)"
    if len(fields) == 2:
        return "`token tag` pairs"
    return None


def tsv_format_problem(path: Path) -> Optional[str]:
    """Why `path` is not MultiNERD/WikiNEuRal TSV, judged from its first data line (not blank, not a
    comment, not -DOCSTART-): the format it looks like and how to convert it; None if it is that TSV."""
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            columns = line.split("\t")
            if not line.strip() or line.startswith("#") or _is_docstart(columns) or _is_docstart(line.split()):
                continue
            if len(columns) >= 3 and columns[0].isdecimal():
                return None
            fields = columns if len(columns) > 1 else line.split()
            looks = looks_like(fields)
            what = f"it looks like {looks}" if looks else f"its first column ({fields[0]!r}) is not a token index"
            return (
                f"{path}:{number}: not MultiNERD/WikiNEuRal TSV (<index>\\t<token>\\t<BIO tag>): {what}. "
                f"Convert it first, e.g. `{TO_MULTINERD_TSV}` (token first, NER tag last), "
                'or write JSONL rows {"tokens": [...], "ner_tags": [...], "lang": ...}'
            )
    return None


def read_tsv(path: Path, split: str, lang: Optional[str], chunk_size: int = 1 << 22) -> Iterator[Row]:
    """Sentences of a TSV file, read in large chunks and cut at blank lines (fast); after bytes
    that are not UTF-8, the rest is read line by line so the bad line can be named.

    Raises SourceError if the file is in another format (`tsv_format_problem`)."""
    problem = tsv_format_problem(path)
    if problem is not None:
        raise SourceError(problem)
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


def _row_from_dict(record, split: str, lang: Optional[str], where: str, source: str) -> Row:
    if not isinstance(record, dict) or "tokens" not in record or "ner_tags" not in record:
        return Row(
            [],
            [],
            lang,
            split,
            where,
            'not a row of the form {"tokens": [...], "ner_tags": [...], "lang": ...}',
            source,
        )
    return Row(record["tokens"], record["ner_tags"], record.get("lang") or lang, split, where, None, source)


def _json_array(path: Path) -> Optional[list]:
    """The rows of a file holding one JSON array; None for JSON Lines (one value a line, which may
    be an array too). Raises SourceError for a file that starts as an array but is not valid JSON."""
    with path.open("rb") as f:
        if f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"[":
            return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise SourceError(
            f"{path}: bytes that are not UTF-8 ({err.reason} at byte {err.start}) in a JSON array"
        ) from None
    try:
        data = srsly.json_loads(text)
    except ValueError as err:
        first = text.lstrip().split("\n", 1)[0]
        try:
            srsly.json_loads(first)
            return None  # JSON Lines whose first line is an array
        except ValueError:
            raise SourceError(
                f"{path}: starts as a JSON array but is not valid JSON ({err}). Fix it, or write one row a line (JSON Lines)"
            ) from None
    return data if isinstance(data, list) else None


def read_jsonl(path: Path, split: str, lang: Optional[str]) -> Iterator[Row]:
    """Rows of a JSON Lines file, or of a file holding one JSON array of rows (`path: row N`, from 0)."""
    source = str(path)
    array = _json_array(path)
    if array is not None:
        for index, record in enumerate(array):
            yield _row_from_dict(record, split, lang, f"{path}: row {index}", source)
        return
    for number, line, problem in _decoded_lines(path):
        where = f"{path}:{number}"
        if problem is not None:
            yield Row([], [], lang, split, where, problem, source)
        elif line.strip():
            try:
                record = srsly.json_loads(line)
            except ValueError as err:
                yield Row([], [], lang, split, where, f"not valid JSON ({err})", source)
                continue
            yield _row_from_dict(record, split, lang, where, source)


def read_parquet(path: Path, split: str, lang: Optional[str]) -> Iterator[Row]:
    import pyarrow.parquet

    index = 0
    for batch in pyarrow.parquet.ParquetFile(path).iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            yield _row_from_dict(record, split, lang, f"{path}: row {index}", str(path))
            index += 1


FILE_READERS = {"tsv": read_tsv, "jsonl": read_jsonl, "parquet": read_parquet}


def read_files(source: Path, lang: Optional[str] = None) -> Iterator[Row]:
    """Rows of every data file under `source`; `lang` is used where neither row nor path names one."""
    for path, fmt, split, path_lang in find_files(source):
        yield from FILE_READERS[fmt](path, split, lang or path_lang)


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
        source = f"{name} [{hf_split}]"
        index = 0
        for batch in dataset.iter(batch_size=1024):
            for tokens, tags, row_lang in zip(
                batch["tokens"], batch["ner_tags"], batch.get("lang", [lang] * len(batch["tokens"]))
            ):
                if names is not None:
                    tags = [names[t] if isinstance(t, int) and 0 <= t < len(names) else t for t in tags]
                yield Row(tokens, tags, row_lang or lang, split, f"{name} [{hf_split}] row {index}", None, source)
                index += 1
