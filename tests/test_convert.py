"""The converter (multinerd.data.corpus.convert): labels, language filter, BIO repair, the report, Chinese,
sharding, shuffling, the dev sample and the atomic write."""

import json
from pathlib import Path

import pytest
import spacy
from convert_helpers import SAMPLE, convert_source, docs, jsonl_rows, summary, write_jsonl, write_tsv
from spacy.tokens import DocBin
from spacy.training import Example

import multinerd.data.corpus
from multinerd.data.corpus import InvalidRow, convert
from multinerd.data.readers import Row, SourceError
from multinerd.labels import ENTITY_TYPES, LANGUAGES, MULTINERD_TAGS, TAG_IDS

# MultiNERD's id -> tag map, as on its dataset card (Babelscape/multinerd).
MULTINERD_ID2TAG = {
    0: "O",
    1: "B-PER",
    2: "I-PER",
    3: "B-ORG",
    4: "I-ORG",
    5: "B-LOC",
    6: "I-LOC",
    7: "B-ANIM",
    8: "I-ANIM",
    9: "B-BIO",
    10: "I-BIO",
    11: "B-CEL",
    12: "I-CEL",
    13: "B-DIS",
    14: "I-DIS",
    15: "B-EVE",
    16: "I-EVE",
    17: "B-FOOD",
    18: "I-FOOD",
    19: "B-INST",
    20: "I-INST",
    21: "B-MEDIA",
    22: "I-MEDIA",
    23: "B-MYTH",
    24: "I-MYTH",
    25: "B-PLANT",
    26: "I-PLANT",
    27: "B-TIME",
    28: "I-TIME",
    29: "B-VEHI",
    30: "I-VEHI",
}
TYPES = "PER ORG LOC ANIM BIO CEL DIS EVE FOOD INST MEDIA MYTH PLANT TIME VEHI".split()


def rows_for(lang, n, prefix=""):
    """n distinct sentences; the first token names the sentence (`en7`), so order can be checked."""
    return [
        {"tokens": [f"{prefix}{lang}{i}", "visited", "Rome"], "ner_tags": [1, 0, 5], "lang": lang} for i in range(n)
    ]


def names(folder):
    return [doc[0].text for doc in docs(folder)]


def snapshot(folder: Path):
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))
    }


# --- labels ------------------------------------------------------------------------------------


