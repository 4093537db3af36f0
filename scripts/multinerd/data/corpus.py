"""Rows -> sharded DocBin corpus, streaming, with bounded memory.

Layout written under the output folder:
    train/NNN.spacy        shuffled with a fixed seed, languages mixed
    dev/<lang>/NNN.spacy   in source order, one folder per language
    test/<lang>/NNN.spacy
    dev_sample/000.spacy   a seeded random sample of dev, bounded, for evaluation during training
    labels/ner.json        the entity labels, so training initialises without reading the data
    report.json            per split and language: sentences, tokens, entities per type, repairs,
                           skips, exact duplicates (and, for dev and test, sentences also in train)

Memory stays bounded whatever the input size: the training split is shuffled on disk (each
sentence goes to one of many bucket files at random, then each bucket is shuffled and written),
dev and test stream straight into shards, a shard holds at most `shard_size` docs, and
duplicates are found from 8 bytes a sentence. The whole corpus is built in a work folder and
moved into place only when it is complete (`multinerd.data.staging`), so a failed or killed run
leaves the previous corpus as it was.
"""

import hashlib
import marshal
import os
import pickle
import random
import re
from array import array
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence

import numpy
import srsly
from spacy.attrs import ENT_IOB, ENT_TYPE, ORTH
from spacy.pipeline._parser_internals.ner import BiluoPushDown
from spacy.strings import get_string_id
from spacy.tokens import DocBin
from spacy.tokens._dict_proxies import SpanGroups

from multinerd.data.readers import SPLITS, Row
from multinerd.data.staging import check_output, commit, staged
from multinerd.data.tag_repair import TAG_PATTERN, repair_bio, spread_tag
from multinerd.labels import ENTITY_TYPES, LANGUAGE_ALIASES, LANGUAGES, MULTINERD_TAGS, SPACELESS_LANGUAGES
from multinerd.pipeline.tokenizer import split_cjk

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


def normal_language(code) -> Optional[str]:
    """A language code as the corpus names it: its language part in lower case, the three-letter
    codes of MultiNERD's languages as their two-letter ones (EN -> en, zh-CN, zh_Hans, ZH -> zh,
    pt-BR -> pt, deu -> de); None if it is not a language code."""
    if not isinstance(code, str) or not LANG_PATTERN.match(code):
        return None
    language = re.split("[-_]", code, maxsplit=1)[0].lower()
    return LANGUAGE_ALIASES.get(language, language)


def label_of(tag: str) -> Optional[str]:
    return None if tag == "O" else tag[2:]


