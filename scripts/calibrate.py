"""Calibrate a trained pipeline's entity scores on dev and write the calibrated pipeline.

    python scripts/calibrate.py training/trf/model-best corpus/dev_sample training/trf/model-calibrated \\
        --metrics metrics/trf

The pipeline's `entity_scores` component (multinerd.pipeline.entity_scores) keeps the `ner`'s action scores
on the dev docs; their temperature and Platt scaling of the tempered entity probability are
fitted to whether each entity the pipeline finds is right (multinerd.evaluation.reliability.fit_calibration),
never on test. OUTPUT becomes a copy of MODEL
whose scorer applies that calibration (MODEL, another command's output, stays as it is);
METRICS/calibration.json says what was fitted on how many entities, and the dev ECE before and
after (in-sample: the test figures are scripts/evaluate.py's).
"""

import shutil
from pathlib import Path
from typing import List, Tuple

import srsly
import typer
from spacy.language import Language
from spacy.util import minibatch
from wasabi import msg

from multinerd.cli import fail
from multinerd.data.corpus import read_docs
from multinerd.evaluation.reliability import Record, confidence_report, fit_calibration, outcomes_at
from multinerd.evaluation.seqeval import unannotated
from multinerd.pipeline.entity_scores import FACTORY, IDENTITY, scorer_name

app = typer.Typer(add_completion=False)


def dev_records(nlp: Language, name: str, gold_docs, batch_size: int = 256) -> Tuple[List[Record], int]:
    """Each dev doc's step scores, the entities the pipeline finds in its words and its gold
    entities (the scorer runs on its own, without its threshold), and the gold count."""
    scorer = nlp.get_pipe(name)
    records: List[Record] = []
    n_gold = 0
    inputs = ((unannotated(nlp.vocab, gold), {(e.start, e.end, e.label_) for e in gold.ents}) for gold in gold_docs)
    annotated = nlp.pipe(inputs, as_tuples=True, batch_size=batch_size, disable=[name])
    for batch in minibatch(annotated, batch_size):
        docs = [doc for doc, _ in batch]
        for doc, rows, (_, gold) in zip(docs, scorer.predict(docs), batch):
            records.append((rows, [(e.start, e.end, e.label_) for e in doc.ents], gold))
            n_gold += len(gold)
    return records, n_gold


def calibrate(nlp: Language, dev_docs) -> dict:
    """Fit the scorer's calibration on the dev docs and set it; returns what was fitted and the
    dev figures before and after."""
    name = scorer_name(nlp)
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


@app.command()
def main(
    model: Path = typer.Argument(..., help="Trained pipeline with an entity scorer, e.g. training/trf/model-best"),
    dev_dir: Path = typer.Argument(..., help="Dev corpus: corpus/dev_sample (.spacy shards)"),
    output: Path = typer.Argument(..., help="Where the calibrated pipeline goes, e.g. training/trf/model-calibrated"),
    metrics: Path = typer.Option(..., help="Folder for calibration.json, e.g. metrics/trf"),
):
    import spacy

    if not (model / "config.cfg").is_file():
        fail(f"No pipeline at {model}: run `spacy project run train` first.")
    if output.resolve() == model.resolve():
        fail(f"OUTPUT ({output}) must not be MODEL: the trained pipeline stays untouched; choose another folder.")
    if next(dev_dir.rglob("*.spacy"), None) is None:
        fail(f"No .spacy shards under {dev_dir}: run `spacy project run convert` first.")
    nlp = spacy.load(model)
    try:
        fitted = calibrate(nlp, read_docs(dev_dir, nlp.vocab))
    except ValueError as err:
        fail(
            f"Can't calibrate {model} on {dev_dir}: {err}. Train with configs/cnn.cfg or configs/trf.cfg, whose pipelines have one."
        )
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


if __name__ == "__main__":
    app()