def test_label_map_is_multinerds():
    assert dict(enumerate(MULTINERD_TAGS)) == MULTINERD_ID2TAG
    assert TAG_IDS == {tag: i for i, tag in MULTINERD_ID2TAG.items()}
    assert list(ENTITY_TYPES) == TYPES
    assert set(LANGUAGES) == {"de", "en", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh"}


def test_every_label_id_and_its_tag_string_convert_to_the_entity_type(tmp_path):
    """Ids in one file, tag strings in another (a file writes its tags one way)."""
    ids = [{"tokens": ["a", "b", "c", "d"], "ner_tags": [0, 2 * k + 1, 2 * k + 2, 0], "lang": "en"} for k in range(15)]
    ids.append({"tokens": [f"t{i}" for i in range(31)], "ner_tags": list(range(31)), "lang": "en"})
    strings = [{"tokens": ["a", "b", "c", "d"], "ner_tags": ["O", f"B-{label}", f"I-{label}", "O"], "lang": "en"}
               for label in TYPES]  # fmt: skip
    write_jsonl(tmp_path / "src" / "a" / "test_en.jsonl", ids)
    write_jsonl(tmp_path / "src" / "b" / "test_en.jsonl", strings)
    report = convert_source(tmp_path / "src", tmp_path / "corpus", require_train=False)
    got = [summary(d)[1] for d in docs(tmp_path / "corpus" / "test")]
    for k, label in enumerate(TYPES):
        assert got[k] == got[16 + k] == [(1, 3, label)]
    assert got[15] == [(2 * k + 1, 2 * k + 3, label) for k, label in enumerate(TYPES)]
    assert report["splits"]["test"]["entities"] == {label: 3 for label in TYPES}
    labels = json.loads((tmp_path / "corpus" / "labels" / "ner.json").read_text())
    assert set(labels["1"]) == set(TYPES)


def initialised_ner(label_data=None, examples=()):
    nlp = spacy.blank("xx")
    ner = nlp.add_pipe("ner")
    ner.initialize(lambda: list(examples), nlp=nlp, labels=label_data)
    return nlp, ner


def test_labels_file_initialises_ner_as_the_data_would(tmp_path):
    convert_source(SAMPLE, tmp_path / "corpus")
    data = json.loads((tmp_path / "corpus" / "labels" / "ner.json").read_text(encoding="utf8"))
    train = docs(tmp_path / "corpus" / "train")
    blank = spacy.blank("xx")
    examples = [Example(blank.make_doc(d.text), d) for d in train]
    _, from_file = initialised_ner(data, examples[:1])
    _, from_data = initialised_ner(None, examples)
    assert sorted(from_file.labels) == sorted(from_data.labels) == sorted(TYPES)
    assert sorted(from_file.move_names) == sorted(from_data.move_names)


def test_tag_strings_of_another_label_set_convert_and_initialise_ner(tmp_path):
    """WikiNEuRal's PER/ORG/LOC/MISC, as TSV tag strings."""
    write_tsv(
        tmp_path / "wikineural" / "en" / "train.conllu",
        [
            (
                ["Ada", "Lovelace", "met", "Babbage", "in", "London", "."],
                ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O"],
            ),
            (
                ["The", "Royal", "Society", "gave", "the", "Copley", "Medal"],
                ["O", "B-ORG", "I-ORG", "O", "O", "B-MISC", "I-MISC"],
            ),
        ],
    )
    report = convert_source(tmp_path / "wikineural", tmp_path / "corpus")
    assert report["splits"]["train"]["entities"] == {"LOC": 1, "MISC": 1, "ORG": 1, "PER": 2}
    got = sorted(summary(d) for d in docs(tmp_path / "corpus" / "train"))
    assert got == [
        (["Ada", "Lovelace", "met", "Babbage", "in", "London", "."], [(0, 2, "PER"), (3, 4, "PER"), (5, 6, "LOC")]),
        (["The", "Royal", "Society", "gave", "the", "Copley", "Medal"], [(1, 3, "ORG"), (5, 7, "MISC")]),
    ]
    data = json.loads((tmp_path / "corpus" / "labels" / "ner.json").read_text(encoding="utf8"))
    blank = spacy.blank("xx")
    nlp, ner = initialised_ner(data, [Example(blank.make_doc("a b"), blank.make_doc("a b"))])
    assert sorted(ner.labels) == ["LOC", "MISC", "ORG", "PER"]
    assert nlp("Ada Lovelace met Babbage").text == "Ada Lovelace met Babbage"  # the initialised model runs


# --- language filter, BIO repair, report ---------------------------------------------------------


def test_language_filter_keeps_only_the_named_languages(tmp_path):
    report = convert_source(SAMPLE, tmp_path / "corpus", langs=["de", "zh"])
    corpus = tmp_path / "corpus"
    assert sorted(p.name for p in (corpus / "dev").iterdir()) == ["de", "zh"]
    assert sorted(p.name for p in (corpus / "test").iterdir()) == ["de", "zh"]
    for folder, split in (("train", "train"), ("val", "dev"), ("test", "test")):
        kept = sum(len(jsonl_rows(SAMPLE / folder / f"{folder}_{lang}.jsonl")) for lang in ("de", "zh"))
        total = sum(len(jsonl_rows(p)) for p in (SAMPLE / folder).glob("*.jsonl"))
        assert report["splits"][split]["sentences"] == kept
        assert report["splits"][split]["filtered_out"] == total - kept
        assert set(report["splits"][split]["languages"]) == {"de", "zh"}
    assert len(docs(corpus / "train")) == report["splits"]["train"]["sentences"]
    assert report["langs"] == ["de", "zh"]


def test_bio_repairs_are_made_and_counted(tmp_path):
    write_jsonl(
        tmp_path / "src" / "dev_en.jsonl",
        [
            {"tokens": ["a", "b", "c", "d"], "ner_tags": ["I-PER", "I-PER", "O", "I-LOC"], "lang": "en"},  # 2 repairs
            {"tokens": ["a", "b", "c"], "ner_tags": ["B-PER", "I-LOC", "I-LOC"], "lang": "en"},  # type change: 1 repair
        ],
    )
    write_jsonl(
        tmp_path / "src" / "ids" / "dev_en.jsonl",
        [
            {"tokens": ["a", "b", "c"], "ner_tags": [1, 2, 2], "lang": "en"},  # well formed: none
            {"tokens": ["a", "b"], "ner_tags": [2, 4], "lang": "en"},  # I-PER at start, then I-ORG: 2 repairs
        ],
    )
    write_jsonl(tmp_path / "src" / "dev_de.jsonl", [{"tokens": ["a", "b"], "ner_tags": ["O", "I-MISC"], "lang": "de"}])
    report = convert_source(tmp_path / "src", tmp_path / "corpus", require_train=False, labels=TYPES + ["MISC"])
    assert report["splits"]["dev"]["languages"]["en"]["repaired"] == 5
    assert report["splits"]["dev"]["languages"]["de"]["repaired"] == 1
    assert report["splits"]["dev"]["repaired"] == 6
    assert [summary(d)[1] for d in docs(tmp_path / "corpus" / "dev" / "en")] == [
        [(0, 2, "PER"), (3, 4, "LOC")],
        [(0, 1, "PER"), (1, 3, "LOC")],
        [(0, 3, "PER")],
        [(0, 1, "PER"), (1, 2, "ORG")],
    ]
    assert report["splits"]["dev"]["entities"] == {"LOC": 2, "MISC": 1, "ORG": 1, "PER": 4}


def test_report_counts(tmp_path):
    write_jsonl(
        tmp_path / "src" / "train" / "train_en.jsonl",
        [
            {"tokens": ["Ada", "Lovelace", "wrote"], "ner_tags": [1, 2, 0], "lang": "en"},
            {"tokens": ["Rome", "and", "Paris"], "ner_tags": [5, 0, 5], "lang": "en"},
            {"tokens": ["x"], "ner_tags": [99], "lang": "en"},  # skipped
        ],
    )
    write_jsonl(
        tmp_path / "src" / "train" / "train_zh.jsonl",
        [
            {"tokens": ["鲁迅", "写"], "ner_tags": [1, 0], "lang": "zh"},  # 3 tokens once cut into characters
        ],
    )
    write_jsonl(tmp_path / "src" / "val" / "val_de.jsonl", [{"tokens": ["Berlin"], "ner_tags": [5], "lang": "de"}] * 3)
    write_jsonl(tmp_path / "src" / "test" / "test_fr.jsonl", [{"tokens": ["Lyon"], "ner_tags": [5], "lang": "fr"}])
    report = convert_source(
        tmp_path / "src",
        tmp_path / "corpus",
        skip_invalid=True,
        langs=["en", "zh", "de"],
        shard_size=2,
        dev_sample_size=2,
        seed=3,
        source="src",
    )
    assert json.loads((tmp_path / "corpus" / "report.json").read_text(encoding="utf8")) == report
    train = report["splits"]["train"]
    assert (train["sentences"], train["tokens"], train["skipped"], train["rows_in"], train["filtered_out"]) == (
        3,
        9,
        1,
        4,
        0,
    )
    assert train["languages"]["en"] == {
        "sentences": 2,
        "tokens": 6,
        "entities": {"LOC": 2, "PER": 1},
        "repaired": 0,
        "skipped": 1,
        "duplicates": 0,
        "deduplicated": 0,
    }
    assert train["languages"]["zh"] == {
        "sentences": 1,
        "tokens": 3,
        "entities": {"PER": 1},
        "repaired": 0,
        "skipped": 0,
        "duplicates": 0,
        "deduplicated": 0,
    }
    assert report["splits"]["dev"]["languages"]["de"]["duplicates"] == 2  # the same row three times
    assert report["splits"]["dev"]["languages"]["de"]["in_train"] == 0
    assert train["entities"] == {"LOC": 2, "PER": 2}
    assert train["shards"] == 2
    assert report["splits"]["dev"]["sample"] == 2 and report["splits"]["dev"]["sentences"] == 3
    assert report["splits"]["test"]["filtered_out"] == 1 and report["splits"]["test"]["sentences"] == 0
    assert (report["source"], report["seed"], report["shard_size"], report["langs"]) == (
        "src",
        3,
        2,
        ["en", "zh", "de"],
    )


# --- Chinese ------------------------------------------------------------------------------------


def test_chinese_is_cut_into_characters_with_b_on_the_first_piece_and_no_spaces(tmp_path):
    write_jsonl(
        tmp_path / "src" / "test_zh.jsonl",
        [
            {
                "tokens": ["鲁迅", "的", "《", "阿Q正传", "》", "写于", "2008年"],
                "ner_tags": [1, 0, 0, 21, 0, 0, 27],
                "lang": "zh",
            },
            {"tokens": ["长江", "流经", "上海", "市区"], "ner_tags": [5, 0, 5, 6], "lang": "zh"},
            {"tokens": ["The", "Yangtze", "River"], "ner_tags": [0, 5, 6], "lang": "en"},
        ],
    )
    convert_source(tmp_path / "src", tmp_path / "corpus", require_train=False)
    first, second = docs(tmp_path / "corpus" / "test" / "zh")
    assert [t.text for t in first] == ["鲁", "迅", "的", "《", "阿", "Q", "正", "传", "》", "写", "于", "2008", "年"]
    assert [t.ent_iob_ + "-" + t.ent_type_ if t.ent_type_ else "O" for t in first] == [
        "B-PER",
        "I-PER",
        "O",
        "O",
        "B-MEDIA",
        "I-MEDIA",
        "I-MEDIA",
        "I-MEDIA",
        "O",
        "O",
        "O",
        "B-TIME",
        "I-TIME",
    ]
    assert first.text == "鲁迅的《阿Q正传》写于2008年" and not any(t.whitespace_ for t in first)
    assert summary(second) == (["长", "江", "流", "经", "上", "海", "市", "区"], [(0, 2, "LOC"), (4, 8, "LOC")])
    assert second.text == "长江流经上海市区"
    (english,) = docs(tmp_path / "corpus" / "test" / "en")
    assert english.text == "The Yangtze River" and summary(english)[1] == [(1, 3, "LOC")]


# --- sharding, order, dev sample -----------------------------------------------------------------


@pytest.mark.parametrize("n, shard_size", [(23, 5), (20, 5), (1, 5), (7, 1), (4, 100)])
def test_shards_hold_at_most_shard_size_docs(tmp_path, n, shard_size):
    write_jsonl(tmp_path / "src" / "train_en.jsonl", rows_for("en", n))
    write_jsonl(tmp_path / "src" / "dev_en.jsonl", rows_for("en", n, "dev"))
    report = convert_source(tmp_path / "src", tmp_path / "corpus", shard_size=shard_size)
    n_shards = -(-n // shard_size)
    for folder in ("train", "dev/en"):
        shards = sorted((tmp_path / "corpus" / folder).glob("*.spacy"))
        assert [p.name for p in shards] == [f"{i:05d}.spacy" for i in range(n_shards)]
        sizes = [len(DocBin().from_disk(p)) for p in shards]
        assert sizes == [shard_size] * (n // shard_size) + ([n % shard_size] if n % shard_size else [])
    assert report["splits"]["train"]["shards"] == n_shards
    assert not list((tmp_path / "corpus").rglob("*.partial"))


@pytest.mark.parametrize("n_buckets", [1, 8, 128])
def test_train_order_is_a_seeded_shuffle_of_the_input(tmp_path, n_buckets):
    write_jsonl(tmp_path / "src" / "train" / "train_en.jsonl", rows_for("en", 150))
    write_jsonl(tmp_path / "src" / "train" / "train_de.jsonl", rows_for("de", 150))
    source_order = [f"de{i}" for i in range(150)] + [f"en{i}" for i in range(150)]  # files are read by path
    orders = {}
    for run, seed in (("a", 1), ("b", 1), ("c", 2)):
        convert_source(tmp_path / "src", tmp_path / run, seed=seed, shard_size=64, n_buckets=n_buckets)
        orders[run] = names(tmp_path / run / "train")
    assert orders["a"] == orders["b"]  # deterministic for a seed
    assert orders["a"] != orders["c"]  # differs across seeds
    for order in orders.values():
        assert sorted(order) == sorted(source_order)  # a permutation: nothing lost or doubled
        assert order != source_order and order != sorted(source_order)
        # languages are mixed: both appear among the first 50
        assert {name[:2] for name in order[:50]} == {"en", "de"}


def test_dev_and_test_keep_source_order_per_language(tmp_path):
    write_jsonl(tmp_path / "src" / "val" / "val_en.jsonl", rows_for("en", 30))
    write_jsonl(tmp_path / "src" / "val" / "val_pl.jsonl", rows_for("pl", 12))
    mixed = [
        row for pair in zip(rows_for("en", 9), rows_for("ru", 9)) for row in pair
    ]  # languages interleaved in one file
    write_jsonl(tmp_path / "src" / "test" / "test_mixed.jsonl", mixed)
    convert_source(tmp_path / "src", tmp_path / "corpus", shard_size=7, seed=5, require_train=False)
    corpus = tmp_path / "corpus"
    assert names(corpus / "dev" / "en") == [f"en{i}" for i in range(30)]
    assert names(corpus / "dev" / "pl") == [f"pl{i}" for i in range(12)]
    assert names(corpus / "test" / "en") == [f"en{i}" for i in range(9)]
    assert names(corpus / "test" / "ru") == [f"ru{i}" for i in range(9)]
    assert sorted(p.name for p in (corpus / "dev").iterdir()) == ["en", "pl"]


@pytest.mark.parametrize("size", [1, 10, 41, 42, 500])
def test_dev_sample_is_a_bounded_seeded_sample_of_dev(tmp_path, size):
    write_jsonl(tmp_path / "src" / "val" / "val_en.jsonl", rows_for("en", 30))
    write_jsonl(tmp_path / "src" / "val" / "val_pl.jsonl", rows_for("pl", 12))
    dev = {f"en{i}" for i in range(30)} | {f"pl{i}" for i in range(12)}
    samples = []
    for run, seed in (("a", 0), ("b", 0), ("c", 9)):
        report = convert_source(tmp_path / "src", tmp_path / run, seed=seed, dev_sample_size=size, require_train=False)
        sample = names(tmp_path / run / "dev_sample")
        assert len(sample) == len(set(sample)) == min(size, 42) == report["splits"]["dev"]["sample"]
        assert set(sample) <= dev
        assert len(list((tmp_path / run / "dev_sample").glob("*.spacy"))) == 1
        samples.append(sample)
    assert samples[0] == samples[1]
    if 1 < size < 42:
        assert set(samples[0]) != set(samples[2])


# --- the atomic write -----------------------------------------------------------------------------


@pytest.fixture
def previous_corpus(tmp_path):
    write_jsonl(tmp_path / "good" / "train" / "train_en.jsonl", rows_for("en", 12))
    write_jsonl(tmp_path / "good" / "val" / "val_en.jsonl", rows_for("en", 5))
    write_jsonl(tmp_path / "good" / "test" / "test_de.jsonl", rows_for("de", 5))
    corpus = tmp_path / "corpus"
    convert_source(tmp_path / "good", corpus, shard_size=5)
    (corpus / "keep.txt").write_text("not the converter's")
    before = snapshot(corpus)
    assert "train/00002.spacy" in before and "dev/en/00000.spacy" in before and "report.json" in before
    return corpus, before


def assert_untouched(corpus, before):
    assert snapshot(corpus) == before  # same files, same bytes; no .convert-* folder, no .partial file
    assert not list(corpus.parent.rglob("*.partial")) and not list(corpus.parent.rglob(".convert-*"))


def test_a_bad_row_leaves_the_previous_corpus_untouched(tmp_path, previous_corpus):
    corpus, before = previous_corpus
    write_jsonl(tmp_path / "bad" / "train" / "train_fr.jsonl", rows_for("fr", 30))
    write_jsonl(
        tmp_path / "bad" / "val" / "val_fr.jsonl",
        rows_for("fr", 30) + [{"tokens": ["a"], "ner_tags": [77], "lang": "fr"}],
    )
    with pytest.raises(InvalidRow, match=r"val_fr\.jsonl:31: unknown label id 77"):
        convert_source(tmp_path / "bad", corpus, shard_size=5)
    assert_untouched(corpus, before)


def test_a_missing_source_leaves_the_previous_corpus_untouched(tmp_path, previous_corpus):
    corpus, before = previous_corpus
    with pytest.raises(SourceError):
        convert_source(tmp_path / "missing", corpus)
    assert_untouched(corpus, before)


def test_a_failing_write_leaves_the_previous_corpus_untouched(tmp_path, previous_corpus, monkeypatch):
    corpus, before = previous_corpus
    write_jsonl(tmp_path / "more" / "train" / "train_fr.jsonl", rows_for("fr", 40))
    write_jsonl(tmp_path / "more" / "test" / "test_fr.jsonl", rows_for("fr", 40))
    real, calls = multinerd.data.corpus.write_docbin, []

    def failing(docbin, path):
        calls.append(path)
        if len(calls) == 4:  # some shards are written, then the disk fills up
            path.with_name(path.name + ".partial").write_bytes(b"half")
            raise OSError(28, "No space left on device")
        real(docbin, path)

    monkeypatch.setattr(multinerd.data.corpus, "write_docbin", failing)
    with pytest.raises(OSError, match="No space left"):
        convert_source(tmp_path / "more", corpus, shard_size=5)
    assert len(calls) == 4
    assert_untouched(corpus, before)


def test_a_failed_conversion_into_a_new_folder_leaves_no_files(tmp_path):
    write_jsonl(
        tmp_path / "bad" / "train_en.jsonl", rows_for("en", 20) + [{"tokens": [], "ner_tags": [], "lang": "en"}]
    )
    with pytest.raises(InvalidRow, match="empty sentence"):
        convert_source(tmp_path / "bad", tmp_path / "new" / "corpus")
    assert not [p for p in (tmp_path / "new").rglob("*") if p.is_file()]
    assert not list((tmp_path / "new").rglob(".convert-*"))


def test_a_successful_conversion_replaces_the_previous_outputs(tmp_path, previous_corpus):
    corpus, before = previous_corpus
    write_jsonl(tmp_path / "next" / "val" / "val_pl.jsonl", rows_for("pl", 3))
    report = convert_source(tmp_path / "next", corpus, require_train=False)
    after = snapshot(corpus)
    assert after["keep.txt"] == before["keep.txt"]  # not the converter's: left alone
    assert not any(key.startswith(("train/0", "dev/en", "test/de")) for key in after)  # stale shards are gone
    assert sorted(p.name for p in (corpus / "dev").iterdir()) == ["pl"]
    assert names(corpus / "dev") == ["pl0", "pl1", "pl2"]
    assert json.loads((corpus / "report.json").read_text(encoding="utf8")) == report
    assert not list(corpus.rglob(".convert-*"))


def test_skip_invalid_counts_every_bad_row_so_rows_in_equal_docs_out_plus_skipped(tmp_path):
    good, bad = (
        rows_for("en", 10),
        [
            {"tokens": ["a", "b"], "ner_tags": [0], "lang": "en"},
            {"tokens": ["a"], "ner_tags": [31], "lang": "en"},
            {"tokens": ["a"], "ner_tags": ["S-PER"], "lang": "en"},
            {"tokens": [], "ner_tags": [], "lang": "en"},
            {"tokens": ["a"], "ner_tags": [0]},  # no language anywhere
            {"tokens": [" "], "ner_tags": [0], "lang": "en"},
        ],
    )
    write_jsonl(tmp_path / "src" / "dev.jsonl", good[:5] + bad + good[5:])
    with pytest.raises(InvalidRow):
        convert_source(tmp_path / "src", tmp_path / "corpus", require_train=False)
    report = convert_source(tmp_path / "src", tmp_path / "corpus", skip_invalid=True, require_train=False)
    dev = report["splits"]["dev"]
    assert (dev["sentences"], dev["skipped"], dev["rows_in"]) == (10, 6, 16)
    assert names(tmp_path / "corpus" / "dev") == [f"en{i}" for i in range(10)]


def test_rows_of_an_iterable_need_not_come_from_files(tmp_path):
    """convert() takes any iterable of Rows (what read_hub yields)."""
    rows = [Row(["Ada", "Lovelace"], ["B-PER", "I-PER"], "en", "test", "mem row 0")]
    report = convert(iter(rows), tmp_path / "corpus", require_train=False)
    assert report["splits"]["test"]["sentences"] == 1
    assert [summary(d) for d in docs(tmp_path / "corpus" / "test" / "en")] == [(["Ada", "Lovelace"], [(0, 2, "PER")])]


@pytest.mark.parametrize(
    "tags, says",
    [
        ([True, 0], "unknown tag True"),  # a JSON true must not pass for the id 1 (B-PER)
        ([1.0, 0], "unknown tag 1.0"),
    ],
)
def test_tags_that_only_look_like_ids_are_refused(tags, says):
    with pytest.raises(InvalidRow, match=says):
        multinerd.data.corpus.RowValidator()(Row(["a", "b"], tags, "en", "train", "x.jsonl:1"))


@pytest.mark.parametrize("lang", ["../../evil", 5, "e n", ""])
def test_a_language_that_is_not_a_plain_code_is_refused(lang):
    # languages become folder names (dev/<lang>/): nothing else may get in
    with pytest.raises(InvalidRow, match="x.jsonl:1"):
        multinerd.data.corpus.RowValidator()(Row(["a"], [0], lang, "dev", "x.jsonl:1"))


@pytest.mark.parametrize(
    "code, lang", [("pt-BR", "pt"), ("EN", "en"), ("ZH", "zh"), ("zh-CN", "zh"), ("zh_Hans", "zh"), ("deu", "de")]
)
def test_language_codes_are_normalised(code, lang):
    assert multinerd.data.corpus.RowValidator()(Row(["a"], [0], code, "dev", "x.jsonl:1")).lang == lang


def test_a_byte_order_mark_before_the_first_row_is_ignored(tmp_path):
    src = tmp_path / "src" / "train" / "train_en.jsonl"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"\xef\xbb\xbf" + json.dumps({"tokens": ["Paris"], "ner_tags": [5], "lang": "en"}).encode() + b"\n")
    report = convert_source(tmp_path / "src", tmp_path / "corpus")
    assert report["splits"]["train"]["sentences"] == 1
    assert [summary(doc) for doc in docs(tmp_path / "corpus" / "train")] == [(["Paris"], [(0, 1, "LOC")])]
