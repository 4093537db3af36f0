"""Rows -> sharded DocBin corpus, streaming, with bounded memory.

Layout written under the output folder:
    train/NNN.spacy        shuffled with a fixed seed, languages mixed
    dev/<lang>/NNN.spacy   in source order, one folder per language
    test/<lang>/NNN.spacy
    dev_sample/000.spacy   a seeded random sample of dev, bounded, for evaluation during training
    labels/ner.json        the entity labels, so training initialises without reading the data
    report.json            per split and language: sentences, tokens, entities per type, repairs, skips

Memory stays bounded whatever the input size: the training split is shuffled on disk (each
sentence goes to one of many bucket files at random, then each bucket is shuffled and written),
dev and test stream straight into shards, and a shard holds at most `shard_size` docs.
The whole corpus is built in a temporary folder and moved into place only when it is complete,
so a failed run leaves the previous corpus as it was.
"""

import os
import pickle
import random
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence

import numpy
import srsly
from spacy.attrs import ENT_IOB, ENT_TYPE, ORTH
from spacy.pipeline._parser_internals.ner import BiluoPushDown
from spacy.strings import get_string_id
from spacy.tokens import Doc, DocBin
from spacy.tokens._dict_proxies import SpanGroups
from spacy.vocab import Vocab

from .bio import TAG_PATTERN, repair_bio, spread_tag
from .labels import MULTINERD_TAGS, SPACELESS_LANGUAGES
from .readers import SPLITS, Row
from .tokenizer import split_cjk

DOCBIN_ATTRS = ["ORTH", "ENT_IOB", "ENT_TYPE"]
IOB_CODES = {"I": 1, "O": 2, "B": 3}  # spaCy's ENT_IOB values
OUTPUTS = ("train", "dev", "test", "dev_sample", "labels", "report.json")


class InvalidRow(Exception):
    """A row that can't be converted; the message names where it is and what is wrong."""


class Sentence(NamedTuple):
    words: List[str]
    tags: List[str]  # well-formed BIO
    lang: str
    repairs: int


# Language codes become folder names (dev/<lang>/), so only plain codes pass.
LANG_PATTERN = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


class RowValidator:
    """Validates rows and makes them sentences (`__call__`): tag names, repaired BIO, Chinese cut
    into characters. Tag strings and language codes found valid are remembered, so that the
    usual tag costs one dict lookup."""

    def __init__(self):
        # Tag names by MultiNERD id and by every tag string seen valid so far.
        self.tag_names: Dict = {**dict(enumerate(MULTINERD_TAGS)), **{tag: tag for tag in MULTINERD_TAGS}}
        self.langs = set()

    def tag_name(self, tag, where: str) -> str:
        """The tag name of a raw tag, validating it (and remembering valid strings)."""
        if isinstance(tag, str) and TAG_PATTERN.match(tag):
            self.tag_names[tag] = tag
            return tag
        if isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < len(MULTINERD_TAGS):
            return MULTINERD_TAGS[tag]
        if isinstance(tag, int) and not isinstance(tag, bool):
            raise InvalidRow(f"{where}: unknown label id {tag} (MultiNERD's ids are 0-{len(MULTINERD_TAGS) - 1})")
        raise InvalidRow(f"{where}: unknown tag {tag!r} (expected a MultiNERD id, O, B-<type> or I-<type>)")

    def __call__(self, row: Row) -> Sentence:
        if row.problem:
            raise InvalidRow(f"{row.where}: {row.problem}")
        tokens, raw_tags = row.tokens, row.tags
        if not isinstance(tokens, (list, tuple)) or not isinstance(raw_tags, (list, tuple)):
            raise InvalidRow(f"{row.where}: tokens and ner_tags must be lists")
        if not tokens:
            raise InvalidRow(f"{row.where}: empty sentence (no tokens)")
        if len(tokens) != len(raw_tags):
            raise InvalidRow(f"{row.where}: {len(tokens)} tokens but {len(raw_tags)} tags")
        if not row.lang:
            raise InvalidRow(f'{row.where}: no language: give rows a "lang", or pass --lang')
        if row.lang not in self.langs:
            if not isinstance(row.lang, str) or not LANG_PATTERN.match(row.lang):
                raise InvalidRow(f"{row.where}: {row.lang!r} is not a language code such as de or pt-BR")
            self.langs.add(row.lang)
        try:
            if not {type(tag) for tag in raw_tags} <= {int, str}:
                raise TypeError  # True and 1.0 would pass for the id 1 in the lookup below
            tags = [self.tag_names[tag] for tag in raw_tags]
        except (KeyError, TypeError):
            tags = [self.tag_name(tag, row.where) for tag in raw_tags]
        try:
            if not all(map(str.strip, tokens)):
                raise TypeError
        except TypeError:
            bad = next(token for token in tokens if not isinstance(token, str) or not token.strip())
            raise InvalidRow(f"{row.where}: empty or non-text token {bad!r}") from None
        tags, repairs = repair_bio(tags)
        words = list(tokens)
        if row.lang in SPACELESS_LANGUAGES:
            words, cut_tags = [], []
            for token, tag in zip(tokens, tags):
                pieces = split_cjk(token)
                words.extend(pieces)
                cut_tags.extend(spread_tag(tag, len(pieces)))
            tags = cut_tags
        return Sentence(words, tags, row.lang, repairs)