class RowValidator:
    """Validates rows and makes them sentences (`__call__`): tag names, repaired BIO, language
    codes normalised, Chinese cut into characters.

    Labels: `labels`, if given, is the label set every tag must be in. Otherwise MultiNERD's
    integer ids, once seen, make MultiNERD's types the label set, for every file before and after;
    string tags alone may be any label set (WikiNEuRal's PER/ORG/LOC/MISC). A file writes its tags
    one way: integer ids or strings, never both. Tags and codes found valid are remembered, so
    that the usual tag costs one dict lookup."""

    def __init__(self, labels: Optional[Iterable[str]] = None):
        self.declared = frozenset(labels) if labels is not None else None
        self.label_set = self.declared  # None: any label
        self.tag_names: Dict = {}  # raw tag (an id or a string) -> its tag name, for tags found valid
        self.first_tags: Dict[str, tuple] = {}  # label -> (the tag, where) where it was first seen
        self.kinds: Dict[str, tuple] = {}  # source -> (int or str, the tag, where) of its first row
        self.langs: Dict = {}  # raw code -> normal code

    def language(self, code) -> Optional[str]:
        """`normal_language`, remembered."""
        if code not in self.langs:
            self.langs[code] = normal_language(code)
        return self.langs[code]

    def _check_label(self, tag: str, where: str, label_set: Optional[frozenset], whose: str) -> None:
        label = label_of(tag)
        if label is None or label_set is None or label in label_set:
            return
        names = ", ".join(sorted(label_set))
        raise InvalidRow(
            f"{where}: tag {tag!r}: {label} is not one of {whose} ({names}). Fix the tag, "
            "or pass --labels with every label the data uses"
        )

    def _adopt_multinerd(self, where: str) -> None:
        """MultiNERD's ids were seen: its types become the label set, also for the tags seen before."""
        self.label_set = frozenset(ENTITY_TYPES)
        for label, (tag, seen) in self.first_tags.items():
            self._check_label(
                tag, f"{seen} (before MultiNERD's integer ids at {where})", self.label_set, "MultiNERD's types"
            )

    def tag_name(self, tag, where: str) -> str:
        """The tag name of a raw tag, validating it (and remembering it)."""
        if isinstance(tag, int) and not isinstance(tag, bool):
            if not 0 <= tag < len(MULTINERD_TAGS):
                raise InvalidRow(f"{where}: unknown label id {tag} (MultiNERD's ids are 0-{len(MULTINERD_TAGS) - 1})")
            name = MULTINERD_TAGS[tag]
            if self.declared is None and self.label_set is None:
                self._adopt_multinerd(where)
            self._check_label(name, where, self.declared, "the labels given (--labels)")
        elif isinstance(tag, str) and TAG_PATTERN.match(tag):
            name = tag
            whose = "the labels given (--labels)" if self.declared is not None else "MultiNERD's types"
            self._check_label(name, where, self.label_set, whose)
            self.first_tags.setdefault(label_of(tag), (tag, where))
        else:
            raise InvalidRow(f"{where}: unknown tag {tag!r} (expected a MultiNERD id, O, B-<type> or I-<type>)")
        self.tag_names[tag] = name
        return name

    def _check_kind(self, row: Row, raw_tags: Sequence) -> None:
        """A file's tags are all integer ids or all strings."""
        kind = type(raw_tags[0])
        first = self.kinds.setdefault(row.source, (kind, raw_tags[0], row.where))
        other = next((tag for tag in raw_tags if type(tag) is not first[0]), None)
        if other is None:
            return
        if first[2] == row.where:
            where_first = "in the same row"
        else:
            where_first = f"as in {first[2]}"
        ids = "MultiNERD's integer ids" if first[0] is int else "string tags"
        raise InvalidRow(
            f"{row.where}: tag {other!r} among {ids} ({first[1]!r} {where_first}): write every tag of a file "
            "the same way, as MultiNERD's ids or as tags such as B-PER"
        )

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
        lang = self.language(row.lang)
        if lang is None:
            raise InvalidRow(f"{row.where}: {row.lang!r} is not a language code such as de or pt-BR")
        kinds = {type(tag) for tag in raw_tags}
        if not kinds <= {int, str}:
            # True and 1.0 would pass for the id 1 in the lookup below
            bad = next(tag for tag in raw_tags if type(tag) not in (int, str))
            raise InvalidRow(f"{row.where}: unknown tag {bad!r} (expected a MultiNERD id, O, B-<type> or I-<type>)")
        known = self.kinds.get(row.source)
        if known is None or len(kinds) > 1 or known[0] not in kinds:
            self._check_kind(row, raw_tags)
        try:
            tags = [self.tag_names[tag] for tag in raw_tags]
        except KeyError:
            tags = [self.tag_name(tag, row.where) for tag in raw_tags]
        try:
            if not all(map(str.strip, tokens)):
                raise TypeError
        except TypeError:
            bad = next(token for token in tokens if not isinstance(token, str) or not token.strip())
            raise InvalidRow(f"{row.where}: empty or non-text token {bad!r}") from None
        tags, repairs = repair_bio(tags)
        words = list(tokens)
        if lang in SPACELESS_LANGUAGES:
            words, cut_tags = [], []
            for token, tag in zip(tokens, tags):
                pieces = split_cjk(token)
                words.extend(pieces)
                cut_tags.extend(spread_tag(tag, len(pieces)))
            tags = cut_tags
        return Sentence(words, tags, lang, repairs)


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


def empty_stats(split: str) -> Dict:
    """A split's counts for one language. deduplicated: duplicates dropped (--dedupe, train only);
    in_train: dev's or test's sentences that are also in train."""
    counts = {"sentences": 0, "tokens": 0, "entities": Counter(), "repaired": 0, "skipped": 0, "duplicates": 0,
              "deduplicated": 0}  # fmt: skip
    if split != "train":
        counts["in_train"] = 0
    return counts


def entity_labels(tags: Sequence[str]) -> List[str]:
    """The label of each entity in a well-formed BIO sequence."""
    return [tag[2:] for tag in tags if tag[0] == "B"]


def sentence_digest(sentence: Sentence) -> int:
    """8 bytes of BLAKE2b of a sentence's words and tags, the same in every run (marshal's format
    0 writes equal strings the same way, whatever object holds them)."""
    data = marshal.dumps((sentence.words, sentence.tags), 0)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def first_occurrences(digests: numpy.ndarray) -> numpy.ndarray:
    """Which digests are the first of their value, in order: the sentences `--dedupe` keeps."""
    order = numpy.argsort(digests, kind="stable")
    ordered = digests[order]
    first = numpy.empty(len(digests), dtype=bool)
    first[order] = numpy.concatenate(([True], ordered[1:] != ordered[:-1]))
    return first


