"""The benchmark's report from the children's results: medians, ranges and ratios of repeated
runs, the same rates over CPU time, the batch-size sweep, and the Markdown tables (wasabi's
MarkdownRenderer). Pure functions, no I/O."""

import statistics
from typing import Dict, List, Optional, Sequence

from wasabi import MarkdownRenderer

# (key in the summary, row label, decimals): ratios are this project's figure over the peer's.
TABLE_ROWS = (
    ("precision", "seqeval precision (test words)", 4),
    ("recall", "seqeval recall (test words)", 4),
    ("f1", "seqeval F1 (test words)", 4),
    ("train_words_per_s", "training words/s", 0),
    ("train_peak_rss_mb", "training peak RSS (MB)", 0),
    ("infer_vs_pipeline", "inference words/s: nlp.pipe vs transformers.pipeline", 0),
    ("infer_vs_forward", "inference words/s: nlp.pipe vs plain batched forward", 0),
    ("rss_vs_pipeline", "inference peak RSS (MB): nlp.pipe vs transformers.pipeline", 0),
    ("rss_vs_forward", "inference peak RSS (MB): nlp.pipe vs plain batched forward", 0),
)
# The ratios the report leads with, then the others.
HEADLINE = ("f1", "train_words_per_s", "infer_vs_pipeline", "infer_vs_forward")
OTHERS = ("precision", "recall", "train_peak_rss_mb", "rss_vs_pipeline", "rss_vs_forward")
INFERENCE = ("spacy", "pipeline", "forward")  # the three annotators of the sweep


def summarize(values: Sequence[Optional[float]]) -> Dict:
    """Median, min, max and spread ((max - min) / median) of repeated measurements; None (a
    ratio over 0) is left out, and all of them None gives None figures."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "spread": None, "runs": []}
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median if median else 0.0
    return {"median": median, "min": min(values), "max": max(values), "spread": spread, "runs": values}


def ratio(ours: Optional[float], theirs: Optional[float]) -> Optional[float]:
    """ours / theirs; None where that is undefined (theirs 0), so the JSON stays valid."""
    if ours is None or not theirs:
        return None
    return ours / theirs


def side_figures(run: Dict, words_train: float, words_test: float) -> Dict[str, Dict[str, float]]:
    """One run's figure of each TABLE_ROWS key, for this project ("ours") and the recipe ("peer")."""

    def figures(scores: Dict, train: Dict, pipeline: Dict, forward: Dict) -> Dict[str, float]:
        # `pipeline` and `forward`: what each inference row compares; nlp.pipe on our side of both
        return {
            **{k: scores[k] for k in ("precision", "recall", "f1")},
            "train_words_per_s": words_train / train["train_seconds"],
            "train_peak_rss_mb": train["peak_rss_mb"],
            "infer_vs_pipeline": words_test / pipeline["seconds"],
            "infer_vs_forward": words_test / forward["seconds"],
            "rss_vs_pipeline": pipeline["peak_rss_mb"],
            "rss_vs_forward": forward["peak_rss_mb"],
        }

    s, h = run["spacy"], run["hf"]
    return {
        "ours": figures(s["infer"]["scores"], s["train"], s["infer"], s["infer"]),
        "peer": figures(h["train"]["scores"], h["train"], h["pipeline"], h["forward"]),
    }


def cpu_time_figures(runs: List[Dict], words_train: float, words_test: float) -> Dict:
    """The same rates over CPU time instead of wall time: less sensitive to other processes on a
    shared machine (with one thread, CPU time is the time the child actually ran)."""
    rates = {
        "spacy_train_words_per_cpu_s": lambda s, h: words_train / s["train"]["train_cpu_seconds"],
        "hf_train_words_per_cpu_s": lambda s, h: words_train / h["train"]["train_cpu_seconds"],
        "spacy_infer_words_per_cpu_s": lambda s, h: words_test / s["infer"]["cpu_seconds"],
        "hf_pipeline_words_per_cpu_s": lambda s, h: words_test / h["pipeline"]["cpu_seconds"],
        "hf_forward_words_per_cpu_s": lambda s, h: words_test / h["forward"]["cpu_seconds"],
    }
    figures = {key: summarize([rate(run["spacy"], run["hf"]) for run in runs]) for key, rate in rates.items()}
    median = {key: value["median"] for key, value in figures.items()}
    ratios = {
        "train_words_per_s": ratio(median["spacy_train_words_per_cpu_s"], median["hf_train_words_per_cpu_s"]),
        "infer_vs_pipeline": ratio(median["spacy_infer_words_per_cpu_s"], median["hf_pipeline_words_per_cpu_s"]),
        "infer_vs_forward": ratio(median["spacy_infer_words_per_cpu_s"], median["hf_forward_words_per_cpu_s"]),
    }
    return {"figures": figures, "ratios": ratios}


