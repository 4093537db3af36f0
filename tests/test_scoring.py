"""seqeval scoring (multinerd.evaluation.seqeval) against scores worked out by hand, and scripts/evaluate.py
end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from script_helpers import load_script
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from multinerd.evaluation.evaluate import evaluate
from multinerd.evaluation.seqeval import add_tags, collect, doc_tags, pair_tags, render_markdown, score_docs, score_tags

ROOT = Path(__file__).resolve().parents[1]
EVALUATE = ROOT / "scripts" / "evaluate.py"

# The hand-worked case: two languages, four sentences (words, gold tags, predicted tags).
EN = [
    # Alice: right. New York predicted as New: wrong (a LOC predicted, a LOC missed). York: tag wrong.
    (
        "Alice lives in New York .".split(),
        ["B-PER", "O", "O", "B-LOC", "I-LOC", "O"],
        ["B-PER", "O", "O", "B-LOC", "O", "O"],
    ),
    # Bob predicted ORG: a PER missed and an ORG predicted. Paris: right.
    ("Bob visited Paris".split(), ["B-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC"]),
]
DE = [
    # The prediction starts with I-PER: seqeval's default mode reads an entity Angela Merkel (right);
    # strict IOB2 reads none (a PER missed). The tag of Angela is wrong either way.
    ("Angela Merkel sprach .".split(), ["B-PER", "I-PER", "O", "O"], ["I-PER", "I-PER", "O", "O"]),
    ("Berlin ist schön".split(), ["B-LOC", "O", "O"], ["B-LOC", "O", "O"]),
]


def hand_case():
    by_lang = {}
    for lang, sentences in (("en", EN), ("de", DE)):
        for _, gold, predicted in sentences:
            add_tags(by_lang, lang, gold, predicted)
    return by_lang


@pytest.fixture(scope="module")
def scores():
    return score_tags(hand_case())


def check(actual: dict, **expected):
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value), key


def test_overall_default(scores):
    # Gold entities: Alice, New York, Bob, Paris, Angela Merkel, Berlin = 6.
    # Predicted (default): Alice, New, Bob/ORG, Paris, Angela Merkel, Berlin = 6; right: Alice, Paris,
    # Angela Merkel, Berlin = 4.  P = 4/6, R = 4/6, F1 = 4/6.
    # Accuracy: 16 words, wrong tags on York, Bob, Angela = 3 -> 13/16 = 0.8125.
    check(scores["default"]["overall"], precision=4 / 6, recall=4 / 6, f1=4 / 6, accuracy=13 / 16, support=6)


def test_overall_strict_differs(scores):
    # Strict IOB2: "I-PER I-PER" is no entity, so 5 predicted, 3 right, 6 gold.
    # P = 3/5 = 0.6, R = 3/6 = 0.5, F1 = 2 * 0.6 * 0.5 / (0.6 + 0.5) = 0.6 / 1.1 = 6/11.
    # Accuracy compares tags word by word: the same 13/16 in both modes.
    check(scores["strict"]["overall"], precision=0.6, recall=0.5, f1=6 / 11, accuracy=13 / 16, support=6)


def test_per_language(scores):
    assert list(scores["languages"]) == ["de", "en"]
    assert scores["languages"]["en"] == {"sentences": 2, "tokens": 9}
    assert scores["languages"]["de"] == {"sentences": 2, "tokens": 7}
    assert (scores["sentences"], scores["tokens"]) == (4, 16)
    for mode in ("default", "strict"):
        # en: gold Alice, New York, Bob, Paris = 4; predicted Alice, New, Bob/ORG, Paris = 4; right 2.
        # P = R = F1 = 2/4. Accuracy: 9 words, York and Bob wrong -> 7/9.
        check(scores[mode]["per_language"]["en"], precision=0.5, recall=0.5, f1=0.5, accuracy=7 / 9, support=4)
    # de, default: gold Angela Merkel, Berlin; both predicted, both right: P = R = F1 = 1.
    # Accuracy: 7 words, Angela wrong -> 6/7.
    check(scores["default"]["per_language"]["de"], precision=1, recall=1, f1=1, accuracy=6 / 7, support=2)
    # de, strict: only Berlin predicted, right: P = 1/1, R = 1/2, F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
    check(scores["strict"]["per_language"]["de"], precision=1, recall=0.5, f1=2 / 3, accuracy=6 / 7, support=2)


def test_per_type(scores):
    default, strict = scores["default"]["per_type"], scores["strict"]["per_type"]
    assert sorted(default) == sorted(strict) == ["LOC", "ORG", "PER"]  # types of gold or prediction
    # LOC, both modes: gold New York, Paris, Berlin = 3; predicted New, Paris, Berlin = 3; right 2.
    check(default["LOC"], precision=2 / 3, recall=2 / 3, f1=2 / 3, support=3)
    check(strict["LOC"], precision=2 / 3, recall=2 / 3, f1=2 / 3, support=3)
    # PER, default: gold Alice, Bob, Angela Merkel = 3; predicted Alice, Angela Merkel, both right.
    # P = 2/2, R = 2/3, F1 = 2 * 1 * 2/3 / (5/3) = 0.8.
    check(default["PER"], precision=1, recall=2 / 3, f1=0.8, support=3)
    # PER, strict: predicted Alice only, right. P = 1/1, R = 1/3, F1 = 2 * 1/3 / (4/3) = 0.5.
    check(strict["PER"], precision=1, recall=1 / 3, f1=0.5, support=3)
    # ORG: one predicted (Bob), none in gold: P = 0/1, R = 0/0 -> 0 (zero_division), F1 = 0.
    for mode in (default, strict):
        check(mode["ORG"], precision=0, recall=0, f1=0, support=0)


def test_plain_json(scores):
    assert json.loads(json.dumps(scores)) == scores

    def numbers(node):
        if isinstance(node, dict):
            for value in node.values():
                yield from numbers(value)
        elif not isinstance(node, str):
            yield node

    assert all(type(value) in (int, float) for value in numbers(scores))


def test_markdown(scores):
    text = render_markdown(scores)
    assert "## Overall" in text and "## Per entity type" in text and "## Per language" in text
    assert "| default | 66.67 | 66.67 | 66.67 | 81.25 | 6 |" in text
    assert "| strict | 60.00 | 50.00 | 54.55 | 81.25 | 6 |" in text
    assert "| PER | 3 | 100.00 | 66.67 | 80.00 | 100.00 | 33.33 | 50.00 |" in text
    assert "| de | 2 | 7 | 2 | 100.00 | 100.00 | 100.00 | 100.00 | 50.00 | 66.67 | 85.71 |" in text


def test_ill_formed_gold_support_differs():
    # Gold "I-PER O": one entity in default mode, none in strict mode.
    scores = score_tags({"en": ([["I-PER", "O"]], [["B-PER", "O"]])})
    assert scores["default"]["overall"]["support"] == 1 and scores["strict"]["overall"]["support"] == 0
    # Default: gold and predicted entity are both PER on word 0: F1 = 1. Strict: a PER predicted,
    # none in gold: P = 0/1, R = 0/0 -> 0, F1 = 0.
    assert scores["default"]["overall"]["f1"] == 1.0 and scores["strict"]["overall"]["f1"] == 0.0
    assert "| PER | 1 / 0 |" in render_markdown(scores)


def test_no_entities_anywhere():
    scores = score_tags({"en": ([["O", "O"]], [["O", "O"]])})
    check(scores["default"]["overall"], precision=0, recall=0, f1=0, accuracy=1, support=0)
    assert scores["default"]["per_type"] == {}


def test_bad_input():
    with pytest.raises(ValueError):
        score_tags({})
    with pytest.raises(ValueError):
        add_tags({}, "en", ["O"], ["O", "O"])


# Docs: tags from doc.ents, always well-formed IOB2, so both modes agree.


def make_doc(vocab, words, tags, spaces=None):
    return Doc(vocab, words=words, spaces=spaces, ents=tags)


def test_doc_tags():
    vocab = spacy.blank("xx").vocab
    doc = make_doc(vocab, "Alice lives in New York .".split(), EN[0][1])
    assert doc_tags(doc) == EN[0][1]
    assert doc_tags(Doc(vocab, words=["no", "annotation"])) == ["O", "O"]  # missing -> O
    with pytest.raises(ValueError):
        pair_tags(doc, Doc(vocab, words=["Alice"]))


ZH = (
    "李白住在长安",
    list("李白住在长安"),
    # Li Bai (PER): right. Chang'an (LOC) predicted as 长 only: wrong; the tag of 安 is wrong.
    ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"],
    ["B-PER", "I-PER", "O", "O", "B-LOC", "O"],
)


def test_score_docs_two_languages():
    vocab = spacy.blank("xx").vocab
    examples = [
        ("en", make_doc(vocab, words, gold), make_doc(vocab, words, predicted)) for words, gold, predicted in EN
    ]
    _, chars, gold, predicted = ZH
    no_spaces = [False] * len(chars)
    examples.append(("zh", make_doc(vocab, chars, gold, no_spaces), make_doc(vocab, chars, predicted, no_spaces)))
    assert set(collect(iter(examples))) == {"en", "zh"}
    scores = score_docs(iter(examples))
    for mode in ("default", "strict"):
        # en as above: 2 right of 4 gold, 4 predicted. zh: 1 right (李白) of 2 gold, 2 predicted: 0.5.
        # Overall: 3 right of 6 gold, 6 predicted: P = R = F1 = 0.5. Accuracy: (7 + 5) / (9 + 6) = 0.8.
        check(scores[mode]["overall"], precision=0.5, recall=0.5, f1=0.5, accuracy=0.8, support=6)
        check(scores[mode]["per_language"]["zh"], precision=0.5, recall=0.5, f1=0.5, accuracy=5 / 6, support=2)
        check(scores[mode]["per_language"]["en"], precision=0.5, recall=0.5, f1=0.5, accuracy=7 / 9, support=4)
    assert scores["languages"]["zh"] == {"sentences": 1, "tokens": 6}


# scripts/evaluate.py


def write_corpus(folder: Path, lang: str, docs):
    (folder / lang).mkdir(parents=True)
    DocBin(attrs=["ORTH", "ENT_IOB", "ENT_TYPE"], docs=docs).to_disk(folder / lang / "000.spacy")


def test_cli_hand_case(tmp_path):
    """A rule-based pipeline makes exactly the predictions of the hand-worked en and zh case."""
    nlp = spacy.blank("xx")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "PER", "pattern": [{"ORTH": "Alice"}]},
            {"label": "LOC", "pattern": [{"ORTH": "New"}]},
            {"label": "ORG", "pattern": [{"ORTH": "Bob"}]},
            {"label": "LOC", "pattern": [{"ORTH": "Paris"}]},
            {"label": "PER", "pattern": [{"ORTH": "李"}, {"ORTH": "白"}]},
            {"label": "LOC", "pattern": [{"ORTH": "长"}]},
        ]
    )
    nlp.to_disk(tmp_path / "model")
    vocab = spacy.blank("xx").vocab
    write_corpus(tmp_path / "test", "en", [make_doc(vocab, words, gold) for words, gold, _ in EN])
    _, chars, gold, _ = ZH
    write_corpus(tmp_path / "test", "zh", [make_doc(vocab, chars, gold, [False] * len(chars))])
    result = CliRunner().invoke(
        load_script("evaluate").app, [str(tmp_path / "model"), str(tmp_path / "test"), str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "out" / "seqeval.json").read_text(encoding="utf8"))
    for mode in ("default", "strict"):  # as in test_score_docs_two_languages
        check(scores[mode]["overall"], precision=0.5, recall=0.5, f1=0.5, accuracy=0.8, support=6)
        check(scores[mode]["per_language"]["zh"], precision=0.5, recall=0.5, f1=0.5, accuracy=5 / 6)
        check(scores[mode]["per_type"]["PER"], precision=1, recall=2 / 3, support=3)
    assert "| default | 50.00 | 50.00 | 50.00 | 80.00 | 6 |" in result.output
    assert (tmp_path / "out" / "seqeval.md").read_text(encoding="utf8") in result.output


def test_cli_untrained_ner(sample_corpus, tmp_path):
    """The command line, as project.yml runs it, on an initialized but untrained NER pipeline."""
    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": {"@tokenizers": "xx_multinerd.CJKCharTokenizer.v1"}}})
    ner = nlp.add_pipe("ner")
    for label in ("PER", "ORG", "LOC", "TIME"):
        ner.add_label(label)
    nlp.initialize()
    nlp.to_disk(tmp_path / "model")
    out = tmp_path / "metrics"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            str(EVALUATE),
            str(tmp_path / "model"),
            str(sample_corpus / "test"),
            str(out),
            "--batch-size",
            "8",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    scores = json.loads((out / "seqeval.json").read_text(encoding="utf8"))
    langs = ["de", "en", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh"]
    assert list(scores["languages"]) == langs
    report = json.loads((sample_corpus / "report.json").read_text(encoding="utf8"))["splits"]["test"]
    assert scores["sentences"] == report["sentences"] == sum(c["sentences"] for c in scores["languages"].values())
    assert scores["tokens"] == report["tokens"]
    for mode in ("default", "strict"):
        assert set(scores[mode]) == {"overall", "per_type", "per_language"}
        assert set(scores[mode]["overall"]) == {"precision", "recall", "f1", "accuracy", "support"}
        assert set(scores[mode]["per_language"]) == set(langs)
        assert scores[mode]["overall"]["support"] > 0
        # Every gold type of the sample is there, whatever the untrained model predicts.
        assert {"PER", "ORG", "LOC", "ANIM", "VEHI"} <= set(scores[mode]["per_type"])
        rows = [scores[mode]["overall"], *scores[mode]["per_type"].values(), *scores[mode]["per_language"].values()]
        for row in rows:
            assert set(row) >= {"precision", "recall", "f1", "support"}
            for key in ("precision", "recall", "f1", "accuracy"):
                if key in row:
                    assert 0.0 <= row[key] <= 1.0 and isinstance(row[key], float)
    assert (out / "seqeval.md").read_text(encoding="utf8") in done.stdout


def test_cli_failures(tmp_path):
    app = load_script("evaluate").app

    def run(*args):
        result = CliRunner().invoke(app, [str(arg) for arg in args])
        return result.exit_code, " ".join(result.output.split())  # wasabi wraps long lines

    (tmp_path / "empty").mkdir()
    nlp = spacy.blank("xx")
    nlp.to_disk(tmp_path / "model")

    code, output = run(tmp_path / "no-model", tmp_path / "no-corpus", tmp_path / "out")
    assert code == 1 and str(tmp_path / "no-corpus") in output and "spacy project run convert" in output
    code, output = run(tmp_path / "no-model", tmp_path / "empty", tmp_path / "out")
    assert code == 1 and "spacy project run convert" in output  # the test folder is checked first

    write_corpus(tmp_path / "test", "en", [make_doc(nlp.vocab, *EN[0][:2])])
    code, output = run(tmp_path / "no-model", tmp_path / "test", tmp_path / "out")
    assert code == 1 and "spacy project run train" in output

    write_corpus(tmp_path / "hollow", "en", [])  # a shard with no docs
    code, output = run(tmp_path / "model", tmp_path / "hollow", tmp_path / "out")
    assert code == 1 and "spacy project run convert" in output
    assert not (tmp_path / "out").exists()
    # No GPU here (or no cupy): the GPU path fails before it loads anything, saying what to pass.
    code, output = run(tmp_path / "model", tmp_path / "test", tmp_path / "out", "--gpu-id", 0)
    assert code == 1 and "GPU 0" in output and "--gpu-id -1" in output
    assert not (tmp_path / "out").exists()


def test_the_progress_bar_counts_each_languages_sentences(sample_corpus, capsys):
    """`evaluating de: N sent`, N the sentences scored (it said 0 whatever was scored)."""
    nlp = spacy.blank("xx")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "LOC", "pattern": "Berlin"}])
    scores, confidence = evaluate(nlp, sample_corpus / "test", progress=True)
    assert confidence is None  # no entity scores component in this pipeline
    shown = capsys.readouterr().err.replace("\r", "\n")
    for lang, counts in scores["languages"].items():
        assert counts["sentences"] > 0 and f"evaluating {lang}: {counts['sentences']} sent" in shown, shown
