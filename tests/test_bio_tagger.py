"""The BIO entity tagger (multinerd.pipeline.bio_tagger): its decoding to well-formed BIO, its gold from the
reference's entities, and a small pipeline that learns a few sentences, saves and loads."""

import json
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from multinerd.pipeline.bio_tagger import (
    FACTORY,
    allowed_transitions,
    best_bio_path,
    bio_from_biluo,
    bio_labels,
    bio_spans,
    entity_types,
    log_probabilities,
)

ROOT = Path(__file__).resolve().parents[1]
LABELS = bio_labels(["PER", "LOC"])


def test_the_scripts_know_the_tagger_sets_the_entities():
    """evaluate and annotate check for an entity recognizer: the trf pipeline's tagger is one (evaluate
    warned "has no entity recognizer ... every word will be predicted O" on it)."""
    from multinerd.loading import ENTITY_FACTORIES

    assert FACTORY in ENTITY_FACTORIES


def test_labels_and_types():
    assert LABELS == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    # The converter's labels/ner.json: the ner's actions, each with its labels.
    label_data = {"0": {"": 1}, "1": {"LOC": 1, "PER": 1}, "5": {"": 1}, "4": {"-": 1}}
    assert entity_types(label_data) == ["LOC", "PER"]
    assert entity_types(["PER", "LOC", "PER"]) == ["LOC", "PER"]
    assert entity_types(LABELS) == ["LOC", "PER"]  # the tagger's own label data


def test_gold_biluo_as_bio():
    assert [bio_from_biluo(tag) for tag in ("U-PER", "B-LOC", "I-LOC", "L-LOC", "O", "-", None)] == [
        "B-PER", "B-LOC", "I-LOC", "I-LOC", "O", None, None,
    ]  # fmt: skip


def decode(probs):
    path = best_bio_path(numpy.log(numpy.asarray(probs, dtype="float32")), allowed_transitions(LABELS))
    return [LABELS[i] for i in path]


def test_decoding_is_well_formed_and_most_probable():
    # Argmax would give I-PER first (not allowed at the start) and I-LOC after B-PER.
    probs = [
        [0.1, 0.1, 0.1, 0.3, 0.4],  # I-PER best alone
        [0.1, 0.1, 0.5, 0.1, 0.2],  # I-LOC best alone
        [0.8, 0.05, 0.05, 0.05, 0.05],
    ]
    assert decode(probs) == ["B-PER", "I-PER", "O"]
    # Where the argmax is well formed, it is the answer.
    probs = [[0.1, 0.6, 0.1, 0.1, 0.1], [0.1, 0.1, 0.6, 0.1, 0.1], [0.1, 0.1, 0.1, 0.6, 0.1]]
    assert decode(probs) == ["B-LOC", "I-LOC", "B-PER"]
    assert decode(numpy.zeros((0, len(LABELS)))) == []