class Duplicates:
    """The sentences of each split and language as 8-byte digests (`sentence_digest`), in the
    order read: 8 bytes a sentence, 27 MB for MultiNERD's 3.35M, where a set of them would take
    about 10 times as much. Exact duplicates are counted by sorting them at the end."""

    def __init__(self):
        self.digests: Dict[tuple, array] = defaultdict(lambda: array("Q"))

    def add(self, split: str, sentence: Sentence) -> int:
        """Record a sentence; returns its number among its split and language's."""
        digests = self.digests[split, sentence.lang]
        digests.append(sentence_digest(sentence))
        return len(digests) - 1

    def of(self, split: str, lang: str) -> numpy.ndarray:
        return numpy.frombuffer(self.digests[split, lang], dtype=numpy.uint64)

    def in_train(self, split: str, lang: str) -> int:
        """How many of the split's sentences in `lang` are also in train."""
        if ("train", lang) not in self.digests:
            return 0
        return int(numpy.isin(self.of(split, lang), self.of("train", lang)).sum())


class NoTrainingSentences(Exception):
    """A conversion that would write no training sentence; the message says why and what to do."""


def no_training_sentences(source: str, langs: Optional[Sequence[str]], train: Dict, filtered: Counter) -> str:
    """Why a conversion found no training sentence, and what to do."""
    skipped = sum(counts["skipped"] for counts in train.values())
    filtered_langs = sorted(lang for split, lang in filtered if split == "train")
    if skipped:
        why = (
            f"all {skipped:,} training rows are invalid (skipped); run without --skip-invalid to see the first problem"
        )
    elif filtered_langs:
        n = sum(n for (split, _), n in filtered.items() if split == "train")
        why = (
            f"--langs {','.join(langs or [])} keeps none of the {n:,} training rows, whose languages are "
            f"{', '.join(filtered_langs)}: pass some of those, or all"
        )
    else:
        why = (
            "no training rows: name the training files with train (train_de.jsonl, de/train.tsv), or pass "
            "--allow-no-train to convert evaluation data only"
        )
    return f"{source or 'the data'}: no training sentences, so nothing was written: {why}"


