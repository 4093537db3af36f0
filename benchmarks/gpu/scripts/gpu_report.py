"""The GPU benchmark's report from the children's results: each side's figures (words/s, peak GPU
memory, the share of time the GPU is busy, TFLOP/s and the fraction of the peak they reach, the
one-epoch projection), every ratio (this project / the recipe), the sweep, the spaCy side's
profile, the issue's targets, and the Markdown tables (wasabi's MarkdownRenderer). Pure
functions, no I/O.

FLOPs from the model's size: 6 x (the encoder layers' parameters) x word pieces for a training
step (forward and backward), 2 x for inference, with the pieces the data really has (padding
is work neither side needed). Attention's products over the sequence add under 2% at these
lengths and are left out, as are the embeddings (looked up, not multiplied).
"""

from typing import Dict, List, Optional

import peers  # noqa: F401 (benchmarks/hf_recipe's report, imported below)
from report import ratio
from wasabi import MarkdownRenderer

EPOCH_SENTENCES = 2_678_400  # MultiNERD's training split: one epoch of the real run
SIDES = ("spacy", "hf")


def scaled(value: Optional[float], factor: Optional[float]) -> Optional[float]:
    return None if value is None or factor is None else value * factor


def rates(words_per_s: Optional[float], settings: Dict, flops_per_piece: float, pieces_per_word: float) -> Dict:
    """TFLOP/s from words/s, and the fractions of the datasheet peak and of the measured matrix rate."""
    tflops = scaled(words_per_s, flops_per_piece * settings["matrix_parameters"] * pieces_per_word / 1e12)
    return {
        "tflops": tflops,
        "fraction_of_peak": ratio(tflops, settings["peak_tflops"]),
        "fraction_of_matmul": ratio(tflops, settings["matmul_tflops"]),
    }


def device_share(result: Optional[Dict]) -> Optional[float]:
    return (result or {}).get("busy_share")


def training_figures(result: Optional[Dict], settings: Dict, batch: int) -> Dict:
    """One training run's figures; all None where the run failed or is missing."""
    result = result if result and "error" not in result else {}
    words_per_s = result.get("words_per_s")
    steps_per_s = ratio(result.get("timed_steps"), result.get("seconds"))
    sentences_per_s = scaled(steps_per_s, batch)
    return {
        "words_per_s": words_per_s,
        "steps_per_s": steps_per_s,
        "sentences_per_s": sentences_per_s,
        "peak_gpu_memory_mb": result.get("peak_gpu_memory_mb"),
        "peak_rss_mb": result.get("peak_rss_mb"),
        "gpu_busy_share": device_share(result.get("device")),
        **rates(words_per_s, settings, 6, settings["pieces_per_word"]["train"]),
        "epoch_hours": ratio(EPOCH_SENTENCES / 3600, sentences_per_s),
    }


def inference_figures(result: Optional[Dict], settings: Dict) -> Dict:
    """{batch (as a string): figures} of an inference child's passes at the report's batch sizes,
    and the device's busy share over its traced pass."""
    result = result if result and "error" not in result else {}
    words = settings["test_words"]
    by_batch = {}
    for run in result.get("passes", []):
        if run.get("sweep"):
            continue  # in the sweep
        words_per_s = ratio(words, run["seconds"])
        by_batch[str(run["batch"])] = {
            "words_per_s": words_per_s,
            "peak_gpu_memory_mb": run["peak_gpu_memory_mb"],
            "entities": run["entities"],
            **rates(words_per_s, settings, 2, settings["pieces_per_word"]["test"]),
        }
    empty = {"words_per_s": None, "peak_gpu_memory_mb": None, "entities": None, **rates(None, settings, 2, 1.0)}
    batches = {str(batch): by_batch.get(str(batch), empty) for batch in settings["infer_batches"]}
    return {"by_batch": batches, "gpu_busy_share": device_share(result.get("device")),
            "peak_rss_mb": result.get("peak_rss_mb")}  # fmt: skip


def side_ratios(ours: Dict, theirs: Dict, prefix: str = "") -> Dict[str, Optional[float]]:
    return {f"{prefix}{key}": ratio(ours[key], theirs[key]) for key in ours if key in theirs}