def test_log_probabilities_of_scores_and_of_probabilities():
    scores = numpy.asarray([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    probs = numpy.exp(scores) / numpy.exp(scores).sum(axis=1, keepdims=True)
    numpy.testing.assert_allclose(log_probabilities(scores, normalized=False), numpy.log(probs), rtol=1e-6)
    numpy.testing.assert_allclose(log_probabilities(probs, normalized=True), numpy.log(probs), rtol=1e-6)


def test_spans_of_tags():
    doc = Doc(spacy.blank("xx").vocab, words=["Ada", "Lovelace", "in", "New", "York", "Paris"])
    spans = bio_spans(doc, ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "B-LOC"])
    assert [(span.start, span.end, span.label_) for span in spans] == [(0, 2, "PER"), (3, 5, "LOC"), (5, 6, "LOC")]


def tagger_pipeline():
    nlp = spacy.blank("xx")
    nlp.add_pipe("tok2vec", config={"model": {"@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None,
                                               "width": 32, "depth": 1, "embed_size": 500, "window_size": 1,
                                               "maxout_pieces": 2, "subword_features": True}})  # fmt: skip
    nlp.add_pipe(FACTORY, name="ner", config={"model": {"@architectures": "spacy.Tagger.v2", "nO": None,
        "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 32, "upstream": "tok2vec"}}})  # fmt: skip
    return nlp


def gold_examples(nlp):
    examples = []
    for first, second, place in (("Ada", "Lovelace", "London"), ("Alan", "Turing", "Wilmslow")):
        doc = Doc(nlp.vocab, words=[first, second, "lived", "in", place, "."])
        doc.ents = [Span(doc, 0, 2, "PER"), Span(doc, 4, 5, "LOC")]
        examples.append(Example(nlp.make_doc(doc.text), doc))
    return examples


def test_learns_from_and_writes_entities(tmp_path):
    nlp = tagger_pipeline()
    examples = gold_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    assert nlp.get_pipe("ner").labels == ("LOC", "PER") and nlp.get_pipe("ner").tags == tuple(LABELS)
    losses = [nlp.update(examples, sgd=optimizer)["ner"] for _ in range(60)]
    assert losses[-1] < losses[0] / 10
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] == pytest.approx(1.0)
    nlp.to_disk(tmp_path / "model")
    doc = spacy.load(tmp_path / "model")("Ada Lovelace lived in London .")
    assert [(ent.text, ent.label_) for ent in doc.ents] == [("Ada Lovelace", "PER"), ("London", "LOC")]
    assert spacy.load(tmp_path / "model")("").ents == ()


def test_initializes_from_the_converters_label_data():
    nlp = tagger_pipeline()
    label_data = {"1": {"PER": 3, "LOC": 2, "ORG": 0}, "0": {"": 1}}
    nlp.get_pipe("ner").initialize(lambda: gold_examples(nlp), nlp=nlp, labels=label_data)
    assert nlp.get_pipe("ner").tags == tuple(bio_labels(["LOC", "ORG", "PER"]))
    assert nlp.get_pipe("ner").add_label("PER") == 0 and nlp.get_pipe("ner").labels == ("LOC", "ORG", "PER")


def scored_tagger():
    """multinerd.evaluation.calibration, and a tagger pipeline with entity scores, initialized on gold_examples."""
    from multinerd.evaluation import calibration as calibrate

    nlp = tagger_pipeline()
    nlp.add_pipe("xx_multinerd_entity_scores", config={"ner": "ner"})
    examples = gold_examples(nlp)
    return calibrate, nlp, examples, nlp.initialize(lambda: examples)


def test_entity_scores_after_the_tagger():
    """The entity scores component (multinerd.pipeline.entity_scores) reads the tagger's softmax; calibration fits on it."""
    calibrate, nlp, examples, optimizer = scored_tagger()
    for _ in range(60):
        nlp.update(examples, sgd=optimizer)
    doc = nlp("Ada Lovelace lived in London .")
    assert [ent.text for ent in doc.ents] == ["Ada Lovelace", "London"]
    assert all(0.5 < ent._.score <= 1.0 for ent in doc.ents)
    fitted = calibrate.calibrate(nlp, [example.reference for example in examples])
    assert fitted["entities"] == 4 and fitted["calibration"]["temperature"] > 0
    assert nlp.get_pipe("xx_multinerd_entity_scores").calibration == fitted["calibration"]


def test_calibrate_a_pipeline_that_finds_no_entity(tmp_path):
    """A pipeline too briefly trained to find any dev entity is a valid, bad model: calibrate keeps
    its scores as they are (identity), says so on one line and exits 0, so the workflow goes on."""
    from script_helpers import load_script
    from spacy.tokens import DocBin
    from typer.testing import CliRunner

    _, nlp, examples, optimizer = scored_tagger()
    # Taught that nothing is an entity: it finds none in the dev docs, which have some.
    words = [[token.text for token in example.reference] for example in examples]
    nothing = [
        Example(example.predicted, Doc(nlp.vocab, words=w, ents=["O"] * len(w))) for example, w in zip(examples, words)
    ]
    for _ in range(30):
        nlp.update(nothing, sgd=optimizer)
    assert not any(doc.ents for doc in nlp.pipe(example.reference.text for example in examples))
    nlp.to_disk(tmp_path / "model")
    (tmp_path / "dev").mkdir()
    DocBin(docs=[example.reference for example in examples]).to_disk(tmp_path / "dev" / "000.spacy")
    args = [str(tmp_path / "model"), str(tmp_path / "dev"), str(tmp_path / "out"), "--metrics", str(tmp_path / "m")]
    result = CliRunner().invoke(load_script("calibrate").app, args)
    assert result.exit_code == 0, result.output
    assert "found no entity" in result.output and "uncalibrated" in result.output
    fitted = json.loads((tmp_path / "m" / "calibration.json").read_text())
    assert fitted["calibration"] == {"temperature": 1.0, "slope": 1.0, "bias": 0.0} and fitted["entities"] == 0
    assert fitted["gold"] == 4 and fitted["ece_before"] is None
    assert spacy.load(tmp_path / "out").get_pipe("xx_multinerd_entity_scores").calibration == fitted["calibration"]