class Conversion:
    """One conversion into a work folder (see `convert`): rows are read and checked, dev and test
    stream into shards, train into a bucket shuffle; then train is written (without its
    duplicates with `dedupe`), the dev sample, the labels and the report."""

    def __init__(self, work: Path, *, langs, shard_size, seed, skip_invalid, n_buckets, dev_sample_size, labels,
                 dedupe, require_train, source):  # fmt: skip
        self.work, self.shard_size, self.seed, self.skip_invalid = work, shard_size, seed, skip_invalid
        self.dedupe, self.require_train, self.source = dedupe, require_train, source
        self.langs = list(dict.fromkeys(normal_language(lang) or lang for lang in langs)) if langs else None
        self.declared_labels = sorted(labels) if labels is not None else None
        self.rng = random.Random(seed)
        self.validate, self.hashes = RowValidator(labels), StringIds()
        self.stats = {split: defaultdict(partial(empty_stats, split)) for split in SPLITS}
        self.filtered = Counter()  # (split, language) -> rows left out by the language filter
        self.labels = set()
        self.duplicates = Duplicates()
        self.train = BucketShuffle(work / "buckets", n_buckets, self.rng)
        self.writers = {}  # (split, lang) -> ShardWriter, for dev and test
        self.dev_sample = Reservoir(dev_sample_size, self.rng)

    def count(self, split: str, sentence: Sentence) -> None:
        counts = self.stats[split][sentence.lang]
        counts["sentences"] += 1
        counts["tokens"] += len(sentence.words)
        counts["repaired"] += sentence.repairs
        counts["entities"].update(entity_labels(sentence.tags))

    def read(self, rows: Iterable[Row], on_row: Callable[[], None]) -> None:
        wanted = set(self.langs) if self.langs else None
        for row in rows:
            on_row()
            lang = self.validate.language(row.lang)
            if wanted is not None and lang is not None and lang not in wanted:
                self.filtered[row.split, lang] += 1
                continue  # (a row with no language or a broken code is checked, as any other)
            try:
                sentence = self.validate(row)
            except InvalidRow:
                if not self.skip_invalid:
                    raise
                self.stats[row.split][lang or "?"]["skipped"] += 1
                continue
            self.labels.update(entity_labels(sentence.tags))
            number = self.duplicates.add(row.split, sentence)
            if row.split == "train":
                self.train.add((number, sentence))  # counted when written: --dedupe may drop it
                continue
            self.count(row.split, sentence)
            if row.split == "dev":
                self.dev_sample.add(sentence)
            key = (row.split, sentence.lang)
            if key not in self.writers:
                self.writers[key] = ShardWriter(self.work / row.split / sentence.lang, self.shard_size, self.hashes)
            self.writers[key].add(sentence)

    def count_duplicates(self) -> Dict[str, numpy.ndarray]:
        """Count each split's duplicates, and dev's and test's sentences also in train, per
        language; with `dedupe`, returns per language which training sentences are the first of
        their kind (the ones kept)."""
        firsts = {}
        for split, lang in list(self.duplicates.digests):
            first = first_occurrences(self.duplicates.of(split, lang))
            self.stats[split][lang]["duplicates"] = int(len(first) - first.sum())
            if split == "train":
                if self.dedupe:
                    firsts[lang] = first
            else:
                self.stats[split][lang]["in_train"] = self.duplicates.in_train(split, lang)
        return firsts

    def write(self) -> Dict:
        if self.require_train and not any(split == "train" for split, _ in self.duplicates.digests):
            raise NoTrainingSentences(
                no_training_sentences(self.source, self.langs, self.stats["train"], self.filtered)
            )
        firsts = self.count_duplicates()
        work = self.work
        train_writer = ShardWriter(work / "train", self.shard_size, self.hashes)
        for number, sentence in self.train:
            if self.dedupe and not firsts[sentence.lang][number]:
                self.stats["train"][sentence.lang]["deduplicated"] += 1
                continue
            train_writer.add(sentence)
            self.count("train", sentence)
        sample_writer = ShardWriter(work / "dev_sample", self.dev_sample.size, self.hashes)
        self.rng.shuffle(self.dev_sample.items)
        for sentence in self.dev_sample.items:
            sample_writer.add(sentence)
        for writer in [train_writer, sample_writer, *self.writers.values()]:
            writer.flush()
        for split in SPLITS:
            (work / split).mkdir(exist_ok=True)
        (work / "dev_sample").mkdir(exist_ok=True)
        (work / "labels").mkdir()
        srsly.write_json(work / "labels" / "ner.json", ner_label_data(self.labels))
        report = make_report(
            self.stats, self.filtered, source=self.source, langs=self.langs, labels=self.declared_labels,
            dedupe=self.dedupe, seed=self.seed, shard_size=self.shard_size,
        )  # fmt: skip
        report["splits"]["train"]["shards"] = train_writer.shards
        report["splits"]["dev"]["sample"] = len(self.dev_sample.items)
        srsly.write_json(work / "report.json", report)
        return report


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
    labels: Optional[Iterable[str]] = None,
    dedupe: bool = False,
    require_train: bool = True,
    inputs: Sequence[Path] = (),
) -> Dict:
    """Convert rows into the corpus layout above (see the module docstring) and return the report.

    `inputs`: the local files or folders the rows come from, which `output` must be apart from.
    `labels`: the label set every tag must be in (else MultiNERD's, for data with its ids).
    `dedupe`: drop exact duplicates (same words and tags) from train; dev and test keep theirs.
    Raises InvalidRow on the first bad row unless `skip_invalid`, NoTrainingSentences if there
    is no training sentence and `require_train`, OutputError for an output folder that can't be
    used; then no output is replaced. `on_row` is called once per row read (for a progress bar).
    """
    check_output(output, inputs)
    with staged(output, OUTPUTS) as work:
        conversion = Conversion(
            work, langs=langs, shard_size=shard_size, seed=seed, skip_invalid=skip_invalid, n_buckets=n_buckets,
            dev_sample_size=dev_sample_size, labels=labels, dedupe=dedupe, require_train=require_train, source=source,
        )  # fmt: skip
        conversion.read(rows, on_row)
        report = conversion.write()
        commit(work, output, OUTPUTS)
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
        keys = [key for key in empty_stats(split) if key != "entities"]
        totals = {key: sum(c[key] for c in languages.values()) for key in keys}
        entities = Counter()
        for counts in languages.values():
            entities.update(counts["entities"])
        splits[split] = {
            **totals,
            # Sentences in = docs out + skipped + deduplicated, per split and language.
            "rows_in": totals["sentences"] + totals["skipped"] + totals["deduplicated"],
            "filtered_out": sum(n for (where, _), n in filtered.items() if where == split),
            "entities": dict(sorted(entities.items())),
            "languages": languages,
        }
    unknown = sorted({lang for by_lang in stats.values() for lang in by_lang if lang != "?" and lang not in LANGUAGES})
    return {**settings, "unknown_languages": unknown, "splits": splits}
