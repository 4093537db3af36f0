"""The benchmark's pure pieces: the split, the recipe's label alignment and its inverse, word tags
from spans and offsets, the summary and the tables."""

import sys

import pytest
from conftest import SAMPLE
from recipe import (
    IGNORED,
    align_labels,
    label_list,
    read_sentences,
    resolve_encoder,
    split_sentences,
    text_of,
    training_steps,
    word_offsets,
    word_tags_from_first_subtokens,
    word_tags_from_spans,
    word_tags_from_token_offsets,
)
from report import TABLE_ROWS, batch_sweep, markdown_table, ratio, summarize, sweep_table

from multinerd.data.corpus import Sentence
from multinerd_dev.measure import run_measured


def sentence(words, tags, lang="en"):
    return Sentence(list(words), list(tags), lang, 0)


def test_split_is_seeded_disjoint_and_sized():
    sentences = [sentence([f"w{i}"], ["O"]) for i in range(100)]
    train, test, rest = split_sentences(sentences, 30, 20, seed=3)
    assert (len(train), len(test), len(rest)) == (30, 20, 50)
    ids = [s.words[0] for s in train + test + rest]
    assert len(set(ids)) == 100
    again = split_sentences(sentences, 30, 20, seed=3)
    assert [s.words for s in again[0]] == [s.words for s in train]
    assert [s.words for s in split_sentences(sentences, 30, 20, seed=4)[0]] != [s.words for s in train]
    train, test, rest = split_sentences(sentences, 0, 0)
    assert (len(train), len(test), len(rest)) == (80, 20, 0)
    with pytest.raises(ValueError):
        split_sentences(sentences, 90, 20)


def test_read_sentences_takes_any_split_name_and_repairs_bio(tmp_path):
    data = tmp_path / "en" / "val.conllu"
    data.parent.mkdir()
    data.write_text("0\tJohn\tI-PER\n1\tSmith\tI-PER\n2\truns\tO\n\n0\tParis\tB-LOC\n", encoding="utf8")
    sentences, skipped = read_sentences(data)
    assert skipped == 0
    assert [s.tags for s in sentences] == [["B-PER", "I-PER", "O"], ["B-LOC"]]
    assert sentences[0].lang == "en"


def test_label_list_and_steps():
    sentences = [sentence(["a", "b"], ["B-MISC", "I-MISC"]), sentence(["c"], ["B-PER"])]
    assert label_list(sentences) == ["O", "B-PER", "I-PER", "B-MISC", "I-MISC"]
    assert training_steps(4000, 16, 1) == 250
    assert training_steps(4001, 16, 2) == 2 * 251


def test_align_labels_is_the_recipes_first_subtoken_rule():
    # [CLS] Wash ##ing ton is [SEP]: words 0 (three pieces), 1
    word_ids = [None, 0, 0, 0, 1, None]
    assert align_labels(word_ids, [1, 0]) == [IGNORED, 1, IGNORED, IGNORED, 0, IGNORED]
    id2label = {0: "O", 1: "B-LOC"}
    assert word_tags_from_first_subtokens(word_ids, [0, 1, 0, 0, 0, 0], id2label, 2) == ["B-LOC", "O"]
    # a word with no sub-token (truncated away) is O
    assert word_tags_from_first_subtokens([None, 0, None], [0, 1, 0], id2label, 3) == ["B-LOC", "O", "O"]


def test_word_tags_from_spans_and_offsets():
    words = ["New", "York", "is", "big"]
    assert word_offsets(words, "en") == [(0, 3), (4, 8), (9, 11), (12, 15)]
    assert word_tags_from_spans(words, "en", [(0, 8, "LOC")]) == ["B-LOC", "I-LOC", "O", "O"]
    assert word_tags_from_spans(words, "en", [(12, 15, "MISC"), (4, 8, "LOC")]) == ["O", "B-LOC", "O", "B-MISC"]
    # sub-tokens: new / york / is / bi ##g, plus special tokens (0, 0)
    offsets = [(0, 0), (0, 3), (4, 8), (9, 11), (12, 14), (14, 15), (0, 0)]
    predicted = [0, 1, 2, 0, 0, 1, 0]
    id2label = {0: "O", 1: "B-LOC", 2: "I-LOC"}
    assert word_tags_from_token_offsets(words, "en", offsets, predicted, id2label) == ["B-LOC", "I-LOC", "O", "O"]


