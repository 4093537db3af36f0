"""Calibrating a trained pipeline's entity scores on dev: the pipeline's `entity_scores`
component (multinerd.pipeline.entity_scores) keeps the `ner`'s action scores on the dev docs;
their temperature, chosen from a grid by the log loss of the entities' probabilities, and Platt
scaling of the tempered probability's logit are fitted to whether each entity the pipeline finds
is right, never on test. `calibrate_pipeline` writes a copy of the pipeline whose entity scores
apply that calibration (the trained pipeline, another command's output, stays as it is) and
METRICS/calibration.json: what was fitted on how many entities, and the dev ECE before and after
(in-sample: the test figures are multinerd.evaluation.evaluate's).
"""

import math
import shutil
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Set, Tuple

import numpy
import srsly
from spacy.language import Language
from spacy.util import minibatch
from wasabi import msg

from multinerd.data.docbins import read_docs
from multinerd.evaluation.reliability import Outcome, confidence_report
from multinerd.evaluation.seqeval import unannotated
from multinerd.pipeline.entity_scores import (
    EPSILON,
    FACTORY,
    IDENTITY,
    Actions,
    EntityKey,
    entity_scores,
    entity_scores_name,
    logit,
    sigmoid,
)

TEMPERATURES = tuple(2 ** (i / 4) for i in range(-8, 17))  # 0.25, 0.30, ..., 1, ..., 16
# A dev doc as calibration sees it: its step scores, the entities the pipeline found, the gold entities.
Record = Tuple[numpy.ndarray, List[EntityKey], Set[EntityKey]]


class CalibrateError(Exception):
    """The pipeline can't be calibrated; the message is the line to show."""


def outcomes_at(records: Iterable[Record], actions: Actions, calibration: Dict[str, float]) -> List[Outcome]:
    """(score, correct) of each entity found in the records, scored with `calibration`."""
    found = []
    for rows, predicted, gold in records:
        found.extend(zip(entity_scores(rows, predicted, actions, calibration), (key in gold for key in predicted)))
    return found


def log_loss(outcomes: Sequence[Outcome]) -> float:
    def clipped(score: float) -> float:
        return min(max(score, EPSILON), 1 - EPSILON)

    return -sum(math.log(clipped(s) if correct else 1 - clipped(s)) for s, correct in outcomes) / max(len(outcomes), 1)


def fit_calibration(records: Sequence[Record], actions: Actions) -> Dict[str, float]:
    """The temperature of TEMPERATURES whose entity probabilities have the least log loss, then
    Platt scaling fitted on the tempered probabilities."""

    def loss(temperature: float) -> float:
        return log_loss(outcomes_at(records, actions, {**IDENTITY, "temperature": temperature}))

    temperature = min(TEMPERATURES, key=loss)
    tempered = outcomes_at(records, actions, {**IDENTITY, "temperature": temperature})
    return {"temperature": temperature, **fit_platt(tempered)}


def fit_platt(outcomes: Sequence[Outcome], iterations: int = 100) -> Dict[str, float]:
    """The slope and bias of sigmoid(slope * logit(score) + bias) that maximise the likelihood of
    the outcomes (logistic regression on the score's logit, Newton's method, with a small ridge
    towards the identity, slope 1 and bias 0, so that data of one class stays finite). Scores that
    are already calibrated give a slope near 1 and a bias near 0."""
    xs = [logit(score) for score, _ in outcomes]
    ys = [float(correct) for _, correct in outcomes]
    slope, bias, ridge = 1.0, 0.0, 1.0
    for _ in range(iterations):
        g_slope, g_bias = ridge * (slope - 1), ridge * bias
        h_ss, h_sb, h_bb = ridge, 0.0, ridge
        for x, y in zip(xs, ys):
            p = sigmoid(slope * x + bias)
            w = p * (1 - p)
            g_slope += (p - y) * x
            g_bias += p - y
            h_ss += w * x * x
            h_sb += w * x
            h_bb += w
        det = h_ss * h_bb - h_sb * h_sb
        step_slope = (h_bb * g_slope - h_sb * g_bias) / det
        step_bias = (h_ss * g_bias - h_sb * g_slope) / det
        slope, bias = slope - step_slope, bias - step_bias
        if abs(step_slope) < 1e-9 and abs(step_bias) < 1e-9:
            break
    return {"slope": slope, "bias": bias}


