"""Rehearse the real training run's interruption at full shape, on the CPU: a corpus shaped like
MultiNERD (benchmarks/conversion's generator, converted by the product's converter), an encoder of
mBERT's exact shape with random weights (gpu_data.SHAPES), and the product's scripts/train.py on
the trf config for a bounded number of steps with a small --checkpoint-every. The run is killed
with SIGKILL once a checkpoint after step 0 is written, rerun (it resumes), and run to its end.

Reports the training process's RSS at the start and the end of each run (the corpus streams, so
it must not grow), each checkpoint's size and write time (OUTPUT/checkpoint/cost.json), the
resume's time to its first new step, how fast a resume skips the batches already trained on,
and what checkpoints cost over the real run's 167,400 steps on a GPU.

    python scripts/rehearse_resume.py /tmp/rehearsal --output metrics/rehearsal.json
    python scripts/rehearse_resume.py /tmp/rehearsal-tiny --sentences 2000 --shape tiny   # a quick try
"""

import json
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Dict, List, Optional

import peers  # noqa: F401 (benchmarks/conversion's generator, run below)
import psutil
import srsly
import typer
from gpu_data import SHAPES, Shape

from multinerd_dev.tiny_bert import make_random_bert

ROOT = Path(__file__).resolve().parents[3]
GENERATOR = ROOT / "benchmarks" / "conversion" / "scripts" / "generate_corpus.py"
# The real run: one MultiNERD epoch, the project's checkpoint_every, trf.cfg's eval_frequency, and
# the GPU speeds benchmarks/gpu expects (steps/s, not measured yet).
REAL_STEPS, REAL_CHECKPOINT_EVERY, REAL_EVAL_FREQUENCY = 167_400, 10_000, 10_000
GPU_STEPS_PER_S = (10.0, 20.0)
ENCODER_SENTENCES = 200_000  # the WordPiece vocabulary is trained on this many sentences' words

