"""How far entity scores can be trusted: each predicted entity's score against whether it is right
(its exact span and label are in the gold), as a reliability table, the expected calibration
error, precision and recall at score thresholds. (The calibration fitted on dev is
multinerd.evaluation.calibration's.)

Pure functions, no I/O. An outcome is (score, correct); the gold count is the number of gold
entities, so that recall counts the entities the pipeline missed.
"""

from typing import Dict, Iterable, List, Sequence, Set, Tuple

from wasabi import MarkdownRenderer

from multinerd.pipeline.entity_scores import SCORE, EntityKey

Outcome = Tuple[float, bool]
BINS = 10
THRESHOLDS = (0.5, 0.7, 0.9)
CURVE_POINTS = 101  # thresholds 0.00, 0.01, ..., 1.00 of the precision-recall curve


def entity_outcomes(gold: Set[EntityKey], predicted: Iterable) -> List[Outcome]:
    """(score, correct) of each predicted entity (spans with `._.score`) against the gold entities
    (start, end, label) of the same tokens. An entity without a score is an error: the pipeline
    has no entity scores."""
    outcomes = []
    for ent in predicted:
        score = ent._.get(SCORE)
        if score is None:
            raise ValueError(
                f"Entity {ent.text!r} ({ent.label_}) has no score: the pipeline has no entity scores component"
            )
        outcomes.append((float(score), (ent.start, ent.end, ent.label_) in gold))
    return outcomes


def bin_index(score: float, bins: int = BINS) -> int:
    return min(int(score * bins), bins - 1)  # a score of 1.0 goes into the last bin


def reliability_table(outcomes: Sequence[Outcome], bins: int = BINS) -> List[Dict]:
    """Equal-width score bins [0, 0.1), ..., [0.9, 1.0]: {low, high, entities, mean_score,
    accuracy (the share that is correct)}; the scores and accuracy of an empty bin are None."""
    counts, sums, right = [0] * bins, [0.0] * bins, [0] * bins
    for score, correct in outcomes:
        i = bin_index(score, bins)
        counts[i] += 1
        sums[i] += score
        right[i] += correct
    return [
        {
            "low": i / bins,
            "high": (i + 1) / bins,
            "entities": counts[i],
            "mean_score": sums[i] / counts[i] if counts[i] else None,
            "accuracy": right[i] / counts[i] if counts[i] else None,
        }
        for i in range(bins)
    ]


def expected_calibration_error(table: Sequence[Dict]) -> float:
    """The entity-weighted mean gap between a bin's mean score and its accuracy (0 with no entity)."""
    total = sum(row["entities"] for row in table)
    if not total:
        return 0.0
    return sum(row["entities"] * abs(row["mean_score"] - row["accuracy"]) for row in table if row["entities"]) / total


def precision_recall_at(outcomes: Sequence[Outcome], n_gold: int, threshold: float) -> Dict:
    """Precision and recall of the entities scored at least `threshold` (precision 0 if none is)."""
    kept = [correct for score, correct in outcomes if score >= threshold]
    right = sum(kept)
    return {
        "threshold": threshold,
        "entities": len(kept),
        "precision": right / len(kept) if kept else 0.0,
        "recall": right / n_gold if n_gold else 0.0,
    }


def confidence_report(outcomes: Sequence[Outcome], n_gold: int) -> Dict:
    """{entities, gold, reliability, ece, thresholds, curve}: the reliability table, its expected
    calibration error, precision and recall at THRESHOLDS and along the curve."""
    table = reliability_table(outcomes)
    curve = [precision_recall_at(outcomes, n_gold, i / (CURVE_POINTS - 1)) for i in range(CURVE_POINTS)]
    return {
        "entities": len(outcomes),
        "gold": n_gold,
        "reliability": table,
        "ece": expected_calibration_error(table),
        "thresholds": [precision_recall_at(outcomes, n_gold, t) for t in THRESHOLDS],
        "curve": curve,
    }


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def render_markdown(report: Dict, level: int = 1) -> str:
    """The report as Markdown: ECE, precision and recall at the thresholds, the reliability table."""
    md = MarkdownRenderer()
    md.add(md.title(level, "Entity scores"))
    md.add(
        f"{report['entities']:,} predicted entities, {report['gold']:,} gold entities. An entity is correct if its "
        f"span and label are exactly a gold entity's. Expected calibration error (ECE, {BINS} equal-width bins): "
        f"**{report['ece']:.4f}**. Scores in %."
    )
    md.add(md.title(level + 1, "Precision and recall at thresholds"))
    rows = [
        (f"{t['threshold']:.1f}", f"{t['entities']:,}", _pct(t["precision"]), _pct(t["recall"]))
        for t in report["thresholds"]
    ]
    md.add(md.table(rows, ("score at least", "entities kept", "precision", "recall"), "rrrr"))
    md.add(md.title(level + 1, "Reliability"))
    rows = [
        (f"{row['low']:.1f}-{row['high']:.1f}", f"{row['entities']:,}", _pct(row["mean_score"]), _pct(row["accuracy"]))
        for row in report["reliability"]
    ]
    md.add(md.table(rows, ("score", "entities", "mean score", "correct"), "lrrr"))
    return md.text + "\n"
