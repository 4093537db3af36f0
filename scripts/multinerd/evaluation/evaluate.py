"""Scoring a trained pipeline on the test split with seqeval, word by word, as the Hugging Face
token-classification recipe scores MultiNERD: precision, recall, F1 and accuracy overall, per
entity type and per language, in seqeval's default and strict (IOB2) modes.

The pipeline tags Docs built from the gold words, so its tokenization is the gold's. Docs
stream shard by shard and only their tag sequences are kept. `evaluate_pipeline` writes
OUTPUT_DIR/seqeval.json (schema: `multinerd.evaluation.seqeval.score_tags`, plus "model", "precision" and
"corpus") and OUTPUT_DIR/seqeval.md; then, in the same process, spaCy's own evaluation
(`spacy evaluate`'s function, exact entity spans on the raw text) into OUTPUT_DIR/scores.json,
as `spacy evaluate --output` writes it (at fp32 only: it loads the pipeline itself).

A pipeline with entity scores (multinerd.pipeline.entity_scores) is also scored on how far they
can be trusted (multinerd.evaluation.reliability): OUTPUT_DIR/confidence.json and confidence.md
(reliability table, expected calibration error, precision and recall at thresholds), and the
plots reliability.png and precision_recall.png. With a training log, the training's learning
curve (multinerd.evaluation.learning_curve) goes to OUTPUT_DIR/training.png.
"""

import sys
import time
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm
from wasabi import msg

from multinerd.data.docbins import read_docs
from multinerd.evaluation.learning_curve import plot_learning_curve, read_log
from multinerd.evaluation.plots import plot_confidence
from multinerd.evaluation.reliability import Outcome, confidence_report, entity_outcomes
from multinerd.evaluation.reliability import render_markdown as render_confidence
from multinerd.evaluation.seqeval import (
    MODES,
    Sequences,
    Tags,
    add_tags,
    doc_tags,
    render_markdown,
    score_tags,
    unannotated,
)
from multinerd.loading import ENTITY_FACTORIES, LoadError, Precision, load_pipeline
from multinerd.pipeline.entity_scores import entity_scores_name


class EvaluateError(Exception):
    """Nothing can be scored; the message is the line to show."""


def language_folders(test_dir: Path) -> List[Tuple[str, Path]]:
    """(language, folder) of each subfolder holding shards; a folder of shards without
    language subfolders is one group named after the folder."""
    folders = [
        (path.name, path)
        for path in sorted(test_dir.iterdir())
        if path.is_dir() and next(path.rglob("*.spacy"), None) is not None
    ]
    if not folders and next(test_dir.glob("*.spacy"), None) is not None:
        folders = [(test_dir.name, test_dir)]
    return folders


def predict_tags(
    nlp: Language, gold_docs: Iterable[Doc], batch_size: Optional[int] = None
) -> Iterator[Tuple[Tags, Tags, Optional[List[Outcome]], int]]:
    """(gold tags, predicted tags, outcomes, gold entities) of each gold doc, streaming: the
    pipeline tags a Doc made of the gold words and spaces, so both sides have the same tokens.
    Outcomes: (score, correct) of each predicted entity if the pipeline scores them, else None."""
    scored = entity_scores_name(nlp) is not None
    inputs = ((unannotated(nlp.vocab, gold), gold) for gold in gold_docs)
    for predicted, gold in nlp.pipe(inputs, batch_size=batch_size, as_tuples=True):
        gold_ents = {(ent.start, ent.end, ent.label_) for ent in gold.ents}
        outcomes = entity_outcomes(gold_ents, predicted.ents) if scored else None
        yield doc_tags(gold), doc_tags(predicted), outcomes, len(gold_ents)


