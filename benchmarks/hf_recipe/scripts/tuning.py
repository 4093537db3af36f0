"""Both sides at their best: the tuning grid, the scores of a run from its predicted tags (overall
and per language), the choice of each side's best point on dev (never on test), and the report
of the best against the best (per seed, per language, per budget). Pure functions, no I/O.

A point is one side's hyper-parameters: the encoder's peak learning rate and the head's (None:
the same rate for every weight, as the recipe has it). Both sides get the same grid, the same
steps, batch, schedule and warm-up.
"""

import statistics
from typing import Dict, Iterable, List, Optional, Sequence

from report import ratio, summarize
from wasabi import MarkdownRenderer

from multinerd.evaluation.seqeval import add_tags, score_tags

SIDES = ("spacy", "hf")
SIDE_NAMES = {"spacy": "this project (spaCy)", "hf": "peer (HF recipe)"}


def grid(learn_rates: Sequence[float], head_rates: Sequence[Optional[float]]) -> List[Dict]:
    """Every (side, encoder rate, head rate) of the grid, the same for both sides, in the order
    they train: the rates as given, both sides at each (so an interrupted run has them in pairs)."""
    return [
        {"side": side, "learn_rate": float(rate), "head_learn_rate": None if head is None else float(head)}
        for rate in learn_rates
        for head in head_rates
        for side in SIDES
    ]


def point_name(point: Dict) -> str:
    head = point["head_learn_rate"]
    return f"{point['side']} lr {point['learn_rate']:g} head {'same' if head is None else format(head, 'g')}"


def parse_head_rates(values: Iterable[str]) -> List[Optional[float]]:
    """`same` (the encoder's rate for the head too) or a rate."""
    return [None if value.strip().lower() == "same" else float(value) for value in values]


def tag_scores(rows: Sequence[Dict], predicted: Sequence[Sequence[str]]) -> Dict:
    """seqeval scores (multinerd.evaluation.seqeval.score_tags, default mode) of predicted word tags
    against the rows' gold tags: {"f1", "precision", "recall", "per_language": {lang: f1}}."""
    if len(rows) != len(predicted):
        raise ValueError(f"{len(rows)} rows but {len(predicted)} predicted tag sequences")
    by_lang: Dict = {}
    for row, tags in zip(rows, predicted):
        add_tags(by_lang, row["lang"], row["tags"], tags)
    default = score_tags(by_lang)["default"]
    return {
        **{key: default["overall"][key] for key in ("precision", "recall", "f1")},
        "per_language": {lang: scores["f1"] for lang, scores in default["per_language"].items()},
    }


def choose_best(results: Sequence[Dict], side: str) -> Dict:
    """The side's point with the highest dev F1 (the first of equals, in grid order). Test
    scores are never looked at."""
    candidates = [result for result in results if result["point"]["side"] == side]
    if not candidates:
        raise ValueError(f"no grid point of {side}")
    return max(candidates, key=lambda result: result["dev"]["f1"])["point"]


def best_vs_best(runs: Sequence[Dict]) -> Dict:
    """Two points' test scores (one a side) at one budget, paired by seed: each side's F1 (median
    and range over seeds), the ratio ours / peer (of the medians, with the range of the per-seed
    ratios), whether that range straddles 1.0 (a tie), and per language each side's median F1
    and the ratio."""
    seeds = sorted({run["seed"] for run in runs})
    by = {(run["point"]["side"], run["seed"]): run for run in runs}
    paired = [seed for seed in seeds if ("spacy", seed) in by and ("hf", seed) in by]
    ours = [by["spacy", seed]["test"]["f1"] for seed in paired]
    peer = [by["hf", seed]["test"]["f1"] for seed in paired]
    ratios = summarize([ratio(o, p) for o, p in zip(ours, peer)])
    ratios["median"] = ratio(summarize(ours)["median"], summarize(peer)["median"])  # of the medians, as report.py
    langs = sorted(set().union(*(by[side, seed]["test"]["per_language"] for side in SIDES for seed in paired)))
    per_language = {}
    for lang in langs:
        side_f1 = {
            side: statistics.median(by[side, seed]["test"]["per_language"].get(lang, 0.0) for seed in paired)
            for side in SIDES
        }
        per_language[lang] = {**side_f1, "ratio_vs_best": ratio(side_f1["spacy"], side_f1["hf"])}
    return {
        "seeds": paired,
        "spacy": summarize(ours),
        "hf": summarize(peer),
        "ratio": ratios,
        "tie": ratios["min"] is not None and ratios["min"] <= 1.0 <= ratios["max"],
        "per_language": per_language,
    }


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _range(summary: Dict, scale: float = 100.0, decimals: int = 2) -> str:
    if summary["median"] is None:
        return "n/a"
    text = f"{scale * summary['median']:.{decimals}f}"
    if len(summary["runs"]) > 1:
        text += f" ({scale * summary['min']:.{decimals}f}–{scale * summary['max']:.{decimals}f})"
    return text


def grid_table(results: Sequence[Dict], chosen: Dict[str, Dict]) -> str:
    """Every grid point with its dev and test F1 (%); the chosen points marked."""
    rows = []
    for result in sorted(results, key=lambda result: SIDES.index(result["point"]["side"])):
        point = result["point"]
        head = point["head_learn_rate"]
        mark = " (chosen on dev)" if point == chosen[point["side"]] else ""
        rows.append(
            (
                SIDE_NAMES[point["side"]] + mark,
                f"{point['learn_rate']:g}",
                "same" if head is None else f"{head:g}",
                _pct(result["dev"]["f1"]),
                _pct(result["test"]["f1"]),
            )
        )
    header = ("side", "encoder rate", "head rate", "dev F1", "test F1")
    return MarkdownRenderer().table(rows, header, "lrrrr")


def best_table(comparisons: Dict[str, Dict]) -> str:
    """Best against best at each budget: F1 (%) of each side, ratio with its range over seeds,
    then the ratio per language."""
    langs = sorted(set().union(*(comparison["per_language"] for comparison in comparisons.values())))
    rows = []
    for budget, comparison in comparisons.items():
        verdict = "tie" if comparison["tie"] else ("lead" if (comparison["ratio"]["median"] or 0) > 1 else "behind")
        rows.append(
            (
                f"{budget}: overall",
                _range(comparison["spacy"]),
                _range(comparison["hf"]),
                _range(comparison["ratio"], 1.0, 3) + f" ({verdict})",
            )
        )
        for lang in langs:
            found = comparison["per_language"].get(lang)
            if found:
                ratio_text = "n/a" if found["ratio_vs_best"] is None else f"{found['ratio_vs_best']:.3f}"
                rows.append((f"{budget}: {lang}", _pct(found["spacy"]), _pct(found["hf"]), ratio_text))
    header = ("budget: test", "this project F1", "peer F1", "this / peer")
    return MarkdownRenderer().table(rows, header, "lrrr")
