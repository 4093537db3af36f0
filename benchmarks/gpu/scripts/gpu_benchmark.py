"""Benchmark this project's trf pipeline against the Hugging Face recipe on one GPU (or, with a
tiny encoder, on a CPU): the same encoder of mBERT's shape, the same generated MultiNERD-shaped
sentences, the same device, precision (fp16 mixed precision on a GPU, fp32 on a CPU) and batch.

Builds everything it needs offline (benchmarks/gpu/scripts/gpu_data.py): sentences, a WordPiece
trained on them and a randomly initialised encoder saved as one model folder; then, each in a
process of its own (scripts/sides.py), measured by the product's meter
(`multinerd_dev.measure.run_measured`): the device's matrix rate, the recipe's Trainer and
`transformers.pipeline`, this project's training entry (`multinerd.training.run.train_pipeline`,
with multinerd.training.gpu's settings on a GPU) and `nlp.pipe`; then, while the time budget allows, the
sweep (spaCy at other gradient accumulations, both sides at other batch sizes). Writes the JSON
report and its Markdown tables after every child, so a run cut short keeps what it measured.

    python scripts/gpu_benchmark.py --gpu-id 0                      # the device run (mBERT's shape)
    python scripts/gpu_benchmark.py --gpu-id -1 --shape tiny --steps 4 --test-sentences 40   # a CPU try
"""

import math
import shutil
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Dict, List, Optional

import peers  # noqa: F401 (the peer benchmarks' scripts, imported below)
import srsly
import typer
from benchmark import machine_info, prepare, versions
from gpu_data import SHAPES, Shape, generate, matrix_parameters
from gpu_report import make_report
from recipe import child_env, label_list, n_words, read_sentences, split_sentences
from spacy.cli._util import string_to_list

from multinerd.cli import fail
from multinerd.training.gpu import GPU_MAX_BATCH_ITEMS
from multinerd_dev.measure import run_measured
from multinerd_dev.tiny_bert import make_random_bert

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parents[2]  # the xx_multinerd project: benchmarks/gpu/scripts -> ../../..
# H200 SXM, dense fp16/bf16 tensor-core rate (vendor datasheet). The 790 is the bf16
# matrix product measured on this workplace's H200: the report measures its own (matmul_tflops).
H200_PEAK_TFLOPS = 989.4
app = typer.Typer(add_completion=False)


def log(text: str) -> None:
    print(text, flush=True)


def integers(option: str, text: str) -> List[int]:
    try:
        return string_to_list(text, intify=True) if text.strip() else []
    except ValueError:
        fail(f"--{option} takes whole numbers separated by commas, such as 64,256 (got {text!r})")