def make_report(
    settings: Dict,
    runs: List[Dict],
    sweep_rows: Optional[List[Dict]] = None,
    as_written: Optional[Dict] = None,
    tuning: Optional[Dict] = None,
) -> Dict:
    """The JSON report: settings, each side's medians, `ratios` (this project / the recipe), the
    same over CPU time, every figure with its range, the raw runs, the sweep, the table; with
    `as_written` (tuning.best_vs_best of these runs) F1 per language, and with `tuning` the grid,
    the chosen points and the best against the best at each budget (`ratios.f1_vs_best`, and
    `f1_vs_best_<n>x` for the other budgets; `per_language` at the base budget)."""
    words_train = settings["train_words"] * settings["epochs"]
    words_test = settings["test_words"]
    per_run = {key: {"ours": [], "peer": []} for key, _, _ in TABLE_ROWS}
    for run in runs:
        sides = side_figures(run, words_train, words_test)
        for key, values in per_run.items():
            values["ours"].append(sides["ours"][key])
            values["peer"].append(sides["peer"][key])
    figures = {}
    for key, values in per_run.items():
        ours, peer = summarize(values["ours"]), summarize(values["peer"])
        figures[key] = {
            "ours": ours,
            "peer": peer,
            "ratio": summarize([ratio(o, p) for o, p in zip(values["ours"], values["peer"])]),
        }
        figures[key]["ratio"]["median"] = ratio(ours["median"], peer["median"])
    ratios = {key: figures[key]["ratio"]["median"] for key in HEADLINE + OTHERS}
    spacy_side = {
        **{
            key: figures[key]["ours"] for key in ("precision", "recall", "f1", "train_words_per_s", "train_peak_rss_mb")
        },
        "infer_words_per_s": figures["infer_vs_pipeline"]["ours"],
        "infer_peak_rss_mb": figures["rss_vs_pipeline"]["ours"],
    }
    hf_side = {
        **{
            key: figures[key]["peer"] for key in ("precision", "recall", "f1", "train_words_per_s", "train_peak_rss_mb")
        },
        "pipeline_words_per_s": figures["infer_vs_pipeline"]["peer"],
        "forward_words_per_s": figures["infer_vs_forward"]["peer"],
        "pipeline_peak_rss_mb": figures["rss_vs_pipeline"]["peer"],
        "forward_peak_rss_mb": figures["rss_vs_forward"]["peer"],
    }
    report = {
        "settings": settings,
        "spacy": spacy_side,
        "hf": hf_side,
        "ratios": ratios,
        "cpu_time": cpu_time_figures(runs, words_train, words_test),
        "figures": figures,
        "runs": runs,
        "table": markdown_table(figures),
    }
    sweep_rows = [row for row in sweep_rows or [] if row.get("precision", "fp32") == "fp32"]  # others: precision_report
    if sweep_rows:
        report["batch_sweep"] = batch_sweep(sweep_rows)
        report["table"] += "\n\n" + sweep_table(report["batch_sweep"])
    if as_written:
        report["per_language_as_written"] = report["per_language"] = as_written["per_language"]
    if tuning:
        comparisons = tuning["best_vs_best"]
        for budget, comparison in comparisons.items():
            key = "f1_vs_best" if budget == "1x" else f"f1_vs_best_{budget}"
            report["ratios"][key] = comparison["ratio"]["median"]
        report["per_language"] = comparisons["1x"]["per_language"]
        report["tuning"] = {key: value for key, value in tuning.items() if key != "table"}
        report["table"] += "\n\n" + tuning["table"]
    return report


def batch_sweep(rows: List[Dict]) -> Dict:
    """Each sweep row's ratios, each annotator's best batch size, and the best against the best."""
    for row in rows:
        row["ratio_vs_pipeline"] = ratio(row["spacy"]["words_per_s"], row["pipeline"]["words_per_s"])
        row["ratio_vs_forward"] = ratio(row["spacy"]["words_per_s"], row["forward"]["words_per_s"])
    best = {}
    for key in INFERENCE:
        row = max(rows, key=lambda row: row[key]["words_per_s"])
        best[key] = {"batch_size": row["batch_size"], "words_per_s": row[key]["words_per_s"]}
    return {
        "rows": rows,
        "best": best,
        "best_vs_best": {
            "infer_vs_pipeline": ratio(best["spacy"]["words_per_s"], best["pipeline"]["words_per_s"]),
            "infer_vs_forward": ratio(best["spacy"]["words_per_s"], best["forward"]["words_per_s"]),
        },
    }