def spaces_of(sentence: Sentence) -> List[bool]:
    """Spaces after each word: none in spaceless languages, none after the last word."""
    spaced = sentence.lang not in SPACELESS_LANGUAGES
    return [spaced] * (len(sentence.words) - 1) + [False]


def write_docbin(docbin: DocBin, path: Path) -> None:
    """Write a shard atomically: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(docbin.to_bytes())
    os.replace(partial, path)


class ShardWriter:
    """Writes sentences to `folder/000.spacy`, `001.spacy`, ... with at most `shard_size` docs each.

    Sentences go into the DocBin as the arrays `DocBin.add` would take from a Doc, without
    building the Doc: building and walking a Doc per sentence was most of the conversion time.
    The tests check that the shards read back exactly as `DocBin.add` on real Docs gives them.
    """

    def __init__(self, folder: Path, shard_size: int, hashes: "StringIds"):
        self.folder, self.shard_size, self.hashes = folder, shard_size, hashes
        self.docbin = DocBin(attrs=DOCBIN_ATTRS)
        self.shards = 0

    def add(self, sentence: Sentence) -> None:
        words, tags, hashes = sentence.words, sentence.tags, self.hashes
        columns = {
            ORTH: [hashes[word] for word in words],
            ENT_IOB: [IOB_CODES[tag[0]] for tag in tags],
            ENT_TYPE: [hashes[tag[2:]] for tag in tags],
        }
        docbin = self.docbin
        docbin.tokens.append(numpy.array([columns[attr] for attr in docbin.attrs], dtype=numpy.uint64).T.copy())
        docbin.spaces.append(numpy.array(spaces_of(sentence), dtype=bool).reshape((len(words), 1)))
        docbin.flags.append({"has_unknown_spaces": False})
        docbin.cats.append({})
        docbin.span_groups.append(SpanGroups._EMPTY_BYTES)
        docbin.strings.update(words)
        docbin.strings.update(tag[2:] for tag in tags if tag != "O")
        if len(docbin) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if len(self.docbin):
            # Zero-padded names: spaCy reads the shards in name order.
            write_docbin(self.docbin, self.folder / f"{self.shards:05d}.spacy")
            self.shards += 1
            self.docbin = DocBin(attrs=DOCBIN_ATTRS)
            if len(self.hashes) > 1_000_000:  # keep the cache bounded on huge vocabularies
                self.hashes.clear()


class StringIds(dict):
    """String -> spaCy's id for it (a hash, or a symbol id for built-in names such as LOC), cached.

    One is shared by every writer of a conversion: dev and test have a writer per language, and
    one cache each cost hundreds of MB at full scale."""

    def __missing__(self, string: str) -> int:
        value = self[string] = get_string_id(string) if string else 0
        return value


class BucketShuffle:
    """Shuffles a stream too large for memory: each item goes to a random bucket file on disk,
    then each bucket is shuffled in memory. Random buckets + in-bucket shuffles give a uniformly
    random order, with memory bounded by one bucket."""

    def __init__(self, folder: Path, n_buckets: int, rng: random.Random):
        folder.mkdir(parents=True)
        self.rng = rng
        self.files = [open(folder / f"{i:04d}.pickle", "w+b") for i in range(n_buckets)]

    def add(self, item) -> None:
        pickle.dump(item, self.rng.choice(self.files), protocol=pickle.HIGHEST_PROTOCOL)

    def __iter__(self) -> Iterator:
        for f in self.files:
            f.seek(0)
            items = []
            while True:
                try:
                    items.append(pickle.load(f))
                except EOFError:
                    break
            f.close()
            self.rng.shuffle(items)
            yield from items


class Reservoir:
    """A seeded uniform sample of at most `size` items from a stream (Algorithm R)."""

    def __init__(self, size: int, rng: random.Random):
        self.size, self.rng, self.items, self.seen = size, rng, [], 0

    def add(self, item) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            slot = self.rng.randrange(self.seen)
            if slot < self.size:
                self.items[slot] = item


def empty_stats() -> Dict:
    return {"sentences": 0, "tokens": 0, "entities": Counter(), "repaired": 0, "skipped": 0}


def entity_labels(tags: Sequence[str]) -> List[str]:
    """The label of each entity in a well-formed BIO sequence."""
    return [tag[2:] for tag in tags if tag[0] == "B"]


def convert(
    rows: Iterable[Row],
    output: Path,
    *,
    langs: Optional[Sequence[str]] = None,
    shard_size: int = 10_000,
    seed: int = 0,
    skip_invalid: bool = False,
    n_buckets: int = 128,
    dev_sample_size: int = 2_000,
    on_row: Callable[[], None] = lambda: None,
    source: str = "",
) -> Dict:
    """Convert rows into the corpus layout above (see the module docstring) and return the report.

    Raises InvalidRow on the first bad row unless `skip_invalid`; then nothing is written.
    `on_row` is called once per row read (for a progress bar).
    """
    output.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=output))
    try:
        report = _convert_into(
            rows, work, langs, shard_size, seed, skip_invalid, n_buckets, dev_sample_size, on_row, source
        )
        for name in OUTPUTS:
            target = output / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(work / name, target)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _convert_into(rows, work, langs, shard_size, seed, skip_invalid, n_buckets, dev_sample_size, on_row, source):
    rng = random.Random(seed)
    validate, hashes = RowValidator(), StringIds()
    wanted = set(langs) if langs else None
    stats = {split: defaultdict(empty_stats) for split in SPLITS}
    filtered = Counter()
    labels = set()
    train = BucketShuffle(work / "buckets", n_buckets, rng)
    writers = {}  # (split, lang) -> ShardWriter, for dev and test
    dev_sample = Reservoir(dev_sample_size, rng)
    for row in rows:
        on_row()
        if wanted is not None and row.lang and row.lang not in wanted:
            filtered[row.split] += 1
            continue
        try:
            sentence = validate(row)
        except InvalidRow:
            if not skip_invalid:
                raise
            stats[row.split][row.lang or "?"]["skipped"] += 1
            continue
        counts = stats[row.split][sentence.lang]
        counts["sentences"] += 1
        counts["tokens"] += len(sentence.words)
        counts["repaired"] += sentence.repairs
        entities = entity_labels(sentence.tags)
        counts["entities"].update(entities)
        labels.update(entities)
        if row.split == "train":
            train.add(sentence)
            continue
        if row.split == "dev":
            dev_sample.add(sentence)
        key = (row.split, sentence.lang)
        if key not in writers:
            writers[key] = ShardWriter(work / row.split / sentence.lang, shard_size, hashes)
        writers[key].add(sentence)
    train_writer = ShardWriter(work / "train", shard_size, hashes)
    for sentence in train:
        train_writer.add(sentence)
    sample_writer = ShardWriter(work / "dev_sample", dev_sample_size, hashes)
    rng.shuffle(dev_sample.items)
    for sentence in dev_sample.items:
        sample_writer.add(sentence)
    for writer in [train_writer, sample_writer, *writers.values()]:
        writer.flush()
    for split in SPLITS:
        (work / split).mkdir(exist_ok=True)
    (work / "dev_sample").mkdir(exist_ok=True)
    (work / "labels").mkdir()
    srsly.write_json(work / "labels" / "ner.json", ner_label_data(labels))
    report = make_report(stats, filtered, source=source, langs=langs, seed=seed, shard_size=shard_size)
    report["splits"]["train"]["shards"] = train_writer.shards
    report["splits"]["dev"]["sample"] = len(dev_sample.items)
    srsly.write_json(work / "report.json", report)
    return report


def ner_label_data(labels: Iterable[str]) -> Dict:
    """The entity recognizer's label data (its transitions per label), as `spacy init labels`
    writes it for `ner`. Taken from the transition system itself: a blank pipeline would load
    every spaCy plugin, seconds of start-up for nothing."""
    actions = BiluoPushDown.get_actions(entity_types=sorted(labels))
    return {action: dict(names) for action, names in actions.items()}


def make_report(stats, filtered, **settings) -> Dict:
    splits = {}
    for split, by_lang in stats.items():
        languages = {
            lang: {**counts, "entities": dict(sorted(counts["entities"].items()))}
            for lang, counts in sorted(by_lang.items())
        }
        totals = {
            key: sum(c[key] for c in languages.values()) for key in ("sentences", "tokens", "repaired", "skipped")
        }
        entities = Counter()
        for counts in languages.values():
            entities.update(counts["entities"])
        splits[split] = {
            **totals,
            "rows_in": totals["sentences"] + totals["skipped"],
            "filtered_out": filtered[split],
            "entities": dict(sorted(entities.items())),
            "languages": languages,
        }
    return {**settings, "splits": splits}


def read_docs(folder: Path, vocab: Vocab) -> Iterator[Doc]:
    """The docs of every shard under `folder`, in the order they were written."""
    for path in sorted(folder.rglob("*.spacy")):
        yield from DocBin().from_disk(path).get_docs(vocab)