@app.command()
def main(
    gpu_id: int = typer.Option(0, help="GPU id, or -1 for the CPU (then fp32; use --shape tiny)"),
    shape: Shape = typer.Option(Shape.mbert, help="Encoder shape: mbert (BertConfig of mBERT) or tiny"),
    warmup_steps: int = typer.Option(10, min=1, help="Untimed training steps first, both sides"),
    steps: int = typer.Option(100, min=1, help="Timed training steps, both sides"),
    profile_steps: int = typer.Option(5, min=1, help="Steps traced on the device (both) and under cProfile (spaCy)"),
    train_batch: int = typer.Option(16, min=1, help="Training sentences a step, both sides (trf.cfg: 16)"),
    infer_batches: str = typer.Option("64,256", help="Inference batch sizes (texts), both sides"),
    test_sentences: int = typer.Option(4096, min=1, help="Sentences annotated in each inference pass"),
    profile_texts: int = typer.Option(1024, min=0, help="Texts of spaCy's inference pass under cProfile"),
    pool_sentences: int = typer.Option(
        20_000, min=1, help="At least this many sentences generated (the WordPiece's text)"
    ),
    vocab_words: int = typer.Option(50_000, min=1, help="The generator's words per language (O tokens)"),
    threads: int = typer.Option(1, min=1, help="Torch/BLAS/tokenizer threads of every child, both sides"),
    sweep_accumulate: str = typer.Option("2", help="Sweep: spaCy training at these accumulate_gradient values"),
    sweep_train_batches: str = typer.Option("64", help="Sweep: both sides' training at these batch sizes (speed only)"),
    sweep_max_batch_items: str = typer.Option("1024,16384", help="Sweep: spaCy inference at these max_batch_items"),
    time_budget: float = typer.Option(270, help="Seconds: a sweep run starts only if it should end within them"),
    peak_tflops: float = typer.Option(H200_PEAK_TFLOPS, help="The GPU's peak TFLOP/s at the benchmark's precision"),
    seed: int = typer.Option(0),
    config: Path = typer.Option(REPO / "configs" / "trf.cfg", exists=True, help="The spaCy side's config"),
    output: Path = typer.Option(Path("metrics/gpu.json"), help="JSON report; the Markdown tables go next to it (.md)"),
    work_dir: Optional[Path] = typer.Option(None, help="Keep the data, models and logs here (default: removed)"),
):
    started = time.perf_counter()
    batches = integers("infer-batches", infer_batches) or [64]
    accumulations = integers("sweep-accumulate", sweep_accumulate)
    sweep_batches = integers("sweep-train-batches", sweep_train_batches)
    sweep_items = integers("sweep-max-batch-items", sweep_max_batch_items)
    if gpu_id >= 0:
        check_gpu(gpu_id)
    from spacy.util import load_config

    cfg = load_config(config)
    own_work = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="multinerd-gpu-")) if own_work else work_dir
    work.mkdir(parents=True, exist_ok=True)
    try:
        settings = build_inputs(work, shape, seed, train_batch, max([train_batch, *sweep_batches]),
                                warmup_steps + steps + 2 * profile_steps + 1, test_sentences, pool_sentences,
                                vocab_words, config)  # fmt: skip
        settings.update({
            "gpu_id": gpu_id, "precision": "fp16 mixed precision (autocast, loss scaling)" if gpu_id >= 0 else "fp32",
            "warmup_steps": warmup_steps, "timed_steps": steps, "profile_steps": profile_steps,
            "train_batch": train_batch, "infer_batches": batches, "traced_batch": max(batches),
            "gpu_max_batch_items": GPU_MAX_BATCH_ITEMS if gpu_id >= 0 else None, "threads": threads,
            "peak_tflops": peak_tflops if gpu_id >= 0 else None, "learning_rate": float(
                cfg["training"]["optimizer"]["learn_rate"]["initial_rate"]),
            "time_budget_s": time_budget, "machine": machine_info(), "versions": {**versions(), **gpu_versions()},
        })  # fmt: skip
        env = child_env(threads)
        runs: Dict[str, Dict] = {}
        sweep: List[Dict] = []

        def report() -> None:
            write_report(output, make_report(settings, runs, sweep))

        common = {"gpu_id": gpu_id, "threads": threads}
        runs["matmul"] = side(work, "matmul", common, env, "the device's matrix rate")
        settings["matmul_tflops"] = runs["matmul"].get("tflops")
        phases = {"warmup_steps": warmup_steps, "steps": steps, "traced_steps": profile_steps}
        hf_spec = {**common, **phases, "encoder": settings["encoder_path"], "train": str(work / "train.jsonl"),
                   "labels": settings["labels"], "seed": seed, "learning_rate": settings["learning_rate"],
                   "weight_decay": float(cfg["training"]["optimizer"]["L2"]),
                   "warmup_fraction": float(cfg["multinerd"].get("warmup_fraction", 0.0))}  # fmt: skip
        spacy_spec = {**common, **phases, "profiled_steps": profile_steps, "config": str(work / f"trf-{seed}.cfg"),
                      "corpus": str(work / "corpus"), "transformer": settings["encoder_path"]}  # fmt: skip

        def train(name: str, side_name: str, batch: int, overrides: Optional[Dict] = None) -> Dict:
            if side_name == "hf":
                spec = {**hf_spec, "batch_sentences": batch, "output": str(work / name)}
            else:
                spec = {**spacy_spec, "output": str(work / name),
                        "overrides": {"training.batcher.size": batch, **(overrides or {})}}  # fmt: skip
            return side(work, f"{side_name}-train", spec, env, f"{side_name} training: {name}")

        main_items = settings["gpu_max_batch_items"]
        infer = {**common, "test": str(work / "test.jsonl"), "traced_batch": max(batches)}
        runs["hf_train"] = train("hf-model", "hf", train_batch)
        report()
        runs["hf_infer"] = side(work, "hf-infer", {**infer, "model": str(work / "hf-model"),
                                                   "passes": [{"batch": b} for b in batches]}, env, "transformers.pipeline")  # fmt: skip
        report()
        runs["spacy_train"] = train("spacy-model", "spacy", train_batch)
        report()
        passes = [{"batch": b, "max_batch_items": main_items} for b in batches]
        passes += [{"batch": max(batches), "max_batch_items": items, "sweep": True}
                   for items in sweep_items if items != main_items]  # fmt: skip
        runs["spacy_infer"] = side(work, "spacy-infer", {**infer, "model": str(work / "spacy-model" / "model-last"),
                                                         "passes": passes, "traced_max_batch_items": main_items,
                                                         "profiled_texts": profile_texts}, env, "spaCy nlp.pipe")  # fmt: skip
        report()
        plan = [({"accumulate_gradient": a}, [("spacy", train_batch, {"training.accumulate_gradient": a})])
                for a in accumulations]  # fmt: skip
        plan += [({"batch_sentences": b}, [("hf", b, None), ("spacy", b, None)]) for b in sweep_batches]
        for setting, jobs in plan:
            point = {"setting": setting}
            mains = [runs[f"{name}_train"] for name, _, _ in jobs]
            expected = sum(main["process_wall_s"] for main in mains)
            if any("error" in main for main in mains):
                point["skipped"] = "the main run failed"
            elif time.perf_counter() - started + 1.2 * expected > time_budget:
                point["skipped"] = f"time budget ({time_budget:g} s)"
                log(f"-- sweep {setting}: skipped, it would end past the {time_budget:g} s budget")
            else:
                for name, batch, overrides in jobs:
                    label = "-".join(f"{k}{v}" for k, v in setting.items())
                    point[f"{name}_train"] = train(f"{name}-{label}", name, batch, overrides)
            sweep.append(point)
            report()
        settings["seconds"] = time.perf_counter() - started
        final = make_report(settings, runs, sweep)
        write_report(output, final)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    log("")
    log(final["table"])
    log("")
    log("Ratios (this project / the recipe): " + ", ".join(f"{k} {shown(v)}" for k, v in final["ratios"].items()))
    log("Targets: " + ", ".join(f"{k} {v}" for k, v in final["targets"].items()))
    for name, error in final["errors"].items():
        log(f"FAILED {name}: {error.strip().splitlines()[-1] if error.strip() else '(no output)'}")
    log(f"Wrote {output} and {output.with_suffix('.md')} in {settings['seconds']:.0f} s")
    if final["errors"]:
        raise typer.Exit(1)