def _number(value: Optional[float], decimals: int) -> str:
    return "n/a" if value is None else f"{value:,.{decimals}f}"


def _cell(summary: Dict, decimals: int) -> str:
    """The median, with the range of the runs in brackets where there is more than one."""
    text = _number(summary["median"], decimals)
    if summary["median"] is not None and len(summary["runs"]) > 1:
        text += f" ({_number(summary['min'], decimals)}–{_number(summary['max'], decimals)})"
    return text


def markdown_table(figures: Dict[str, Dict[str, Dict]]) -> str:
    """`figures[key]` = {"ours": summary, "peer": summary, "ratio": summary} for each TABLE_ROWS key."""
    rows = [
        (
            label,
            _cell(figures[key]["ours"], decimals),
            _cell(figures[key]["peer"], decimals),
            _cell(figures[key]["ratio"], 2),
        )
        for key, label, decimals in TABLE_ROWS
    ]
    header = ("figure", "this project (spaCy)", "peer (HF recipe)", "this / peer")
    return MarkdownRenderer().table(rows, header, "lrrr")


def sweep_table(sweep: Dict) -> str:
    header = (
        "inference batch size",
        "nlp.pipe words/s",
        "transformers.pipeline words/s",
        "plain forward words/s",
        "this / pipeline",
        "this / forward",
    )
    rows = [
        (
            str(row["batch_size"]),
            *(_number(row[key]["words_per_s"], 0) for key in INFERENCE),
            _number(row["ratio_vs_pipeline"], 2),
            _number(row["ratio_vs_forward"], 2),
        )
        for row in sweep["rows"]
    ]
    best, ratios = sweep["best"], sweep["best_vs_best"]
    rows.append(
        (
            "each at its best",
            *(f"{_number(best[key]['words_per_s'], 0)} (batch {best[key]['batch_size']})" for key in INFERENCE),
            _number(ratios["infer_vs_pipeline"], 2),
            _number(ratios["infer_vs_forward"], 2),
        )
    )
    return MarkdownRenderer().table(rows, header, "rrrrrr")


# --- precisions (--precisions fp32,int8) -----------------------------------------------------------


def precision_results(run: Dict, precision: str) -> Dict[str, Dict]:
    """One run's inference children at `precision`, by annotator (INFERENCE): fp32's are the
    run's own, another precision's are under its name."""
    if precision == "fp32":
        return {"spacy": run["spacy"]["infer"], "pipeline": run["hf"]["pipeline"], "forward": run["hf"]["forward"]}
    return run[precision]


def best_batches(rows: List[Dict], precision: str) -> Dict[str, Dict]:
    """Each annotator's best batch size at `precision` in the sweep, by the median words/s of the
    passes at that size (a size listed twice in --sweep is two passes): {annotator: {batch_size,
    words_per_s (a summary), words_per_cpu_s, peak_rss_mb}}."""
    sizes = sorted({row["batch_size"] for row in rows if row.get("precision", "fp32") == precision})
    best = {}
    for key in INFERENCE:
        by_size = {}
        for size in sizes:
            passes = [
                row[key] for row in rows if row["batch_size"] == size and row.get("precision", "fp32") == precision
            ]
            by_size[size] = {
                "batch_size": size,
                **{figure: summarize([p[figure] for p in passes]) for figure in ("words_per_s", "words_per_cpu_s", "peak_rss_mb")},
            }  # fmt: skip
        if by_size:
            best[key] = max(by_size.values(), key=lambda item: item["words_per_s"]["median"])
    return best


