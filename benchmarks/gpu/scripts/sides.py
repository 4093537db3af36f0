"""The GPU benchmark's child processes, one role each (scripts/gpu_benchmark.py starts them and
measures them with `multinerd_dev.measure.run_measured`):

    python scripts/sides.py ROLE SPEC.json

reads its settings from SPEC.json and writes its result to the file the spec names. Roles:
matmul (the device's own matrix rate, the ceiling), spacy-train (this project's training entry,
`multinerd.training.run.train_pipeline`, with its steps timed), spacy-infer (`nlp.pipe`), hf-train
(the recipe: AutoModelForTokenClassification + Trainer) and hf-infer (`transformers.pipeline`).
Each runs on the spec's `gpu_id` (-1: the CPU, in fp32) and reports the same keys on both, with
the GPU-only figures None on a CPU.

Training runs in phases of steps (Phases): a warm-up, the timed steps, steps traced on the device
(what share of the time the GPU is busy, and its copies), steps profiled on the host (cProfile,
spaCy only), then spaCy's last step (its evaluation and saving), all untimed but the timed ones.
"""

import contextlib
import cProfile
import json
import pstats
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import peers  # noqa: F401 (the peer benchmarks' scripts, imported below)
import srsly
import typer
from children import read_test_texts, set_threads, timed_annotation, torch_threads
from profiling import device_activity, host_profile, share
from recipe import IGNORED, align_labels