def sweep_rows(sweep: List[Dict], settings: Dict, main: Dict) -> List[Dict]:
    """Each sweep point's figures: spaCy's training at another gradient accumulation or batch size
    (and the recipe's at that batch), spaCy's inference at another transformer group size; each
    against the main run's figure and, where the recipe ran too, against the recipe."""
    rows = []
    for point in sweep:
        row = {"setting": point["setting"], "skipped": point.get("skipped")}
        batch = point["setting"].get("batch_sentences", settings["train_batch"])
        if "spacy_train" in point:
            row["spacy"] = training_figures(point["spacy_train"], settings, batch)
            row["vs_main"] = ratio(row["spacy"]["words_per_s"], main["spacy"]["train"]["words_per_s"])
        if "hf_train" in point:
            row["hf"] = training_figures(point["hf_train"], settings, batch)
            row["spacy_vs_hf"] = ratio(row["spacy"]["words_per_s"], row["hf"]["words_per_s"])
        rows.append(row)
    return rows


def inference_sweep(result: Optional[Dict], settings: Dict) -> List[Dict]:
    """spaCy's passes at each transformer group size (max_batch_items) at the traced batch."""
    result = result if result and "error" not in result else {}
    return [
        {"batch": run["batch"], "max_batch_items": run["max_batch_items"],
         "words_per_s": ratio(settings["test_words"], run["seconds"]), "peak_gpu_memory_mb": run["peak_gpu_memory_mb"]}
        for run in result.get("passes", []) if run["batch"] == settings["traced_batch"]
    ]  # fmt: skip


def targets(figures: Dict, ratios: Dict) -> Dict[str, Optional[bool]]:
    """The issue's targets on this run (None where a figure is missing)."""

    def at_least(value: Optional[float], bound: float) -> Optional[bool]:
        return None if value is None else value >= bound

    infer = [ratios.get(f"infer_{batch}_words_per_s") for batch in figures["spacy"]["infer"]["by_batch"]]
    memory = ratios.get("train_peak_gpu_memory_mb")
    hours = figures["spacy"]["train"]["epoch_hours"]
    return {
        "train_words_per_s_at_least_trainer": at_least(ratios.get("train_words_per_s"), 1.0),
        "infer_at_least_2x_pipeline": None if None in infer or not infer else all(value >= 2.0 for value in infer),
        "train_peak_gpu_memory_at_most_recipe": None if memory is None else memory <= 1.0,
        "epoch_under_one_hour": None if hours is None else hours < 1.0,
    }


def make_report(settings: Dict, runs: Dict, sweep: List[Dict]) -> Dict:
    """settings, each side's training and inference figures, `ratios` (spaCy / recipe), the
    targets, the sweep, the spaCy side's profile (host and device), the raw runs and the tables."""
    batch = settings["train_batch"]
    figures = {
        side: {"train": training_figures(runs.get(f"{side}_train"), settings, batch),
               "infer": inference_figures(runs.get(f"{side}_infer"), settings)}
        for side in SIDES
    }  # fmt: skip
    ours, theirs = figures["spacy"], figures["hf"]
    ratios = side_ratios(ours["train"], theirs["train"], "train_")
    for key in settings["infer_batches"]:
        ratios.update(side_ratios(ours["infer"]["by_batch"][str(key)], theirs["infer"]["by_batch"][str(key)],
                                  f"infer_{key}_"))  # fmt: skip
    ratios["infer_gpu_busy_share"] = ratio(ours["infer"]["gpu_busy_share"], theirs["infer"]["gpu_busy_share"])
    profile = {
        "train": {key: (runs.get("spacy_train") or {}).get(key) for key in ("host", "device")},
        "infer": {key: (runs.get("spacy_infer") or {}).get(key) for key in ("host", "device")},
        "recipe_train_device": (runs.get("hf_train") or {}).get("device"),
        "recipe_infer_device": (runs.get("hf_infer") or {}).get("device"),
    }
    report = {
        "settings": settings,
        "spacy": ours,
        "hf": theirs,
        "ratios": ratios,
        "targets": targets(figures, ratios),
        "sweep": {
            "training": sweep_rows(sweep, settings, figures),
            "inference": inference_sweep(runs.get("spacy_infer"), settings),
        },  # fmt: skip
        "profile": profile,
        "errors": {name: run["error"] for name, run in runs.items() if run and "error" in run},
        "runs": runs,
    }
    report["table"] = markdown(report)
    return report


