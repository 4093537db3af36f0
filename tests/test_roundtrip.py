"""Property tests: any valid input round-trips through the converter, and the fast ShardWriter
writes exactly what `DocBin.add` writes for the same Docs."""

import tempfile
from collections import Counter
from pathlib import Path

import numpy
from convert_helpers import docs, spans_of, summary, write_jsonl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from multinerd.data.corpus import DOCBIN_ATTRS, RowValidator, ShardWriter, StringIds, convert, spaces_of
from multinerd.data.readers import Row, read_files
from multinerd.labels import ENTITY_TYPES, TAG_IDS
from multinerd.pipeline.tokenizer import CJK_CHAR

LANGS = ["en", "de", "ru", "pl", "zh"]
NOT_SPACE = st.characters(exclude_categories=("Z", "C"))  # no separators (spaces), controls, surrogates
# strings spaCy gives symbol ids rather than hashes, as words and as labels
SYMBOLS = ["LOC", "ORG", "PER", "PERSON", "GPE", "MISC", "ORTH", "IS_ALPHA", "ENT_TYPE", "O", "B", "I"]
LABELS = st.one_of(st.sampled_from(ENTITY_TYPES), st.sampled_from(SYMBOLS), st.text(NOT_SPACE, min_size=1, max_size=5))
HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


def is_token(text):
    return bool(text) and not any(c.isspace() for c in text)


def token(lang):
    if lang == "zh":  # mostly Han characters, with Latin letters, digits and other scripts mixed in
        text = st.text(st.one_of(HAN, HAN, NOT_SPACE), min_size=1, max_size=5)
    else:
        text = st.text(NOT_SPACE, min_size=1, max_size=8)
    return st.one_of(text, st.sampled_from(SYMBOLS)).filter(is_token)


@st.composite
def sentence(draw, lang, labels=LABELS, as_ids=False):
    """(tokens, well-formed BIO tags, the tags as written: MultiNERD's ids if `as_ids`, else strings)."""
    tokens, tags = [], []
    for label in draw(st.lists(st.one_of(st.none(), labels), min_size=1, max_size=6)):
        n = draw(st.integers(1, 3))
        tokens += draw(st.lists(token(lang), min_size=n, max_size=n))
        tags += ["O"] * n if label is None else [f"B-{label}"] + [f"I-{label}"] * (n - 1)
    return tokens, tags, [TAG_IDS[t] for t in tags] if as_ids else tags


@st.composite
def corpora(draw):
    """Sentences by (split, language), in the order they are written: either in MultiNERD's label
    set, each file written as its ids or as tag strings, or in any label set, as strings."""
    multinerd = draw(st.booleans())
    data = {}
    for lang in draw(st.lists(st.sampled_from(LANGS), min_size=1, max_size=4, unique=True)):
        for split in ("train", "val", "test"):
            if multinerd:
                file_sentence = sentence(lang, st.sampled_from(ENTITY_TYPES), draw(st.booleans()))
            else:
                file_sentence = sentence(lang)
            data[split, lang] = draw(st.lists(file_sentence, max_size=5))
    return data


def cut(token):
    """Chinese tokens become their CJK characters; runs of other characters stay whole."""
    pieces = []
    for char in token:
        if CJK_CHAR.fullmatch(char) or not pieces or CJK_CHAR.fullmatch(pieces[-1][-1]):
            pieces.append(char)
        else:
            pieces[-1] += char
    return pieces


def expected_doc(lang, tokens, tags):
    """What the converter must write: (words, entity spans) and the doc's text."""
    if lang == "zh":
        words, word_tags = [], []
        for tok, tag in zip(tokens, tags):
            pieces = cut(tok)
            words += pieces
            word_tags += [tag] + [tag if tag == "O" else "I-" + tag[2:]] * (len(pieces) - 1)
        return (words, spans_of(word_tags)), "".join(words)
    return (list(tokens), spans_of(tags)), " ".join(tokens)


