"""Training survives a SIGKILL: the same command, rerun, resumes from the last checkpoint and ends
with the weights, dev scores, model-best and log of an uninterrupted run, bit for bit (cnn config
on the converted sample, trf config on the tiny BERT, both on the CPU). A kill during the
checkpoint's own write leaves the previous checkpoint usable; a changed config is refused."""

import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy
import pytest
import spacy
import srsly

from multinerd.training.checkpoint import CHECKPOINT, STATE, parameter_keys, what_changed
from multinerd.training.loop import LOG

ROOT = Path(__file__).resolve().parents[1]
# (max steps, checkpoint every, evaluate every): the cnn steps are fast (the kill needs the room),
# the trf steps slow (a second each, on the tiny BERT).
STEPS = {"cnn": (40, 5, 10), "trf": (12, 3, 6)}
# Run in a fresh process and killed there: the hook makes the checkpoint's write die half-way,
# after the weights and the optimizer's arrays are written, before the rest.
KILLED_IN_WRITE = """
import os, runpy, signal, sys
import multinerd.training.checkpoint as checkpoint
write_optimizer = checkpoint.save_optimizer
def dies_after(*args, **kwargs):
    write_optimizer(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
checkpoint.save_optimizer = dies_after
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def train_args(config: str, corpus: Path, output: Path, *extra: str) -> List[str]:
    max_steps, checkpoint_every, eval_frequency = STEPS[config]
    return [
        str(ROOT / "scripts" / "train.py"), str(ROOT / "configs" / f"{config}.cfg"), str(output),
        "--report", str(corpus / "report.json"), "--max-steps", str(max_steps),
        "--checkpoint-every", str(checkpoint_every), "--training.eval_frequency", str(eval_frequency),
        "--paths.train", str(corpus / "train"), "--paths.dev", str(corpus / "dev_sample"),
        "--paths.labels", str(corpus / "labels" / "ner.json"), *extra,
    ]  # fmt: skip


def run(args: List[str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def logged_steps(output: Path) -> List[int]:
    log = output / LOG
    lines = log.read_text().splitlines() if log.exists() else []
    return [srsly.json_loads(line)["step"] for line in lines[:-1]]  # the last line may be half-written


def kill_at(args: List[str], output: Path, step: int) -> None:
    """Start training and SIGKILL it once the log has reached `step` (after the first checkpoint)."""
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while process.poll() is None and not (
        max(logged_steps(output), default=-1) >= step and (output / CHECKPOINT).exists()
    ):
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "training ended before the kill: raise its max steps"
    assert not (output / "model-last").exists()


def checkpoint_step(output: Path) -> int:
    return pickle.loads((output / CHECKPOINT / STATE).read_bytes())["loop"]["step"]


def weights(path: Path) -> Dict[str, numpy.ndarray]:
    """Every parameter of a saved pipeline, thinc's and PyTorch's, by its name in checkpoints."""
    nlp = spacy.load(path)
    nodes = {node.id: node for _, proc in nlp.pipeline if hasattr(proc, "model") for node in proc.model.walk()}
    shims = {shim.id: shim for node in nodes.values() for shim in node.shims}
    params = {}
    for (owner, param), name in parameter_keys(nlp).items():
        if ":shim" in name.split("|")[0]:
            params[name] = dict(shims[owner]._model.named_parameters())[param].detach().cpu().numpy()
        elif nodes[owner].has_param(param):
            params[name] = numpy.asarray(nodes[owner].get_param(param))
    return params


def log_without_times(output: Path) -> List[dict]:
    rows = list(srsly.read_jsonl(output / LOG))
    for row in rows:
        row.pop("seconds")
        row.get("scores", {}).pop("speed", None)
    return rows


def assert_same_run(output: Path, reference: Path) -> None:
    for model in ("model-last", "model-best"):
        mine, theirs = weights(output / model), weights(reference / model)
        assert mine.keys() == theirs.keys() and mine
        differences = {name: float(numpy.abs(mine[name] - theirs[name]).max(initial=0)) for name in mine}
        assert max(differences.values()) == 0.0, {k: v for k, v in differences.items() if v}
        perf = [srsly.read_json(path / model / "meta.json")["performance"] for path in (output, reference)]
        assert perf[0] == perf[1]
    assert log_without_times(output) == log_without_times(reference)
    assert not (output / CHECKPOINT).exists()


def interrupted_runs(config: str, corpus: Path, tmp: Path, extra=()) -> dict:
    """An uninterrupted run, and the same run SIGKILLed at a random step after its first checkpoint."""
    reference, output = tmp / "reference", tmp / "interrupted"
    run(train_args(config, corpus, reference, *extra))
    max_steps, checkpoint_every, _ = STEPS[config]
    step = random.Random(config).randint(checkpoint_every + 1, max_steps // 2)
    kill_at(train_args(config, corpus, output, *extra), output, step)
    return {"config": config, "corpus": corpus, "reference": reference, "output": output, "extra": extra}


@pytest.fixture(scope="module")
def cnn_runs(sample_corpus, tmp_path_factory):
    return interrupted_runs("cnn", sample_corpus, tmp_path_factory.mktemp("resume-cnn"))


@pytest.fixture(scope="module")
def trf_runs(sample_corpus, tiny_bert, tmp_path_factory):
    return interrupted_runs(
        "trf", sample_corpus, tmp_path_factory.mktemp("resume-trf"), ("--transformer", str(tiny_bert))
    )


def test_a_changed_config_is_refused_and_nothing_is_lost(cnn_runs):
    output = cnn_runs["output"]
    before = (output / CHECKPOINT / STATE).read_bytes()
    done = run(train_args("cnn", cnn_runs["corpus"], output, "--training.dropout", "0.2"), check=False)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "training.dropout (0.1 -> 0.2)" in done.stderr and "--restart" in done.stderr
    assert (output / CHECKPOINT / STATE).read_bytes() == before


def test_restart_discards_the_checkpoint(cnn_runs, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(cnn_runs["output"], output)
    assert checkpoint_step(output) > 0
    done = run(train_args("cnn", cnn_runs["corpus"], output, "--max-steps", "2", "--restart"))
    assert "training starts at step 0" in done.stdout and "Resuming" not in done.stdout
    assert [row["step"] for row in srsly.read_jsonl(output / LOG)] == [0, 1, 2]


def test_a_kill_during_the_checkpoint_write_keeps_the_previous_one(cnn_runs):
    output = cnn_runs["output"]
    step = checkpoint_step(output)
    died = run(["-c", KILLED_IN_WRITE, *train_args("cnn", cnn_runs["corpus"], output)], check=False)
    assert died.returncode == -signal.SIGKILL
    assert list(output.glob(".convert-*")), "the killed write left no work folder: the hook missed the write"
    assert checkpoint_step(output) == step


@pytest.mark.parametrize("config", ["cnn", "trf"])
def test_the_rerun_resumes_and_ends_as_an_uninterrupted_run(config, request):
    runs = request.getfixturevalue(f"{config}_runs")
    output = runs["output"]
    step = checkpoint_step(output)
    done = run(train_args(config, runs["corpus"], output, *runs["extra"]))
    said = [line for line in done.stdout.splitlines() if "Resuming" in line]
    assert len(said) == 1 and "of training kept" in said[0] and said[0].endswith("(--restart starts again)")
    assert f"Resuming from the checkpoint at step {step:,} of {STEPS[config][0]:,}" in said[0]
    assert not list(output.glob(".convert-*"))
    assert_same_run(output, runs["reference"])


def test_what_changed_names_the_code(tmp_path):
    saved = {"config": "[a]\nb = 1\n", "corpus": {}, "code": {"multinerd/training/loop.py": "0" * 64}, "libraries": {}}
    assert what_changed(saved, dict(saved, code={})) == "the code of scripts/multinerd/training/loop.py"
    assert what_changed(dict(saved, code={}), dict(saved, config="[a]\nb = 2\n")) == "the config's a.b (1 -> 2)"
    corpus = tmp_path / "train.spacy"
    corpus.write_bytes(b"x")
    assert what_changed(
        dict(saved, code={}, corpus={str(corpus): "0"}), dict(saved, code={}, corpus={str(corpus): "1"})
    ) == (f"the corpus file {corpus}")


@pytest.mark.parametrize("first", [1, 5, 31, 32, 33, 70])
def test_the_stream_is_entered_where_reading_from_the_start_would_be(sample_corpus, first):
    from itertools import islice

    from spacy.training import Corpus
    from spacy.training.loop import create_train_batches
    from spacy.util import registry

    from multinerd.training.loop import training_batches

    nlp = spacy.blank("xx")
    corpus = Corpus(sample_corpus / "train")
    batcher = registry.batchers.get("spacy.batch_by_sequence.v1")(size=16, get_length=None)
    batcher_config = {"@batchers": "spacy.batch_by_sequence.v1", "size": 16, "get_length": None}
    assert sum(1 for _ in corpus(nlp)) == 508  # 32 batches an epoch, the last of 12: 31-33 cross an epoch

    def texts(batches):
        return [(epoch, [eg.reference.text for eg in batch]) for epoch, batch in islice(batches, 40)]

    stream = training_batches(nlp, corpus, batcher, batcher_config, -1, first)
    assert not isinstance(stream, islice), "the stream was read from the start, not entered"
    entered = texts(stream)
    read = texts(islice(create_train_batches(nlp, corpus, batcher, -1), first, None))
    assert entered == read


def test_optimizer_state_follows_each_parameter_to_a_new_process(tmp_path):
    """thinc numbers nodes and shims apart: a node and a shim may share an id in one process and
    not in the next. The state saved for each parameter must come back to that parameter."""
    from types import SimpleNamespace

    import torch
    from thinc.api import Adam, Linear, PyTorchWrapper, chain

    from multinerd.training.checkpoint import load_optimizer, save_optimizer

    model = chain(PyTorchWrapper(torch.nn.Linear(2, 2)), Linear(2, 2))
    model.initialize(numpy.zeros((1, 2), dtype="f"), numpy.zeros((1, 2), dtype="f"))
    wrapper, linear = model.layers
    nlp = SimpleNamespace(pipeline=[("pipe", SimpleNamespace(model=model))])
    wrapper.shims[0].id = linear.id  # this process: one id for both
    optimizer = Adam(0.001)
    for key in parameter_keys(nlp):
        optimizer.mom1[key] = numpy.full(2, float(len(key[1])), dtype="f")
        optimizer.nr_update[key] = len(key[1])
    counters = save_optimizer(optimizer, parameter_keys(nlp), tmp_path / "optimizer.npz")
    wrapper.shims[0].id = linear.id + 1000  # the next process: ids apart
    restored = Adam(0.001)
    load_optimizer(restored, parameter_keys(nlp), tmp_path / "optimizer.npz", counters)
    assert len(parameter_keys(nlp)) == 4 and set(restored.mom1) == set(parameter_keys(nlp))
    for key in parameter_keys(nlp):
        assert restored.mom1[key][0] == len(key[1]) and restored.nr_update[key] == len(key[1])
