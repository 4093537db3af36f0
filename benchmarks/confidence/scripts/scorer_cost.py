"""What the entity scores cost and how far they can be trusted, for one trained pipeline.

    python scripts/scorer_cost.py training/trf/model-calibrated corpus/test metrics/trf

The same pipeline with and without its entity scorer (`entity_scores`, multinerd.pipeline.entity_scores) on
the test sentences: whether `doc.ents` are the same, seqeval F1 of each (one tag per test word,
the product's `multinerd.evaluation.seqeval.micro_scores`), and words/s of `nlp.pipe` (wall and CPU time),
the two alternating, `repeats` timed passes each after an untimed warm-up batch. The pipelines
are given the test sentences' own words (Docs, as evaluate gives them), so the tokenizer is not
timed and the two sides see the same tokens. Then the reliability figures that the product's
evaluate wrote for the raw scores (the trained model, identity calibration) and for the
calibrated ones (METRICS/raw and METRICS/calibrated), and the calibration fitted on dev
(METRICS/calibration.json), into METRICS/benchmark.json and .md, with the issue's targets.
"""

import platform
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import srsly
import typer
from wasabi import MarkdownRenderer, msg

# benchmarks/hf_recipe's summary of repeated measurements (pytest.ini names the same folder)
sys.path.append(str(Path(__file__).resolve().parents[2] / "hf_recipe" / "scripts"))
from report import ratio, summarize  # noqa: E402

from multinerd.cli import fail  # noqa: E402
from multinerd.data.docbins import read_docs  # noqa: E402
from multinerd.evaluation.seqeval import doc_tags, micro_scores, unannotated  # noqa: E402
from multinerd.pipeline.entity_scores import entity_scores_name  # noqa: E402

# The targets: F1 and words/s with the scorer against without, ECE of the calibrated scores.
F1_TARGET, SPEED_TARGET, ECE_TARGET = 0.995, 0.8, 0.05
SIDES = ("without", "with")
app = typer.Typer(add_completion=False)


def timed_pass(nlp, gold_docs: List, batch_size: int, disable: List[str]) -> Dict:
    """One pass of `nlp.pipe` over Docs of the gold words, after an untimed warm-up batch:
    {seconds, cpu_seconds, ents (start, end, label of each doc's), tags}."""
    list(nlp.pipe([unannotated(nlp.vocab, gold) for gold in gold_docs[:batch_size]], disable=disable))
    docs = [unannotated(nlp.vocab, gold) for gold in gold_docs]
    start, start_cpu = time.perf_counter(), time.process_time()
    annotated = list(nlp.pipe(docs, batch_size=batch_size, disable=disable))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "ents": [[(e.start, e.end, e.label_) for e in doc.ents] for doc in annotated],
        "tags": [doc_tags(doc) for doc in annotated],
    }


def measure(nlp, gold_docs: List, batch_size: int, repeats: int) -> Dict:
    """Both sides, alternating (the first side of each repeat rotates): per side F1 and words/s
    (summaries of the repeats), and whether every doc's entities are the same on both."""
    scorer = entity_scores_name(nlp)
    disabled = {"without": [scorer], "with": []}
    words = sum(len(doc) for doc in gold_docs)
    runs: Dict[str, List[Dict]] = {side: [] for side in SIDES}
    for repeat in range(repeats):
        for side in SIDES[repeat % 2 :] + SIDES[: repeat % 2]:
            msg.text(f"pass {repeat + 1}/{repeats}, {side} the scorer ...")
            runs[side].append(timed_pass(nlp, gold_docs, batch_size, disabled[side]))
    gold_tags = [doc_tags(doc) for doc in gold_docs]
    figures = {
        side: {
            "f1": micro_scores(gold_tags, runs[side][0]["tags"])["f1"],
            "words_per_s": summarize([words / run["seconds"] for run in runs[side]]),
            "cpu_words_per_s": summarize([words / run["cpu_seconds"] for run in runs[side]]),
        }
        for side in SIDES
    }
    differing = sum(a != b for a, b in zip(runs["without"][0]["ents"], runs["with"][0]["ents"]))
    return {**figures, "words": words, "docs_with_other_ents": differing}


def reliability(folder: Path) -> Optional[Dict]:
    path = folder / "confidence.json"
    return srsly.read_json(path) if path.is_file() else None