def dev_records(nlp: Language, name: str, gold_docs, batch_size: int = 256) -> Tuple[List[Record], int]:
    """Each dev doc's step scores, the entities the pipeline finds in its words and its gold
    entities (the entity scores component runs on its own, without its threshold), and the gold count."""
    component = nlp.get_pipe(name)
    records: List[Record] = []
    n_gold = 0
    inputs = ((unannotated(nlp.vocab, gold), {(e.start, e.end, e.label_) for e in gold.ents}) for gold in gold_docs)
    annotated = nlp.pipe(inputs, as_tuples=True, batch_size=batch_size, disable=[name])
    for batch in minibatch(annotated, batch_size):
        docs = [doc for doc, _ in batch]
        for doc, rows, (_, gold) in zip(docs, component.predict(docs), batch):
            records.append((rows, [(e.start, e.end, e.label_) for e in doc.ents], gold))
            n_gold += len(gold)
    return records, n_gold


def calibrate(nlp: Language, dev_docs) -> dict:
    """Fit the entity scores' calibration on the dev docs and set it; returns what was fitted and the
    dev figures before and after."""
    name = entity_scores_name(nlp)
    if name is None:
        raise ValueError(f"no {FACTORY} component (pipes: {', '.join(nlp.pipe_names)})")
    records, n_gold = dev_records(nlp, name, dev_docs)
    actions = nlp.get_pipe(name).actions()
    before = outcomes_at(records, actions, IDENTITY)
    if not before:
        # Nothing to fit on: an untrained or too briefly trained pipeline is a valid (bad) model,
        # so its scores stay as they are rather than stopping the workflow.
        nlp.get_pipe(name).set_calibration(IDENTITY)
        return {"calibration": dict(IDENTITY), "entities": 0, "gold": n_gold, "ece_before": None, "ece_after": None}
    calibration = fit_calibration(records, actions)
    nlp.get_pipe(name).set_calibration(calibration)
    return {
        "calibration": calibration,
        "entities": len(before),
        "gold": n_gold,
        "ece_before": confidence_report(before, n_gold)["ece"],
        "ece_after": confidence_report(outcomes_at(records, actions, calibration), n_gold)["ece"],
    }


def calibrate_pipeline(model: Path, dev_dir: Path, output: Path, metrics: Path) -> None:
    """Calibrate `model` on `dev_dir` into `output`, with METRICS/calibration.json (see the module).
    Raises CalibrateError."""
    import spacy

    if not (model / "config.cfg").is_file():
        raise CalibrateError(f"No pipeline at {model}: run `spacy project run train` first.")
    if output.resolve() == model.resolve():
        raise CalibrateError(
            f"OUTPUT ({output}) must not be MODEL: the trained pipeline stays untouched; choose another folder."
        )
    if next(dev_dir.rglob("*.spacy"), None) is None:
        raise CalibrateError(f"No .spacy shards under {dev_dir}: run `spacy project run convert` first.")
    nlp = spacy.load(model)
    try:
        fitted = calibrate(nlp, read_docs(dev_dir, nlp.vocab))
    except ValueError as err:
        raise CalibrateError(
            f"Can't calibrate {model} on {dev_dir}: {err}. Train with configs/cnn.cfg or configs/trf.cfg, whose pipelines have one."
        ) from None
    if output.exists():
        shutil.rmtree(output)
    nlp.to_disk(output)
    metrics.mkdir(parents=True, exist_ok=True)
    srsly.write_json(metrics / "calibration.json", {"model": str(model), "dev": str(dev_dir), **fitted})
    report_calibration(fitted, dev_dir, output)


def report_calibration(fitted: dict, dev_dir: Path, output: Path) -> None:
    """One line: what was fitted, a warning where there was nothing to fit or the dev ECE got worse."""
    if not fitted["entities"]:
        msg.warn(
            f"The pipeline found no entity in {dev_dir} ({fitted['gold']:,} gold entities): its scores are left "
            f"uncalibrated (temperature 1, no Platt scaling); train longer for a useful model. Wrote {output}"
        )
        return
    calibration = fitted["calibration"]
    line = (
        f"Calibrated on {fitted['entities']:,} dev entities: ECE {fitted['ece_before']:.4f} -> {fitted['ece_after']:.4f} "
        f"(temperature {calibration['temperature']:.2f}, slope {calibration['slope']:.3f}, bias {calibration['bias']:.3f}); wrote {output}"
    )
    # The fit minimises the log loss, not the ECE, which it can leave slightly worse.
    if fitted["ece_after"] > fitted["ece_before"]:
        msg.warn(line + " (the dev ECE got worse: the fit minimises the log loss; see the test figures)")
    else:
        msg.good(line)