MULTINERD_EDGE_CASES = {
    ("val", "zh"): [
        (["鲁迅", "的", "阿Q正传", "2008年", "LOC"], ["B-PER", "O", "B-MEDIA", "B-TIME", "O"], [1, 0, 21, 27, 0])
    ],
    ("test", "zh"): [(["上海"], ["B-LOC"], ["B-LOC"])],  # tag strings in another file
}
OTHER_LABELS_EDGE_CASES = {
    ("train", "en"): [(["LOC", "x", "Ä́"], ["B-O", "I-O", "B-LOC"], ["B-O", "I-O", "B-LOC"])]
    * 2,  # a duplicate, and label "O"
    ("test", "ru"): [(["Москва"], ["B-ä́"], ["B-ä́"])],
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=corpora(), shard_size=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
@example(data=MULTINERD_EDGE_CASES, shard_size=1, seed=0)
@example(data=OTHER_LABELS_EDGE_CASES, shard_size=1, seed=0)
def test_any_valid_input_round_trips(data, shard_size, seed):
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "corpus"
        for (split, lang), sentences in data.items():
            rows = [{"tokens": tokens, "ner_tags": written, "lang": lang} for tokens, _, written in sentences]
            write_jsonl(src / split / f"{split}_{lang}.jsonl", rows)
        report = convert(read_files(src), out, shard_size=shard_size, seed=seed, dev_sample_size=3, require_train=False)
        expected = {
            key: [expected_doc(key[1], tokens, tags) for tokens, tags, _ in sentences]
            for key, sentences in data.items()
        }
        for split, folder in (("val", "dev"), ("test", "test")):
            for (s, lang), want in expected.items():
                if s != split or not want:
                    continue
                got = docs(out / folder / lang)
                assert [summary(d) for d in got] == [w for w, _ in want]  # same tokens and entities, same order
                assert [d.text for d in got] == [text for _, text in want]
        want_train = Counter(repr(w) for (s, _), want in expected.items() if s == "train" for w in want)
        got_train = docs(out / "train")
        assert Counter(repr((summary(d), d.text)) for d in got_train) == want_train
        assert all(len(d) and not d[-1].whitespace_ for d in got_train)
        dev = Counter(repr(w) for (s, _), want in expected.items() if s == "val" for w in want)
        sample = Counter(repr((summary(d), d.text)) for d in docs(out / "dev_sample"))
        assert sum(sample.values()) == min(3, sum(dev.values())) and not sample - dev
        for split, folder in (("train", "train"), ("val", "dev"), ("test", "test")):
            assert report["splits"][folder]["sentences"] == sum(len(v) for (s, _), v in data.items() if s == split)
            assert report["splits"][folder]["repaired"] == report["splits"][folder]["skipped"] == 0


@st.composite
def sentences(draw):
    out = []
    for _ in range(draw(st.integers(1, 6))):
        lang = draw(st.sampled_from(LANGS))
        tokens, _, written = draw(sentence(lang, st.sampled_from(ENTITY_TYPES), as_ids=True) | sentence(lang))
        out.append(RowValidator()(Row(tokens, written, lang, "dev", "test")))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sentences())