class Device:
    """The GPU `gpu_id` (>= 0) or the CPU: synchronisation, peak memory, traces of its activity."""

    def __init__(self, gpu_id: int):
        import torch

        self.torch = torch
        self.cuda = gpu_id >= 0
        self.trace: Optional[Tuple[object, float]] = None
        if self.cuda:
            torch.cuda.set_device(gpu_id)

    def synchronize(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def peak_mb(self) -> Optional[float]:
        return self.torch.cuda.max_memory_allocated() / 2**20 if self.cuda else None

    def autocast(self):
        """fp16 mixed precision on a GPU, as spacy-transformers' mixed_precision runs (thinc's
        PyTorchShim: torch.autocast on CUDA, whose default type is float16); nothing on a CPU."""
        if not self.cuda:
            return contextlib.nullcontext()
        return self.torch.autocast("cuda", dtype=self.torch.float16)

    def start_trace(self) -> None:
        """Trace the device's activity alone (CUDA, not the host's calls, so the host keeps its
        speed). A profiler that fails is reported in the trace's place, not the run's."""
        if not self.cuda:
            return
        from torch.profiler import ProfilerActivity, profile

        self.synchronize()
        try:
            tracer = profile(activities=[ProfilerActivity.CUDA])
            tracer.start()
            self.trace = (tracer, time.perf_counter())
        except Exception as err:  # CUPTI unavailable, say
            self.trace = (err, 0.0)

    def stop_trace(self, steps: int) -> Optional[Dict]:
        """profiling.device_activity of what ran since start_trace (`steps` steps or batches)."""
        if not self.cuda:
            return None
        tracer, start = self.trace
        self.synchronize()
        wall = time.perf_counter() - start
        try:
            if isinstance(tracer, Exception):
                raise tracer
            tracer.stop()
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "trace.json"
                tracer.export_chrome_trace(str(path))
                events = json.loads(path.read_text(encoding="utf8"))["traceEvents"]
        except Exception as err:
            return {"error": f"{type(err).__name__}: {err}"}
        return device_activity(events, wall * 1e6, steps)

    def traced(self, run: Callable[[], int]) -> Optional[Dict]:
        """Run `run` (it returns how many steps or batches it ran) with the device traced."""
        self.start_trace()
        return self.stop_trace(run())


def host_profiled(run: Callable[[], object]) -> Dict:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run()
    finally:
        profiler.disable()
    return host_profile(pstats.Stats(profiler))


class Phases:
    """A training run's steps in phases: `warmup` untimed steps, `timed` steps (words/s), `traced`
    steps (the device's activity), `profiled` steps under cProfile (0: none). `after(done, words)`
    is called after each step with the steps done so far and a function giving the words seen."""

    def __init__(self, device: Device, warmup: int, timed: int, traced: int, profiled: int = 0):
        self.device = device
        self.steps = warmup + timed + traced + profiled
        self.result: Dict = {"warmup_steps": warmup, "timed_steps": timed, "traced_steps": traced,
                             "profiled_steps": profiled, "device": None, "host": None}  # fmt: skip
        self.boundaries: List[Tuple[int, Callable]] = [(warmup, self.start_timing), (warmup + timed, self.stop_timing)]
        self.boundaries += [(warmup + timed, device.start_trace), (warmup + timed + traced, self.stop_trace)]
        if profiled:
            self.profiler = cProfile.Profile()
            end = warmup + timed + traced
            self.boundaries += [(end, self.profiler.enable), (end + profiled, self.stop_profile)]
        self.words: Callable[[], int] = lambda: 0

    def after(self, done: int, words: Callable[[], int]) -> None:
        self.words = words
        for at, action in self.boundaries:
            if at == done:
                action()

    def start_timing(self) -> None:
        self.device.synchronize()
        self.start = (time.perf_counter(), self.words())

    def stop_timing(self) -> None:
        self.device.synchronize()
        seconds, words = time.perf_counter() - self.start[0], self.words() - self.start[1]
        self.result.update({"seconds": seconds, "words": words, "words_per_s": share(words, seconds)})

    def stop_trace(self) -> None:
        self.result["device"] = self.device.stop_trace(self.result["traced_steps"])

    def stop_profile(self) -> None:
        self.profiler.disable()
        self.result["host"] = host_profile(pstats.Stats(self.profiler))


def thinc_allocator() -> Optional[str]:
    """Where cupy (thinc's GPU arrays: the NER's) takes memory: "pytorch" where thinc routes it
    through torch's allocator (trf.cfg's gpu_allocator), so that torch's peak counts it too;
    "cupy" where it keeps a pool of its own; None without a GPU for cupy."""
    from thinc.backends import context_pools
    from thinc.compat import cupy, has_cupy_gpu

    if not has_cupy_gpu:
        return None
    pool = context_pools.get().get("pytorch")
    return "pytorch" if pool is not None and getattr(cupy.cuda.get_allocator(), "__self__", None) is pool else "cupy"


def matmul(spec: Dict) -> Dict:
    """The rate of one large matrix product at the benchmark's precision: the ceiling the
    training and inference rates are compared with (fp16 on a GPU, fp32 on a CPU)."""
    set_threads(spec["threads"])
    device = Device(spec["gpu_id"])
    torch = device.torch
    n, repeats = (8192, 20) if device.cuda else (512, 5)
    dtype = torch.float16 if device.cuda else torch.float32
    where = "cuda" if device.cuda else "cpu"
    a, b = torch.randn(n, n, device=where, dtype=dtype), torch.randn(n, n, device=where, dtype=dtype)
    for _ in range(3):
        a @ b
    device.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    device.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    about = {"name": torch.cuda.get_device_name(), "cuda": torch.version.cuda} if device.cuda else {"name": "cpu"}
    return {"n": n, "dtype": str(dtype), "tflops": 2 * n**3 / seconds / 1e12, "device": about}


def spacy_train(spec: Dict) -> Dict:
    """The project's training entry on the spec's device, with multinerd.training.gpu's settings on a GPU
    (and the spec's overrides over them), its steps in Phases."""
    set_threads(spec["threads"])
    device = Device(spec["gpu_id"])
    from spacy.util import load_config

    import multinerd.training.loop as loop  # the project's resumable copy of spaCy's loop
    from multinerd.training.run import train_pipeline

    phases = Phases(device, spec["warmup_steps"], spec["steps"], spec["traced_steps"], spec["profiled_steps"])
    original = loop.train_while_improving

    def phased(*args, **kwargs):
        for done, item in enumerate(original(*args, **kwargs), start=1):
            phases.after(done, lambda: item[1]["words"])
            yield item

    loop.train_while_improving = phased
    corpus, output = Path(spec["corpus"]), Path(spec["output"])
    paths = {
        "paths.train": str(corpus / "train"),
        "paths.dev": str(corpus / "dev_sample"),
        "paths.labels": str(corpus / "labels" / "ner.json"),
    }
    device.reset_peak()
    # spaCy runs steps 0 .. max_steps: phases.steps steps, then a last one that evaluates and saves.
    train_pipeline(Path(spec["config"]), output, corpus / "report.json", overrides={**paths, **spec["overrides"]},
                   gpu_id=spec["gpu_id"], max_steps=phases.steps, transformer=spec["transformer"])  # fmt: skip
    trained = load_config(output / "model-last" / "config.cfg", interpolate=False)
    return {
        **phases.result,
        "peak_gpu_memory_mb": device.peak_mb(),
        "thinc_allocator": thinc_allocator(),
        "as_run": {
            "batch_sentences": trained["training"]["batcher"]["size"],
            "accumulate_gradient": trained["training"]["accumulate_gradient"],
            "mixed_precision": trained["components"]["transformer"]["model"]["mixed_precision"],
        },
        "torch_threads": torch_threads(),
    }


def hf_train(spec: Dict) -> Dict:
    """The recipe's model and Trainer (labels on each word's first piece, -100 elsewhere,
    DataCollatorForTokenClassification), fp16 on a GPU, with its steps in Phases."""
    set_threads(spec["threads"])
    device = Device(spec["gpu_id"])
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    set_seed(spec["seed"])
    labels = spec["labels"]
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(spec["encoder"])
    rows = list(srsly.read_jsonl(spec["train"]))
    encoded = tokenizer([row["tokens"] for row in rows], truncation=True, is_split_into_words=True)
    features = [
        {**{key: values[i] for key, values in encoded.items()},
         "labels": align_labels(encoded.word_ids(i), [label2id[tag] for tag in row["tags"]])}
        for i, row in enumerate(rows)
    ]  # fmt: skip
    model = AutoModelForTokenClassification.from_pretrained(
        spec["encoder"], num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    phases = Phases(device, spec["warmup_steps"], spec["steps"], spec["traced_steps"])

    class WordCountingTrainer(Trainer):
        """Counts the words of each step (the labelled first pieces), on the device, unsynchronised."""

        words_seen = 0

        def training_step(self, model, inputs, *args, **kwargs):
            self.words_seen = self.words_seen + (inputs["labels"] != IGNORED).sum()
            return super().training_step(model, inputs, *args, **kwargs)

    class PhaseCallback(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            phases.after(state.global_step, lambda: int(trainer.words_seen))

    args = TrainingArguments(
        output_dir=spec["output"],
        per_device_train_batch_size=spec["batch_sentences"],
        max_steps=phases.steps,
        learning_rate=spec["learning_rate"],
        weight_decay=spec["weight_decay"],
        lr_scheduler_type="linear",
        warmup_steps=max(1, round(spec["warmup_fraction"] * phases.steps)),
        fp16=device.cuda,
        use_cpu=not device.cuda,
        seed=spec["seed"],
        eval_strategy="no",
        save_strategy="no",
        logging_steps=phases.steps,
        report_to=[],
        disable_tqdm=True,
        dataloader_pin_memory=device.cuda,
    )
    trainer = WordCountingTrainer(
        model,
        args,
        train_dataset=features,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        callbacks=[PhaseCallback()],
    )
    device.reset_peak()
    trainer.train()
    peak = device.peak_mb()
    trainer.save_model(spec["output"])
    return {**phases.result, "peak_gpu_memory_mb": peak, "torch_threads": torch_threads()}


def annotation_passes(device: Device, annotate: Callable, texts: List[str], spec: Dict, count: Callable) -> Dict:
    """Both sides' inference figures: a timed pass over the texts at each of the spec's passes
    (after a warm-up batch, with its peak memory), the device traced over one more pass at the
    spec's `traced_batch`, and (`profiled_texts` > 0) cProfile over a pass of that many texts.
    `annotate(texts, batch, pass)` annotates; `count(outputs)` counts the entities found."""
    passes = []
    for setting in spec["passes"]:
        batch = setting["batch"]
        device.reset_peak()
        with device.autocast():
            outputs, timing = timed_annotation(lambda some: annotate(some, batch, setting), texts, batch)
        passes.append({**setting, **timing, "peak_gpu_memory_mb": device.peak_mb(), "entities": count(outputs)})
    traced = {"batch": spec["traced_batch"], "max_batch_items": spec.get("traced_max_batch_items")}

    def traced_pass():
        with device.autocast():
            annotate(texts, traced["batch"], traced)
        return -(-len(texts) // traced["batch"])

    result = {"passes": passes, "device": device.traced(traced_pass), "host": None, "torch_threads": torch_threads()}
    if spec.get("profiled_texts"):
        some = texts[: spec["profiled_texts"]]
        with device.autocast():
            result["host"] = host_profiled(lambda: annotate(some, traced["batch"], traced))
    return result


def spacy_infer(spec: Dict) -> Dict:
    """nlp.pipe over the test texts; a pass's `max_batch_items` sets the transformer's groups
    (multinerd.training.gpu's setter), None leaves the pipeline's own."""
    set_threads(spec["threads"])
    device = Device(spec["gpu_id"])
    import spacy

    from multinerd.training.gpu import require_gpu, use_gpu_annotation_settings

    if device.cuda:
        require_gpu(spec["gpu_id"])
    nlp = spacy.load(spec["model"])
    own_items = nlp.get_pipe("transformer").cfg["max_batch_items"]

    def annotate(texts, batch, setting):
        use_gpu_annotation_settings(nlp, batch, setting.get("max_batch_items") or own_items)
        return list(nlp.pipe(texts, batch_size=batch))

    _, texts = read_test_texts(spec)
    result = annotation_passes(device, annotate, texts, spec, lambda docs: sum(len(doc.ents) for doc in docs))
    for run in result["passes"]:
        run["max_batch_items"] = run.get("max_batch_items") or own_items
    return result


def hf_infer(spec: Dict) -> Dict:
    """transformers.pipeline over the test texts (aggregation "first", as the recipe reads
    words), on the spec's device, under the same mixed precision as spaCy's side."""
    set_threads(spec["threads"])
    device = Device(spec["gpu_id"])
    from transformers import pipeline

    ner = pipeline(
        "token-classification",
        model=spec["model"],
        tokenizer=spec["model"],
        aggregation_strategy="first",
        device=spec["gpu_id"] if device.cuda else -1,
    )
    _, texts = read_test_texts(spec)
    return annotation_passes(
        device,
        lambda some, batch, setting: ner(some, batch_size=batch),
        texts,
        spec,
        lambda outputs: sum(len(entities) for entities in outputs),
    )


class Role(str, Enum):
    matmul = "matmul"
    spacy_train = "spacy-train"
    spacy_infer = "spacy-infer"
    hf_train = "hf-train"
    hf_infer = "hf-infer"


ROLES = {Role.matmul: matmul, Role.spacy_train: spacy_train, Role.spacy_infer: spacy_infer, Role.hf_train: hf_train,
         Role.hf_infer: hf_infer}  # fmt: skip


def main(
    role: Role = typer.Argument(..., help="What to run"),
    spec_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Its settings; `result`: where to write"),
):
    spec = srsly.read_json(spec_path)
    srsly.write_json(spec["result"], ROLES[role](spec))


if __name__ == "__main__":
    typer.run(main)