def make_report(cost: Dict, raw: Optional[Dict], calibrated: Optional[Dict], calibration: Optional[Dict]) -> Dict:
    ratios = {
        "f1": ratio(cost["with"]["f1"], cost["without"]["f1"]),
        "words_per_s": ratio(cost["with"]["words_per_s"]["median"], cost["without"]["words_per_s"]["median"]),
        "cpu_words_per_s": ratio(
            cost["with"]["cpu_words_per_s"]["median"], cost["without"]["cpu_words_per_s"]["median"]
        ),
    }
    ece = {"raw": raw and raw["ece"], "calibrated": calibrated and calibrated["ece"]}
    targets = {
        f"F1 with scores >= {F1_TARGET}x without": ratios["f1"] is not None and ratios["f1"] >= F1_TARGET,
        f"words/s with scores >= {SPEED_TARGET}x without (CPU time)": (ratios["cpu_words_per_s"] or 0) >= SPEED_TARGET,
        f"ECE of the calibrated scores on test <= {ECE_TARGET}": ece["calibrated"] is not None
        and ece["calibrated"] <= ECE_TARGET,
    }
    return {
        **cost,
        "ratios": ratios,
        "ece": ece,
        "thresholds": {"raw": raw and raw["thresholds"], "calibrated": calibrated and calibrated["thresholds"]},
        "reliability": calibrated and calibrated["reliability"],
        "calibration": calibration,
        "targets": targets,
    }


def _fmt(value: Optional[float], digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _speed(summary: Dict) -> str:
    return f"{summary['median']:,.0f} ({summary['min']:,.0f}-{summary['max']:,.0f})"


def render_markdown(report: Dict) -> str:
    md = MarkdownRenderer()
    settings = report["settings"]
    md.add(md.title(1, f"Entity scores of {settings['model']}"))
    md.add(
        f"{settings['texts']:,} test sentences ({report['words']:,} words), batch {settings['batch_size']}, "
        f"{settings['threads']} torch thread(s), {settings['repeats']} timed passes a side, alternating; "
        f"words/s as median (range). Docs whose entities differ with and without the scorer: "
        f"{report['docs_with_other_ents']}."
    )
    rows = [
        (side, _fmt(report[side]["f1"]), _speed(report[side]["words_per_s"]), _speed(report[side]["cpu_words_per_s"]))
        for side in SIDES
    ]
    ratios = report["ratios"]
    rows.append(
        ("with / without", _fmt(ratios["f1"]), _fmt(ratios["words_per_s"], 2), _fmt(ratios["cpu_words_per_s"], 2))
    )
    md.add(md.table(rows, ("entity scorer", "seqeval F1", "words/s (wall)", "words/s (CPU time)"), "lrrr"))
    md.add(f"ECE on test: raw {_fmt(report['ece']['raw'])}, calibrated on dev {_fmt(report['ece']['calibrated'])}.")
    if report["thresholds"]["calibrated"]:
        rows = [
            (f"{t['threshold']:.1f}", f"{t['entities']:,}", _fmt(t["precision"], 3), _fmt(t["recall"], 3))
            for t in report["thresholds"]["calibrated"]
        ]
        md.add(md.table(rows, ("calibrated score at least", "entities", "precision", "recall"), "rrrr"))
    md.add(md.table([(name, "met" if met else "**not met**") for name, met in report["targets"].items()],
                    ("target", ""), "ll"))  # fmt: skip
    return md.text + "\n"


@app.command()
def main(
    model: Path = typer.Argument(
        ..., help="Calibrated pipeline with an entity scorer, e.g. training/trf/model-calibrated"
    ),
    test_dir: Path = typer.Argument(..., help="Test corpus (.spacy shards), e.g. corpus/test"),
    metrics: Path = typer.Argument(
        ..., help="The config's metrics folder (raw/, calibrated/, calibration.json); the report goes there"
    ),
    texts: int = typer.Option(0, help="Test sentences to run; 0: all"),
    batch_size: int = typer.Option(64, help="nlp.pipe batch size"),
    repeats: int = typer.Option(3, min=1, help="Timed passes a side"),
    threads: int = typer.Option(1, min=1, help="Torch threads"),
):
    import spacy
    import torch

    if not (model / "config.cfg").is_file():
        fail(f"No pipeline at {model}: run `spacy project run calibrate` first.")
    if next(test_dir.rglob("*.spacy"), None) is None:
        fail(f"No .spacy shards under {test_dir}: run `spacy project run prepare` first.")
    torch.set_num_threads(threads)
    nlp = spacy.load(model)
    if entity_scores_name(nlp) is None:
        fail(f"{model} has no entity scorer: train with the product's configs/cnn.cfg or configs/trf.cfg.")
    gold_docs = list(read_docs(test_dir, nlp.vocab))[: texts or None]
    cost = measure(nlp, gold_docs, batch_size, repeats)
    cost["settings"] = {
        "model": str(model), "texts": len(gold_docs), "batch_size": batch_size, "repeats": repeats,
        "threads": threads, "machine": platform.processor() or platform.machine(), "python": platform.python_version(),
        "spacy": spacy.__version__, "torch": torch.__version__,
    }  # fmt: skip
    calibration = metrics / "calibration.json"
    report = make_report(
        cost,
        reliability(metrics / "raw"),
        reliability(metrics / "calibrated"),
        srsly.read_json(calibration) if calibration.is_file() else None,
    )
    metrics.mkdir(parents=True, exist_ok=True)
    srsly.write_json(metrics / "benchmark.json", report)
    (metrics / "benchmark.md").write_text(render_markdown(report), encoding="utf8")
    print(render_markdown(report))


if __name__ == "__main__":
    app()