def precision_report(settings: Dict, runs: List[Dict], sweep_rows: Optional[List[Dict]], calibration: Dict) -> Dict:
    """Each precision's figures (medians over the repeats, at the base batch size: seqeval F1
    overall and per language, words/s over wall and CPU time, peak RSS; each annotator's best
    batch in the sweep), the ECE of the calibrated entity scores, and the ratios against fp32 and
    the peer's: int8 / fp32 of this pipeline, ours int8 at its best batch against
    transformers.pipeline fp32 and int8 at theirs."""
    words = settings["test_words"]
    figures = {}
    for precision in settings["precisions"]:
        results = [precision_results(run, precision) for run in runs]
        figures[precision] = {}
        for key in INFERENCE:
            mine = [result[key] for result in results]
            scored = [r["test_scores"] for r in mine if "test_scores" in r]
            languages = sorted({lang for scores in scored for lang in scores["per_language"]})
            figures[precision][key] = {
                "words_per_s": summarize([words / r["seconds"] for r in mine]),
                "words_per_cpu_s": summarize([words / r["cpu_seconds"] for r in mine]),
                "peak_rss_mb": summarize([r["peak_rss_mb"] for r in mine]),
                "f1": summarize([scores["f1"] for scores in scored]) if scored else None,
                "per_language": {lang: summarize([s["per_language"][lang] for s in scored]) for lang in languages},
            }
            if sweep_rows:
                figures[precision][key]["best_batch"] = best_batches(sweep_rows, precision).get(key)
    ours, base = figures.get("int8", {}).get("spacy"), figures["fp32"]["spacy"]
    ratios: Dict[str, Optional[float]] = {}
    if ours:

        def median(figure: Optional[Dict]) -> Optional[float]:
            return None if figure is None else figure["median"]

        def best(precision: str, key: str) -> Optional[float]:
            found = figures[precision][key].get("best_batch")
            return None if not found else found["words_per_s"]["median"]

        ratios = {
            "spacy_int8_vs_fp32_words_per_s": ratio(median(ours["words_per_s"]), median(base["words_per_s"])),
            "spacy_int8_vs_fp32_words_per_cpu_s": ratio(median(ours["words_per_cpu_s"]), median(base["words_per_cpu_s"])),
            "spacy_int8_vs_fp32_best": ratio(best("int8", "spacy"), best("fp32", "spacy")),
            "spacy_int8_vs_fp32_peak_rss": ratio(median(ours["peak_rss_mb"]), median(base["peak_rss_mb"])),
            "pipeline_int8_vs_fp32_best": ratio(best("int8", "pipeline"), best("fp32", "pipeline")),
            "spacy_int8_best_vs_pipeline_fp32_best": ratio(best("int8", "spacy"), best("fp32", "pipeline")),
            "spacy_int8_best_vs_pipeline_int8_best": ratio(best("int8", "spacy"), best("int8", "pipeline")),
            "spacy_int8_best_vs_forward_int8_best": ratio(best("int8", "spacy"), best("int8", "forward")),
        }  # fmt: skip
        ratios["f1_points_int8_minus_fp32"] = 100 * (median(ours["f1"]) - median(base["f1"]))
        ratios["f1_points_int8_minus_fp32_per_language"] = {
            lang: 100 * (median(ours["per_language"][lang]) - median(base["per_language"][lang]))
            for lang in base["per_language"]
        }
    report = {"figures": figures, "ratios": ratios, "calibration": calibration}
    report["table"] = precision_table(settings["precisions"], figures, ratios, calibration)
    return report


def precision_table(precisions: Sequence[str], figures: Dict, ratios: Dict, calibration: Optional[Dict]) -> str:
    """This pipeline and the peer at each precision, and the ratios (Markdown)."""

    def cell(summary: Optional[Dict], decimals: int, scale: float = 1.0) -> str:
        if summary is None or summary["median"] is None:
            return "n/a"
        return _cell({**summary, **{k: summary[k] * scale for k in ("median", "min", "max")}}, decimals)

    rows = []
    names = {"spacy": "nlp.pipe", "pipeline": "transformers.pipeline", "forward": "plain forward"}
    for key in INFERENCE:
        if figures[precisions[0]][key]["f1"] is not None:
            rows.append((f"{names[key]}: seqeval F1 (%)", *(cell(figures[p][key]["f1"], 2, 100) for p in precisions)))
            for lang in figures[precisions[0]][key]["per_language"]:
                rows.append((f"{names[key]}: F1 {lang} (%)", *(cell(figures[p][key]["per_language"].get(lang), 2, 100) for p in precisions)))  # fmt: skip
        rows.append((f"{names[key]}: words/s", *(cell(figures[p][key]["words_per_s"], 0) for p in precisions)))
        rows.append((f"{names[key]}: words/s over CPU time", *(cell(figures[p][key]["words_per_cpu_s"], 0) for p in precisions)))  # fmt: skip
        rows.append((f"{names[key]}: peak RSS (MB)", *(cell(figures[p][key]["peak_rss_mb"], 0) for p in precisions)))
        if figures[precisions[0]][key].get("best_batch"):
            rows.append((f"{names[key]}: words/s at its best batch",
                         *(f"{cell(figures[p][key]['best_batch']['words_per_s'], 0)} (batch {figures[p][key]['best_batch']['batch_size']})"
                           for p in precisions)))  # fmt: skip
    if calibration:
        rows.append(("nlp.pipe: ECE, fp32 calibration", *(_number(calibration[p]["ece"], 4) for p in precisions)))
    table = MarkdownRenderer().table(rows, ("figure", *precisions), "l" + "r" * len(precisions))
    shown = [
        (name.replace("_", " "), _number(value, 2)) for name, value in ratios.items() if not isinstance(value, dict)
    ]
    return table + "\n\n" + MarkdownRenderer().table(shown, ("ratio or difference", "value"), "lr")