def test_summary_ratio_and_tables():
    summary = summarize([1.0, 3.0, 2.0])
    assert (summary["median"], summary["min"], summary["max"], summary["spread"]) == (2.0, 1.0, 3.0, 1.0)
    assert summarize([None])["median"] is None and summarize([None, 2.0])["runs"] == [2.0]
    assert ratio(2.0, 0.0) is None and ratio(None, 1.0) is None and ratio(3.0, 2.0) == 1.5
    figures = {
        key: {"ours": summarize([2.0, 2.2]), "peer": summarize([1.0]), "ratio": summarize([None])}
        for key, _, _ in TABLE_ROWS
    }
    lines = markdown_table(figures).splitlines()
    assert lines[0].startswith("| figure |") and len(lines) == len(TABLE_ROWS) + 2
    assert [line.split(" | ")[0].lstrip("| ") for line in lines[2:]] == [label for _, label, _ in TABLE_ROWS]
    assert "| 2.1000 (2.0000–2.2000) | 1.0000 | n/a |" in lines[2]
    speeds = [(8, 100.0, 50.0, 40.0), (32, 150.0, 75.0, 30.0)]
    rows = [
        {"batch_size": size, **{key: {"words_per_s": v} for key, v in zip(("spacy", "pipeline", "forward"), values)}}
        for size, *values in speeds
    ]
    sweep = batch_sweep(rows)
    assert sweep["best"]["spacy"] == {"batch_size": 32, "words_per_s": 150.0}
    assert sweep["best"]["forward"]["batch_size"] == 8
    assert sweep["best_vs_best"] == {"infer_vs_pipeline": 2.0, "infer_vs_forward": 3.75}
    table = sweep_table(sweep).splitlines()
    assert table[0].startswith("| inference batch size |") and table[-1].startswith("| each at its best |")


def test_resolve_encoder(tmp_path):
    assert resolve_encoder(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_encoder("bert-base-multilingual-cased") == "bert-base-multilingual-cased"
    assert resolve_encoder("no-such-package-here") == "no-such-package-here"


def test_the_meter_reports_a_childs_own_peak_rss():
    """The figures the benchmark reports come from the product's meter: a child's own peak."""
    measured = run_measured([sys.executable, "-c", "x = bytearray(200 * 1024 * 1024)"])
    assert measured.returncode == 0 and measured.peak_rss_mb >= 200 and measured.wall_s > 0


def test_each_side_gets_chinese_as_it_would_see_it(tiny_bert):
    """The sample's zh rows: the spaCy side annotates the product's own text (the converter's
    characters with no spaces between them), which the product's tokenizer cuts back into the
    same words; the recipe gets its own `is_split_into_words` input, a first piece a character."""
    import spacy
    from transformers import AutoTokenizer

    sentences = [s for s in read_sentences(SAMPLE)[0] if s.lang == "zh"]
    assert len(sentences) > 50
    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": {"@tokenizers": "xx_multinerd.CJKCharTokenizer.v1"}}})
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    for s in sentences:
        text = text_of(s.words, "zh")
        assert " " not in text and [token.text for token in nlp(text)] == list(s.words)
        assert [text[start:end] for start, end in word_offsets(s.words, "zh")] == list(s.words)
        word_ids = tokenizer(list(s.words), is_split_into_words=True).word_ids()
        assert sorted({i for i in word_ids if i is not None}) == list(range(len(s.words)))
    assert text_of(["New", "York"], "en") == "New York" and text_of(["北", "京"], "zh") == "北京"
    assert word_tags_from_spans(["北", "京", "大"], "zh", [(0, 2, "LOC")]) == ["B-LOC", "I-LOC", "O"]
