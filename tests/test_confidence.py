"""Entity scores: the entity_scores component (multinerd.pipeline.entity_scores) on a cnn pipeline trained for a
few steps on the sample, the reliability figures and the calibration (multinerd.evaluation.reliability), and
scripts/calibrate.py and scripts/evaluate.py's entity-score outputs."""

import json
import math
import random
from pathlib import Path

import numpy
import pytest
import spacy
from script_helpers import load_script
from spacy import displacy
from spacy.training import Example
from spacy.util import load_config, minibatch
from typer.testing import CliRunner

from multinerd.data.docbins import read_docs
from multinerd.evaluation.calibration import fit_calibration, fit_platt, outcomes_at, report_calibration
from multinerd.evaluation.reliability import (
    THRESHOLDS,
    confidence_report,
    expected_calibration_error,
    precision_recall_at,
    reliability_table,
)
from multinerd.pipeline.colors import ENTITY_COLORS
from multinerd.pipeline.entity_scores import (
    ALTERNATIVES_THRESHOLD,
    FACTORY,
    IDENTITY,
    SCORE,
    Actions,
    BioTags,
    alternatives,
    displacy_data,
    entity_scores,
    logit,
)

ROOT = Path(__file__).resolve().parents[1]
TRAIN_STEPS = 120


@pytest.fixture(scope="module")
def trained(sample_corpus, tmp_path_factory) -> Path:
    """configs/cnn.cfg (with its entity scores component) trained for a few steps on the sample, saved."""
    config = load_config(
        ROOT / "configs" / "cnn.cfg", overrides={"paths.labels": str(sample_corpus / "labels" / "ner.json")}
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    gold = list(read_docs(sample_corpus / "train", nlp.vocab))
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold]
    optimizer = nlp.initialize(lambda: examples)
    random.Random(0).shuffle(examples)
    for step, batch in zip(range(TRAIN_STEPS), minibatch(examples * 4, 16)):
        nlp.update(batch, sgd=optimizer, drop=0.1)
    path = tmp_path_factory.mktemp("scored") / "model"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def texts(sample_corpus):
    return [doc.text for doc in read_docs(sample_corpus / "test", spacy.blank("xx").vocab)]


def keys(doc):
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def test_every_entity_has_a_score_in_0_1_and_the_entities_are_the_ners(trained, texts):
    nlp = spacy.load(trained)
    assert nlp.get_pipe_meta("entity_scores").factory == FACTORY
    scored = list(nlp.pipe(texts, batch_size=7))
    with nlp.select_pipes(disable=["entity_scores"]):
        plain = list(nlp.pipe(texts))
    assert [keys(doc) for doc in scored] == [keys(doc) for doc in plain]
    scores = [ent._.get(SCORE) for doc in scored for ent in doc.ents]
    assert len(scores) > 20 and all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    assert len(set(scores)) > 10  # they say something about each entity
    assert all(ent._.get(SCORE) is None for doc in plain for ent in doc.ents)
    # One doc at a time scores as a batch does.
    single = [nlp(text) for text in texts[:10]]
    assert [e._.score for d in single for e in d.ents] == pytest.approx(
        [e._.score for d in scored[:10] for e in d.ents]
    )