def number(value: Optional[float], decimals: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{decimals}f}"


# (row label, key of a training or inference figure, decimals)
TRAINING_ROWS = (
    ("training words/s", "words_per_s", 0),
    ("training steps/s", "steps_per_s", 2),
    ("training peak GPU memory (MiB, max_memory_allocated)", "peak_gpu_memory_mb", 0),
    ("training share of time the GPU is busy", "gpu_busy_share", 3),
    ("training TFLOP/s (6 x params x pieces)", "tflops", 3),
    ("training fraction of the peak", "fraction_of_peak", 4),
    ("training fraction of the measured matmul rate", "fraction_of_matmul", 4),
    ("one epoch (2,678,400 sentences), hours", "epoch_hours", 2),
)
INFERENCE_ROWS = (
    ("words/s", "words_per_s", 0),
    ("peak GPU memory (MiB)", "peak_gpu_memory_mb", 0),
    ("TFLOP/s (2 x params x pieces)", "tflops", 3),
    ("fraction of the peak", "fraction_of_peak", 4),
)


def markdown(report: Dict) -> str:
    ours, theirs, ratios = report["spacy"], report["hf"], report["ratios"]
    rows = [(label, number(ours["train"][key], d), number(theirs["train"][key], d),
             number(ratios.get(f"train_{key}"), 2)) for label, key, d in TRAINING_ROWS]  # fmt: skip
    for batch in ours["infer"]["by_batch"]:
        mine, peer = ours["infer"]["by_batch"][batch], theirs["infer"]["by_batch"][batch]
        rows += [(f"inference at batch {batch}: {label}", number(mine[key], d), number(peer[key], d),
                  number(ratios.get(f"infer_{batch}_{key}"), 2)) for label, key, d in INFERENCE_ROWS]  # fmt: skip
    rows.append(("inference share of time the GPU is busy", number(ours["infer"]["gpu_busy_share"], 3),
                 number(theirs["infer"]["gpu_busy_share"], 3), number(ratios.get("infer_gpu_busy_share"), 2)))  # fmt: skip
    render = MarkdownRenderer()
    tables = [render.table(rows, ("figure", "this project (spaCy)", "peer (HF recipe)", "this / peer"), "lrrr")]
    training = report["sweep"]["training"]
    if training:
        sweep = [(", ".join(f"{k} {v}" for k, v in row["setting"].items()),
                  row["skipped"] or number((row.get("spacy") or {}).get("words_per_s")),
                  number((row.get("spacy") or {}).get("peak_gpu_memory_mb")), number(row.get("vs_main"), 2),
                  number((row.get("hf") or {}).get("words_per_s")), number(row.get("spacy_vs_hf"), 2))
                 for row in training]  # fmt: skip
        header = ("spaCy training at", "words/s", "peak GPU MiB", "/ main run", "recipe words/s", "spaCy / recipe")
        tables.append(render.table(sweep, header, "lrrrrr"))
    inference = report["sweep"]["inference"]
    if inference:
        rows = [(str(row["max_batch_items"]), number(row["words_per_s"]), number(row["peak_gpu_memory_mb"]))
                for row in inference]  # fmt: skip
        header = (f"spaCy max_batch_items (batch {report['settings']['traced_batch']})", "words/s", "peak GPU MiB")
        tables.append(render.table(rows, header, "lrr"))
    profile = report["profile"]
    host = [profile[part]["host"] for part in ("train", "infer")]
    if any(host):
        names = list(next(part for part in host if part)["buckets"])
        rows = [(name, *(f"{number(part['buckets'][name]['s'], 2)} s ({number(part['buckets'][name]['share'], 2)})"
                         if part else "n/a" for part in host)) for name in names]  # fmt: skip
        tables.append(render.table(rows, ("spaCy host time (cProfile, self)", "training steps", "inference"), "lrr"))
    return "\n\n".join(tables)
