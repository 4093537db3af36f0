"""The benchmark against the Hugging Face recipe: its pure pieces, and a smoke run of the whole
command on a tiny self-built BERT for a few steps (no timing assertions: figures only have to be
present and sane)."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from multinerd.benchmark import (
    IGNORED, align_labels, label_list, markdown_table, read_sentences, resolve_encoder, run_child,
    seqeval_scores, split_sentences, summarize, training_steps, word_offsets, word_tags_from_first_subtokens,
    word_tags_from_spans, word_tags_from_token_offsets,
)
from multinerd.corpus import Sentence

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "multinerd_sample"


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
    assert word_offsets(words) == [(0, 3), (4, 8), (9, 11), (12, 15)]
    assert word_tags_from_spans(words, [(0, 8, "LOC")]) == ["B-LOC", "I-LOC", "O", "O"]
    assert word_tags_from_spans(words, [(12, 15, "MISC"), (4, 8, "LOC")]) == ["O", "B-LOC", "O", "B-MISC"]
    # sub-tokens: new / york / is / bi ##g, plus special tokens (0, 0)
    offsets = [(0, 0), (0, 3), (4, 8), (9, 11), (12, 14), (14, 15), (0, 0)]
    predicted = [0, 1, 2, 0, 0, 1, 0]
    id2label = {0: "O", 1: "B-LOC", 2: "I-LOC"}
    assert word_tags_from_token_offsets(words, offsets, predicted, id2label) == ["B-LOC", "I-LOC", "O", "O"]


def test_scores_summary_and_table():
    gold = [["B-PER", "I-PER", "O"], ["B-LOC"]]
    assert seqeval_scores(gold, gold) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    scores = seqeval_scores(gold, [["B-PER", "I-PER", "O"], ["O"]])
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5
    with pytest.raises(ValueError):
        seqeval_scores(gold, [["O"]])
    summary = summarize([1.0, 3.0, 2.0])
    assert (summary["median"], summary["min"], summary["max"], summary["spread"]) == (2.0, 1.0, 3.0, 1.0)
    from multinerd.benchmark import TABLE_ROWS

    figures = {key: {"ours": summarize([2.0]), "peer": summarize([1.0]), "ratio": summarize([2.0])}
               for key, _, _ in TABLE_ROWS}
    table = markdown_table(figures)
    assert table.count("\n") == len(TABLE_ROWS) + 1 and "| 2.00 |" in table


def test_resolve_encoder(tmp_path):
    assert resolve_encoder(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_encoder("bert-base-multilingual-cased") == "bert-base-multilingual-cased"
    assert resolve_encoder("no-such-package-here") == "no-such-package-here"


def test_run_child_reports_peak_rss():
    result = run_child([sys.executable, "-c", "x = bytearray(200 * 1024 * 1024)"], dict(os.environ))
    assert result["returncode"] == 0 and result["peak_rss_mb"] >= 200


def positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_benchmark_smoke(tmp_path):
    """The whole command on a tiny BERT: 50 training and 20 test sentences, 4 steps a side."""
    from multinerd.tiny_bert import make_tiny_bert

    encoder = make_tiny_bert(SAMPLE, tmp_path / "tiny-bert")
    output = tmp_path / "metrics" / "benchmark.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "scripts")}
    command = [
        sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--transformer", str(encoder), "--data", str(SAMPLE),
        "--train-sentences", "50", "--test-sentences", "20", "--epochs", "1", "--threads", "1",
        "--batch-size", "8", "--sweep", "4", "--output", str(output),
    ]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(output.read_text(encoding="utf8"))
    assert set(report["ratios"]) >= {"f1", "train_words_per_s", "infer_vs_pipeline", "infer_vs_forward"}
    for side in ("spacy", "hf"):
        for key in ("precision", "recall", "f1"):
            assert 0.0 <= report[side][key]["median"] <= 1.0
    for key in ("train_words_per_s", "infer_words_per_s", "train_peak_rss_mb", "infer_peak_rss_mb"):
        assert positive(report["spacy"][key]["median"]), key
    for key in ("train_words_per_s", "pipeline_words_per_s", "forward_words_per_s", "train_peak_rss_mb",
                "pipeline_peak_rss_mb", "forward_peak_rss_mb"):
        assert positive(report["hf"][key]["median"]), key
    for key in ("train_words_per_s", "infer_vs_pipeline", "infer_vs_forward"):
        assert positive(report["ratios"][key]), key
    # F1 over F1: undefined (None) only where the peer's F1 is 0, which a 4-step tiny model may give
    if report["hf"]["f1"]["median"] > 0:
        assert math.isfinite(report["ratios"]["f1"]) and report["ratios"]["f1"] >= 0
    else:
        assert report["ratios"]["f1"] is None
    settings = report["settings"]
    assert settings["train_sentences"] == 50 and settings["test_sentences"] == 20
    assert settings["optimizer_steps"] == 4 and settings["threads"] == 1 and settings["infer_batch_size"] == 8
    run = report["runs"][0]
    assert run["spacy"]["train"]["steps"] == 5  # spaCy's steps 0..4: see scripts/benchmark.py
    assert run["hf"]["train"]["steps"] == 4
    sweep = report["batch_sweep"]
    assert [row["batch_size"] for row in sweep["rows"]] == [4]
    for key in ("spacy", "pipeline", "forward"):
        assert positive(sweep["rows"][0][key]["words_per_s"]) and positive(sweep["rows"][0][key]["peak_rss_mb"])
        assert sweep["best"][key]["batch_size"] == 4
    assert positive(sweep["best_vs_best"]["infer_vs_pipeline"])
    for key in ("train_words_per_s", "infer_vs_pipeline", "infer_vs_forward"):
        assert positive(report["cpu_time"]["ratios"][key]), key
    assert run["spacy"]["train"]["torch_threads"] == run["hf"]["train"]["torch_threads"] == 1
    table = output.with_suffix(".md").read_text(encoding="utf8")
    assert table.startswith("| figure |") and "| each at its best |" in table
    assert "seqeval F1" in done.stdout and "Ratios" in done.stdout


def test_benchmark_fails_fast_on_a_missing_encoder(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "scripts")}
    command = [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--transformer", str(tmp_path / "nothing"),
               "--data", str(SAMPLE), "--output", str(tmp_path / "out.json")]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "no such folder" in done.stdout
    assert not (tmp_path / "out.json").exists()
    command[3] = "no-such-model-name"  # a hub name, neither cached nor reachable offline
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "not a local folder nor in the Hugging Face cache" in done.stdout