def shown(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def check_gpu(gpu_id: int) -> None:
    import torch

    if not torch.cuda.is_available() or gpu_id >= torch.cuda.device_count():
        fail(
            f"No GPU {gpu_id} here (torch sees {torch.cuda.device_count()}): pass --gpu-id -1 and --shape tiny for the CPU."
        )


def build_inputs(work: Path, shape: Shape, seed: int, train_batch: int, largest_batch: int, steps: int,
                 n_test: int, pool: int, vocab_words: int, config: Path) -> Dict:  # fmt: skip
    """The sentences (enough for the largest batch's run), the encoder and both sides' data files
    in `work` (hf_recipe's `prepare`: the spaCy corpus through the product's converter, JSONL for
    the recipe, the config with the seed); the settings that describe them."""
    from transformers import AutoTokenizer

    n_train = largest_batch * steps
    start = time.perf_counter()
    # 1% more than needed: a generated row the converter's checks refuse is skipped.
    wanted = max(pool, math.ceil(1.01 * (n_train + n_test)))
    sentences, skipped = read_sentences(generate(work / "generated", wanted, vocab_words, seed))
    try:
        train, test, rest = split_sentences(sentences, n_train, n_test, seed)
    except ValueError as err:
        fail(f"Generated sentences: {err}; ask for fewer steps, a smaller batch or fewer test sentences.")
    log(f"Generated {len(sentences):,} sentences ({n_words(sentences):,} words) in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    encoder = make_random_bert(
        (s.words for s in sentences), work / "encoder", **SHAPES[shape], seed=seed, pad_vocab=True
    )
    log(f"Built the {shape.value} encoder in {time.perf_counter() - start:.0f} s")
    labels = label_list(train + test)
    # spaCy evaluates a few of the other sentences at its first and last step (untimed).
    prepare(work, train, [], test, rest, labels, config, [seed])
    tokenizer = AutoTokenizer.from_pretrained(encoder)

    def pieces_per_word(part) -> float:
        encoded = tokenizer([s.words for s in part], is_split_into_words=True)["input_ids"]
        return sum(len(ids) for ids in encoded) / n_words(part)

    return {
        "shape": shape.value,
        "encoder": SHAPES[shape],
        "encoder_path": str(encoder),
        "matrix_parameters": matrix_parameters(encoder),
        "sentences_generated": len(sentences),
        "rows_skipped": skipped,
        "train_sentences": len(train),
        "test_sentences": len(test),
        "test_words": n_words(test),
        "mean_words_per_sentence": n_words(sentences) / len(sentences),
        # with [CLS] and [SEP]: what each side's encoder runs on
        "pieces_per_word": {"train": pieces_per_word(train), "test": pieces_per_word(test)},
        "labels": labels,
        "config": str(config),
        "seed": seed,
    }


def side(work: Path, role: str, spec: Dict, env: Dict[str, str], what: str) -> Dict:
    """Run one role of scripts/sides.py in a process of its own: its result, with the process's
    wall time and peak RSS; if it fails, {"error": the end of its log} (the run goes on and the
    report says what is missing)."""
    name = f"{role}-{len(list(work.glob(role + '-*.spec.json')))}"
    spec_path, result_path, log_path = (work / f"{name}.{kind}" for kind in ("spec.json", "result.json", "log"))
    srsly.write_json(spec_path, {**spec, "result": str(result_path)})
    log(f"-- {what}")
    measured = run_measured([sys.executable, str(SCRIPTS / "sides.py"), role, str(spec_path)], env=env, log=log_path)
    if measured.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(encoding="utf8", errors="replace")[-3000:]
        log(f"   {what} failed (exit {measured.returncode}):\n{tail}")
        return {"error": tail, "returncode": measured.returncode, "process_wall_s": measured.wall_s}
    result = {**srsly.read_json(result_path), "peak_rss_mb": measured.peak_rss_mb, "process_wall_s": measured.wall_s}
    shown_keys = ("words_per_s", "peak_gpu_memory_mb", "tflops", "thinc_allocator", "process_wall_s")
    log("   " + ", ".join(f"{key} {result[key]:.4g}" if isinstance(result[key], float) else f"{key} {result[key]}"
                          for key in shown_keys if key in result))  # fmt: skip
    return result


def gpu_versions() -> Dict[str, str]:
    found = {}
    for name in ("cupy-cuda13x", "cupy-cuda12x", "xx-multinerd-project"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def write_report(output: Path, report: Dict) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    output.with_suffix(".md").write_text(report["table"] + "\n", encoding="utf8")


if __name__ == "__main__":
    app()