app = typer.Typer(add_completion=False)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_step(args: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *map(str, args)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def logged(output: Path) -> List[int]:
    log_file = output / "log.jsonl"
    lines = log_file.read_text().splitlines()[:-1] if log_file.exists() else []  # the last may be half-written
    return [json.loads(line)["step"] for line in lines]


def watch(args: List[str], output: Path, kill_after_checkpoint: Optional[int], resumed_from: int = -1) -> Dict:
    """Run training, sampling its RSS (MiB) at each new step; SIGKILL it once a checkpoint at step
    >= `kill_after_checkpoint` is written. Returns the RSS by step, the checkpoints' costs, the
    seconds to the first step after `resumed_from`, the exit status."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    meter = psutil.Process(process.pid)
    rss: Dict[int, float] = {}
    costs: Dict[int, Dict] = {}
    first_step_s = None
    while process.poll() is None:
        steps = logged(output)
        if steps and steps[-1] > resumed_from and steps[-1] not in rss:
            try:
                rss[steps[-1]] = meter.memory_info().rss / 2**20
            except psutil.Error:
                break
            if first_step_s is None:
                first_step_s = time.perf_counter() - start
        cost = output / "checkpoint" / "cost.json"
        try:
            read = srsly.read_json(cost)
            costs[read["step"]] = read
        except (OSError, ValueError, KeyError):
            pass
        if kill_after_checkpoint is not None and any(step >= kill_after_checkpoint for step in costs):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.2)
    _, stderr = process.communicate()
    if kill_after_checkpoint is None and process.returncode != 0:
        raise RuntimeError(stderr.decode()[-2000:])
    return {"returncode": process.returncode, "rss_mb_by_step": rss, "checkpoints": costs,
            "first_new_step_s": first_step_s, "wall_s": time.perf_counter() - start}  # fmt: skip


def enter_stream_s(corpus: Path, step: int) -> float:
    """Seconds a resume takes to reach the training stream's batch `step` (the product's
    multinerd.training.loop.training_batches, as trf.cfg reads and batches the corpus)."""
    import spacy
    from spacy.training import Corpus
    from spacy.util import registry

    from multinerd.training.loop import training_batches

    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": {"@tokenizers": "xx_multinerd.CJKCharTokenizer.v1"}}})
    batcher_config = {"@batchers": "spacy.batch_by_sequence.v1", "size": 16, "get_length": None}
    batcher = registry.resolve({"batcher": batcher_config})["batcher"]
    start = time.perf_counter()
    next(iter(training_batches(nlp, Corpus(corpus), batcher, batcher_config, -1, step)))
    return time.perf_counter() - start


def report_steps(corpus: Path) -> int:
    """Batches of 16 in one epoch of the converted corpus."""
    return -(-srsly.read_json(corpus / "report.json")["splits"]["train"]["sentences"] // 16)


def encoder_words(generated: Path):
    rows = (json.loads(line) for path in sorted((generated / "train").glob("*.jsonl")) for line in path.open())
    return (row["tokens"] for row in islice(rows, ENCODER_SENTENCES))


@app.command()
def main(
    work: Path = typer.Argument(..., help="Folder for the corpus, the encoder and the training (reused if there)"),
    sentences: int = typer.Option(2_680_000, help="Training sentences to generate (+10% each for dev and test)"),
    shape: Shape = typer.Option(Shape.mbert, help="The encoder's shape"),
    steps: int = typer.Option(12, help="Training steps (evaluations at the first and the last)"),
    checkpoint_every: int = typer.Option(4, help="Steps between checkpoints"),
    dev_sample: int = typer.Option(64, help="Dev sentences evaluated (mBERT on a CPU evaluates slowly)"),
    output: Path = typer.Option(Path("metrics/rehearsal.json"), help="The report (and a .md beside it)"),
):
    generated, corpus, encoder, trained = (work / name for name in ("generated", "corpus", "encoder", "training"))
    timings: Dict[str, float] = {}
    if not (corpus / "report.json").exists():
        timings["generate_s"] = run_step([GENERATOR, generated, "--train", sentences])
        timings["convert_s"] = run_step(
            [ROOT / "scripts" / "convert.py", generated, corpus, "--dev-sample", dev_sample]
        )
        log(f"Corpus: {timings}")
    if not (encoder / "config.json").exists():
        start = time.perf_counter()
        make_random_bert(encoder_words(generated), encoder, **SHAPES[shape], pad_vocab=True)
        timings["encoder_s"] = time.perf_counter() - start
    args = [
        ROOT / "scripts" / "train.py", ROOT / "configs" / "trf.cfg", trained, "--report", corpus / "report.json",
        "--max-steps", steps, "--checkpoint-every", checkpoint_every, "--transformer", encoder,
        "--training.eval_frequency", steps, "--paths.train", corpus / "train", "--paths.dev", corpus / "dev_sample",
        "--paths.labels", corpus / "labels" / "ner.json", "--restart",
    ]  # fmt: skip
    killed = watch(args, trained, kill_after_checkpoint=1)
    log(f"Killed: {killed['returncode']}, checkpoints {sorted(killed['checkpoints'])}")
    resumed_from = srsly.read_json(trained / "checkpoint" / "cost.json")["step"]
    resumed = watch(args[:-1], trained, kill_after_checkpoint=None, resumed_from=resumed_from)
    last_checkpoint = REAL_STEPS - REAL_STEPS % REAL_CHECKPOINT_EVERY
    enter_s = enter_stream_s(corpus / "train", min(last_checkpoint, report_steps(corpus) - 1))
    report = {
        "shape": shape.value,
        "encoder": SHAPES[shape],
        "train_sentences": srsly.read_json(corpus / "report.json")["splits"]["train"]["sentences"],
        "steps": steps,
        "checkpoint_every": checkpoint_every,
        "timings": timings,
        "killed": killed,
        "resumed_from_step": resumed_from,
        "resumed": resumed,
        "enter_stream_step": min(last_checkpoint, report_steps(corpus) - 1),
        "enter_stream_s": enter_s,
        **projection([*killed["checkpoints"].values(), *resumed["checkpoints"].values()]),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    output.with_suffix(".md").write_text(render(report), encoding="utf8")
    print(render(report))


def projection(costs: List[Dict]) -> Dict:
    """The checkpoints' measured size and write time (each written once: a resume rewrites none),
    and what the real run's checkpoints would cost at each write time."""
    written = list({cost["step"]: cost for cost in costs}.values())
    seconds = sorted(cost["seconds"] for cost in written)
    real = len({*range(0, REAL_STEPS, REAL_CHECKPOINT_EVERY), *range(0, REAL_STEPS, REAL_EVAL_FREQUENCY), REAL_STEPS})
    return {
        "checkpoints_written": written,
        "projection": {
            "checkpoint_every": REAL_CHECKPOINT_EVERY,
            "checkpoints": real,
            "share_of_run": {
                f"{write:.1f} s at {speed:g} steps/s": real * write / (REAL_STEPS / speed)
                for write in (seconds[0], seconds[-1])
                for speed in GPU_STEPS_PER_S
            },
        },
    }


def render(report: Dict) -> str:
    def rss(run: Dict) -> str:
        by_step = sorted(run["rss_mb_by_step"].items(), key=lambda item: int(item[0]))
        return f"{by_step[0][1]:,.0f} MiB at step {by_step[0][0]}, {by_step[-1][1]:,.0f} MiB at step {by_step[-1][0]}"

    projection = report["projection"]
    shares = ", ".join(f"{100 * share:.1f}% ({case})" for case, share in projection["share_of_run"].items())
    return "\n".join(
        [
            f"Rehearsal: {report['shape']} encoder, {report['train_sentences']:,} training sentences, "
            f"{report['steps']} steps, a checkpoint every {report['checkpoint_every']}",
            "",
            f"- killed (SIGKILL, exit {report['killed']['returncode']}) after the checkpoint at step "
            f"{report['resumed_from_step']}; RSS {rss(report['killed'])}",
            f"- resumed: first new step {report['resumed']['first_new_step_s']:.1f} s after the start "
            f"(process start, imports, loading the checkpoint); RSS {rss(report['resumed'])}",
            "- checkpoints: "
            + ", ".join(
                f"step {c['step']} {c['bytes'] / 1e9:.2f} GB in {c['seconds']:.1f} s"
                for c in report["checkpoints_written"]
            )
            + " (with model-best at an evaluation)",
            f"- a resume at step {report['enter_stream_step']:,} reaches its place in the training stream "
            f"in {report['enter_stream_s']:.1f} s",
            f"- at {REAL_STEPS:,} steps, a checkpoint every {projection['checkpoint_every']:,}: "
            f"{projection['checkpoints']} checkpoints, each written in the fastest or the slowest time above: {shares} "
            "of the run on a GPU (this machine's disk; a GPU adds the copy to host memory)",
        ]
    )


if __name__ == "__main__":
    app()