def test_threshold_at_load_time_drops_exactly_the_entities_below_it(trained, texts):
    found = [(key, ent._.score) for doc in spacy.load(trained).pipe(texts) for key, ent in zip(keys(doc), doc.ents)]
    threshold = sorted(score for _, score in found)[len(found) // 2]
    nlp = spacy.load(trained, config={"components": {"entity_scores": {"threshold": threshold}}})
    kept = [(key, ent._.score) for doc in nlp.pipe(texts) for key, ent in zip(keys(doc), doc.ents)]
    assert kept == [(key, score) for key, score in found if score >= threshold]
    assert 0 < len(kept) < len(found)


def test_alternatives_in_a_span_group(trained, texts):
    nlp = spacy.load(trained, config={"components": {"entity_scores": {"alternatives_key": "ner_alternatives"}}})
    docs = list(nlp.pipe(texts))
    assert "ner_alternatives" not in spacy.load(trained)(texts[0]).spans  # off by default
    n = 0
    for doc in docs:
        group = doc.spans["ner_alternatives"]
        scores = group.attrs["scores"]
        assert len(scores) == len(group) and scores == sorted(scores, reverse=True)
        assert all(ALTERNATIVES_THRESHOLD <= s <= 1.0 for s in scores)
        assert not {(s.start, s.end, s.label_) for s in group} & set(keys(doc))
        n += len(group)
    assert n > 0


def test_an_entity_the_threshold_drops_is_an_alternative_and_the_floor_is_a_setting(trained, texts):
    found = {}
    for doc in spacy.load(trained).pipe(texts):
        found.update({(doc.text, key): ent._.score for key, ent in zip(keys(doc), doc.ents)})
    threshold = sorted(found.values())[len(found) // 2]
    group_of = {}
    for floor in (ALTERNATIVES_THRESHOLD, 0.5):
        settings = {"threshold": threshold, "alternatives_key": "alt", "alternatives_threshold": floor}
        nlp = spacy.load(trained, config={"components": {"entity_scores": settings}})
        group_of[floor] = n = 0
        for doc in nlp.pipe(texts):
            group = doc.spans["alt"]
            scored = {(s.start, s.end, s.label_): score for s, score in zip(group, group.attrs["scores"])}
            dropped = {key: score for (text, key), score in found.items() if text == doc.text and score < threshold}
            assert {key: scored.get(key) for key in dropped} == pytest.approx(dropped)  # each with its score
            assert all(score >= floor for key, score in scored.items() if key not in dropped)
            n += len(dropped)
            group_of[floor] += len(group)
        assert n > 0
    assert group_of[0.5] < group_of[ALTERNATIVES_THRESHOLD]


def test_calibration_travels_with_the_pipeline(trained, texts, tmp_path):
    nlp = spacy.load(trained)
    raw = [e._.score for d in nlp.pipe(texts[:20]) for e in d.ents]
    nlp.get_pipe("entity_scores").set_calibration({"temperature": 2.0, "slope": 0.5, "bias": -0.3})
    calibrated = [e._.score for d in nlp.pipe(texts[:20]) for e in d.ents]
    assert calibrated != pytest.approx(raw)
    nlp.to_disk(tmp_path / "model")
    assert [e._.score for d in spacy.load(tmp_path / "model").pipe(texts[:20]) for e in d.ents] == pytest.approx(
        calibrated
    )
    copy = spacy.load(trained).from_bytes(nlp.to_bytes())
    assert [e._.score for d in copy.pipe(texts[:20]) for e in d.ents] == pytest.approx(calibrated)


def test_displacy_shows_the_scores_in_each_types_colour(trained, texts):
    nlp = spacy.load(trained)
    doc = next(doc for doc in nlp.pipe(texts) if doc.ents)
    data, options = displacy_data(doc)
    html = displacy.render(data, style="ent", manual=True, options=options)
    for ent in doc.ents:
        label = f"{ent.label_} {ent._.score:.2f}"
        assert label in html and options["colors"][label] == ENTITY_COLORS[ent.label_]
        assert f"background: {ENTITY_COLORS[ent.label_]}" in html


# --- the figures -----------------------------------------------------------------------------------


def test_reliability_table_ece_and_thresholds():
    outcomes = [(0.95, True), (0.95, True), (0.92, False), (0.55, True), (0.51, False), (0.05, False), (1.0, True)]
    table = reliability_table(outcomes)
    assert sum(row["entities"] for row in table) == len(outcomes)
    top = table[9]  # 0.9-1.0, with the score of 1.0
    assert top["entities"] == 4 and top["accuracy"] == 0.75 and top["mean_score"] == pytest.approx(0.955)
    assert table[3]["entities"] == 0 and table[3]["accuracy"] is None
    # |0.955 - 0.75| * 4 + |0.53 - 0.5| * 2 + |0.05 - 0| * 1, over 7
    assert expected_calibration_error(table) == pytest.approx((0.205 * 4 + 0.03 * 2 + 0.05) / 7)
    at = precision_recall_at(outcomes, n_gold=8, threshold=0.9)
    assert (at["entities"], at["precision"], at["recall"]) == (4, 0.75, 3 / 8)
    report = confidence_report(outcomes, n_gold=8)
    assert [t["threshold"] for t in report["thresholds"]] == list(THRESHOLDS)
    assert report["curve"][0]["entities"] == len(outcomes) and report["curve"][-1]["entities"] == 1
    assert sum(row["entities"] for row in report["reliability"]) == report["entities"] == len(outcomes)


def calibrated_toy(n: int, seed: int):
    """One-token entities whose U-X probability at temperature 1 is p, right with probability p."""
    rng = random.Random(seed)
    actions = Actions(outside=0, begin={"X": 1}, inside={"X": 2}, last={"X": 3}, unit={"X": 4})
    records = []
    for _ in range(n):
        p = rng.uniform(0.02, 0.98)
        row = numpy.zeros((1, 5), dtype="f")
        row[0, 4] = logit(p)  # a one-token doc: O or U-X
        key = (0, 1, "X")
        records.append((row, [key], {key} if rng.random() < p else set()))
    return records, actions


def test_calibration_changes_nothing_on_perfectly_calibrated_scores():
    records, actions = calibrated_toy(4000, seed=0)
    raw = outcomes_at(records, actions, IDENTITY)
    fitted = fit_calibration(records, actions)
    assert fitted["temperature"] == 1.0
    after = outcomes_at(records, actions, fitted)
    assert max(abs(a - b) for (a, _), (b, _) in zip(after, raw)) < 0.03
    assert expected_calibration_error(reliability_table(raw)) < 0.05


def test_calibration_repairs_overconfident_scores():
    records, actions = calibrated_toy(4000, seed=1)
    sharp = [(rows * 3, ents, gold) for rows, ents, gold in records]  # the same outcomes, scores 3x too sharp
    before = expected_calibration_error(reliability_table(outcomes_at(sharp, actions, IDENTITY)))
    fitted = fit_calibration(sharp, actions)
    after = expected_calibration_error(reliability_table(outcomes_at(sharp, actions, fitted)))
    assert before > 0.1 and after < 0.03
    assert fitted["temperature"] > 1


def test_platt_scaling_stays_finite_on_one_class():
    fitted = fit_platt([(1.0, True)] * 50)
    assert all(numpy.isfinite(list(fitted.values())))


def test_entity_scores_multi_token():
    actions = Actions(
        outside=0, begin={"X": 1, "Y": 5}, inside={"X": 2, "Y": 6}, last={"X": 3, "Y": 7}, unit={"X": 4, "Y": 8}
    )
    rows = numpy.zeros((3, 9), dtype="f")
    # Token 0: B-X against O, U-X, B-Y, U-Y (5 equal scores); token 1: I-X against L-X; token 2: L-X alone.
    (score,) = entity_scores(rows, [(0, 3, "X")], actions, IDENTITY)
    assert score == pytest.approx(1 / 5 * 1 / 2 * 1)


def test_bio_tagger_entity_scores_and_alternatives():
    tags = BioTags.of(["O", "B-X", "I-X", "B-Y", "I-Y"])
    assert tags == BioTags(outside=0, begin={"X": 1, "Y": 3}, inside={"X": 2, "Y": 4})
    rows = numpy.zeros((3, 5), dtype="f")  # every tag equally likely: 1/5 each
    # B-X, I-X, then not I-X after it; at the end of the doc nothing follows.
    assert entity_scores(rows, [(0, 2, "X"), (1, 3, "X")], tags, IDENTITY) == pytest.approx(
        [1 / 5 * 1 / 5 * 4 / 5, 1 / 5 * 1 / 5]
    )
    rows[0, 1] = rows[1, 2] = rows[2, 0] = 4.0  # a confident X over tokens 0-1, then O
    (score,) = entity_scores(rows, [(0, 2, "X")], tags, IDENTITY)
    assert score > 0.8
    # The tempered score is less sure, and a calibration's Platt scaling moves it.
    (tempered,) = entity_scores(rows, [(0, 2, "X")], tags, {**IDENTITY, "temperature": 2.0})
    assert 1 / 25 < tempered < score
    found = dict(alternatives(rows, [(0, 2, "X")], tags, {**IDENTITY, "temperature": 4.0}, 0.01))
    # The entity's words as Y, and one-token X and Y at token 2, the one outside it.
    assert set(found) == {(0, 2, "Y"), (2, 3, "X"), (2, 3, "Y")}
    assert found[(2, 3, "X")] == pytest.approx(1 / (math.e + 4))  # token 2 at temperature 4: O 1.0, the rest 0


# --- the command lines ---------------------------------------------------------------------------


def test_calibrate_and_evaluate_write_the_figures(trained, sample_corpus, tmp_path):
    calibrate, evaluate = load_script("calibrate"), load_script("evaluate")
    before = {p.name: p.read_bytes() for p in (trained / "entity_scores").iterdir()}
    out, metrics = tmp_path / "model-calibrated", tmp_path / "metrics"
    result = CliRunner().invoke(
        calibrate.app, [str(trained), str(sample_corpus / "dev_sample"), str(out), "--metrics", str(metrics)]
    )
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in (trained / "entity_scores").iterdir()} == before  # MODEL untouched
    fitted = json.loads((metrics / "calibration.json").read_text())
    assert spacy.load(out).get_pipe("entity_scores").calibration == pytest.approx(fitted["calibration"])
    assert fitted["entities"] > 0 and all(0.0 <= fitted[key] <= 1.0 for key in ("ece_before", "ece_after"))
    result = CliRunner().invoke(
        evaluate.app, [str(out), str(sample_corpus / "test"), str(metrics), "--no-spacy-scores"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((metrics / "confidence.json").read_text())
    seqeval = json.loads((metrics / "seqeval.json").read_text())
    assert sum(row["entities"] for row in report["reliability"]) == report["entities"] > 0
    assert report["gold"] == seqeval["default"]["overall"]["support"]
    assert 0.0 <= report["ece"] <= 1.0
    for name in ("reliability.png", "precision_recall.png"):
        assert (metrics / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"{report['ece']:.4f}" in (metrics / "confidence.md").read_text()


def test_calibrate_without_entity_scores_fails_on_one_line(sample_corpus, tmp_path):
    nlp = spacy.blank("xx")
    nlp.add_pipe("ner").add_label("PER")
    nlp.initialize()
    nlp.to_disk(tmp_path / "model")
    result = CliRunner().invoke(
        load_script("calibrate").app,
        [
            str(tmp_path / "model"),
            str(sample_corpus / "dev_sample"),
            str(tmp_path / "out"),
            "--metrics",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path / "model") in lines[0] and "configs/" in lines[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "m").exists()


def test_calibrate_warns_when_the_dev_ece_gets_worse(capsys, tmp_path):
    """The fit minimises the log loss and can leave the ECE slightly worse (0.1121 -> 0.1129 seen):
    a warning, not a green check."""
    calibration = {"temperature": 1.5, "slope": 0.9, "bias": 0.1}
    for before, after, mark in ((0.1121, 0.1129, "⚠"), (0.1129, 0.1121, "✔")):
        fitted = {"calibration": calibration, "entities": 40, "gold": 50, "ece_before": before, "ece_after": after}
        report_calibration(fitted, tmp_path / "dev", tmp_path / "out")
        out = capsys.readouterr().out
        assert mark in out and f"ECE {before:.4f} -> {after:.4f}" in out
        assert ("got worse" in out) == (after > before)