def evaluate(
    nlp: Language, test_dir: Path, batch_size: Optional[int] = None, progress: bool = True
) -> Tuple[Dict, Optional[Dict]]:
    """Scores of `nlp` on the language folders under `test_dir` (see `multinerd.evaluation.seqeval`), and
    the report on its entity scores (`multinerd.evaluation.reliability.confidence_report`; None for a
    pipeline without entity scores). Raises ValueError if there is nothing to score."""
    by_lang: Dict[str, Sequences] = {}
    outcomes: List[Outcome] = []
    n_gold = 0
    for lang, folder in language_folders(test_dir):
        scored = predict_tags(nlp, read_docs(folder, nlp.vocab), batch_size)
        if progress:  # counts sentences as they are scored, and shows each language's total when done
            scored = tqdm(scored, desc=f"evaluating {lang}", unit=" sent", mininterval=1.0, file=sys.stderr)
        for gold_tags, predicted_tags, doc_outcomes, doc_gold in scored:
            add_tags(by_lang, lang, gold_tags, predicted_tags)
            outcomes.extend(doc_outcomes or [])
            n_gold += doc_gold
    scores = score_tags(by_lang)
    return scores, confidence_report(outcomes, n_gold) if entity_scores_name(nlp) is not None else None


def evaluate_pipeline(
    model: str,
    test_dir: Path,
    output_dir: Path,
    gpu_id: int = -1,
    batch_size: int = 0,
    spacy_scores: bool = True,
    training_log: Optional[Path] = None,
    precision: Precision = Precision.fp32,
) -> None:
    """Score `model`, its transformer at `precision` (multinerd.pipeline.precision), on `test_dir`
    into `output_dir` (see the module). Raises EvaluateError."""
    from spacy.cli.evaluate import evaluate as spacy_evaluate

    if training_log is not None and not training_log.is_file():
        raise EvaluateError(
            f"No training log at {training_log}: train with `spacy project run train` (scripts/train.py writes it)."
        )
    if not test_dir.is_dir():
        raise EvaluateError(f"No test corpus at {test_dir}: run `spacy project run convert` first.")
    if not language_folders(test_dir):
        raise EvaluateError(
            f"No .spacy shards under {test_dir}: run `spacy project run convert` first "
            "(or check that the dataset has a test split for the chosen languages)."
        )
    try:
        nlp = load_pipeline(model, gpu_id, precision=precision)
    except LoadError as err:
        raise EvaluateError(str(err)) from None
    factories = {nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    if not factories & set(ENTITY_FACTORIES):
        msg.warn(
            f"{model} has no entity recognizer (pipes: {', '.join(nlp.pipe_names) or 'none'}): "
            "every word will be predicted O."
        )
    start = time.perf_counter()
    try:
        scores, confidence = evaluate(nlp, test_dir, batch_size or None)
    except ValueError as err:
        raise EvaluateError(
            f"Nothing scored in {test_dir} ({err}): run `spacy project run convert` first "
            "(or check that the dataset has a test split for the chosen languages)."
        ) from None
    seconds = time.perf_counter() - start
    scores = {"model": model, "corpus": str(test_dir), "precision": precision.value, **scores}
    output_dir.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_dir / "seqeval.json", scores)
    markdown = render_markdown(scores)
    (output_dir / "seqeval.md").write_text(markdown, encoding="utf8")
    print(markdown)
    if confidence is not None:
        srsly.write_json(output_dir / "confidence.json", confidence)
        confidence_md = render_confidence(confidence)
        (output_dir / "confidence.md").write_text(confidence_md, encoding="utf8")
        print(confidence_md)
        plots = plot_confidence(confidence, output_dir)
        msg.good(
            f"Entity scores: ECE {confidence['ece']:.4f}; wrote confidence.json, confidence.md, {', '.join(p.name for p in plots)}"
        )
    f1s = ", ".join(f"{mode} {100 * scores[mode]['overall']['f1']:.2f}" for mode in MODES)
    msg.good(
        f"F1 {f1s} on {scores['sentences']:,} sentences ({scores['tokens'] / max(seconds, 1e-9):,.0f} words/s); "
        f"wrote {output_dir / 'seqeval.json'} and {output_dir / 'seqeval.md'}"
    )
    if training_log is not None:
        curve = plot_learning_curve(read_log(training_log), output_dir / "training.png")
        msg.good(f"Learning curve of {training_log}: {curve}")
    if spacy_scores and precision != Precision.fp32:
        msg.warn(f"No scores.json at {precision.value}: spacy evaluate loads the pipeline itself, at fp32.")
    elif spacy_scores:
        del nlp  # spacy evaluate loads its own copy: one at a time in memory
        spacy_evaluate(model, test_dir, output=output_dir / "scores.json", use_gpu=gpu_id, silent=False)