def test_shard_writer_writes_what_docbin_add_writes(sentences):
    with tempfile.TemporaryDirectory() as tmp:
        writer = ShardWriter(Path(tmp) / "fast", shard_size=100, hashes=StringIds())
        reference = DocBin(attrs=DOCBIN_ATTRS)
        vocab = Vocab()
        for s in sentences:
            writer.add(s)
            reference.add(Doc(vocab, words=s.words, spaces=spaces_of(s), ents=s.tags))
        fast = writer.docbin
        assert fast.attrs == reference.attrs
        for mine, theirs in zip(fast.tokens + fast.spaces, reference.tokens + reference.spaces, strict=True):
            assert mine.dtype == theirs.dtype and numpy.array_equal(mine, theirs)
        assert fast.flags == reference.flags and fast.cats == reference.cats
        assert fast.span_groups == reference.span_groups
        assert reference.strings - {""} <= fast.strings
        writer.flush()
        reference_path = Path(tmp) / "reference.spacy"
        reference.to_disk(reference_path)
        got = list(DocBin().from_disk(Path(tmp) / "fast" / "00000.spacy").get_docs(Vocab()))
        want = list(DocBin().from_disk(reference_path).get_docs(Vocab()))
        assert len(got) == len(want) == len(sentences)
        for a, b, s in zip(got, want, sentences):
            assert [t.text for t in a] == [t.text for t in b] == s.words
            assert [t.whitespace_ for t in a] == [t.whitespace_ for t in b]
            assert [(t.ent_iob_, t.ent_type_) for t in a] == [(t.ent_iob_, t.ent_type_) for t in b]
            assert [(e.start, e.end, e.label_) for e in a.ents] == [(e.start, e.end, e.label_) for e in b.ents]
            assert a.text == b.text and a.has_unknown_spaces == b.has_unknown_spaces is False


# --- the accounting identity: sentences in = docs out + skipped + deduplicated --------------------

POOL = [  # (tokens, tags, lang): few sentences, so that duplicates are common
    (["Ada", "Lovelace"], [1, 2], "en"),
    (["Rome"], [5], "en"),
    (["Köln", "liegt", "am", "Rhein"], [5, 0, 0, 5], "de"),
    (["北京", "很大"], [5, 0], "zh"),
    (["北京很", "大"], [5, 0], "zh"),  # the same sentence once cut into characters
]
INVALID = [  # (tokens, tags, lang): each is skipped with --skip-invalid
    (["a", "b"], [0], "en"),  # lengths differ
    (["a"], [99], "en"),  # no such id
    ([], [], "de"),  # empty
    (["a"], ["B-PER"], "en"),  # a string tag among ids
    ([" "], [0], "zh"),  # a blank token
    (["a"], [0], None),  # no language
    (["a"], [0], "e n"),  # not a language code
]
ROWS = st.one_of(
    st.sampled_from(POOL).map(lambda row: ("valid", row)), st.sampled_from(INVALID).map(lambda row: ("invalid", row))
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(st.sampled_from(["train", "dev", "test"]), st.booleans(), ROWS), max_size=30),
    dedupe=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_sentences_in_equal_docs_out_plus_skipped_plus_deduplicated(rows, dedupe, seed):
    """A random mix of valid and invalid rows, some in a language the filter leaves out, with
    --skip-invalid and with or without --dedupe."""
    first = Row(["Ada"], [1], "en", "train", "row 0")  # a valid training row first: ids are the file's kind
    stream, expected = [first], {split: Counter() for split in ("train", "dev", "test")}
    expected["train"]["valid"] += 1
    for i, (split, filtered, (kind, (tokens, tags, lang))) in enumerate(rows, 1):
        if filtered:
            lang = "fr"
        stream.append(Row(tokens, tags, lang, split, f"row {i}"))
        expected[split]["filtered" if filtered else kind] += 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "corpus"
        report = convert(iter(stream), out, langs=["en", "DE", "zh"], skip_invalid=True, dedupe=dedupe,
                         n_buckets=2, dev_sample_size=3, seed=seed)  # fmt: skip
        for split, counts in report["splits"].items():
            got = [summary(d) for d in docs(out / split)]
            assert counts["rows_in"] == expected[split]["valid"] + expected[split]["invalid"]
            assert counts["rows_in"] == len(got) + counts["skipped"] + counts["deduplicated"]
            assert counts["sentences"] == len(got) and counts["skipped"] == expected[split]["invalid"]
            assert counts["filtered_out"] == expected[split]["filtered"]
            distinct = len({repr(doc) for doc in got})
            if split == "train" and dedupe:
                assert distinct == len(got) and counts["deduplicated"] == counts["duplicates"]
            else:
                assert counts["deduplicated"] == 0 and counts["duplicates"] == len(got) - distinct
