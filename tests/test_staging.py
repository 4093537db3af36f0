"""Outputs replaced whole or not at all (multinerd.data.staging), also when the converter is killed:
work folders of dead runs are cleaned up by the next run (finishing one killed while it moved its
outputs into place), never those of a run alive."""

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from convert_helpers import CONVERT, ROOT, cli_env, convert_source, docs, tree_digest, write_jsonl

from multinerd.data.corpus import InvalidRow
from multinerd.data.staging import COMPLETE, WORK_PREFIX, commit, staged

NAMES = ("a", "b", "c")


def write_outputs(folder: Path, version: str) -> None:
    """Outputs as the converter writes them: folders and a file."""
    for name in NAMES[:2]:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "000.spacy").write_text(f"{name} {version}")
    (folder / NAMES[2]).write_text(f"c {version}")


def versions(output: Path) -> dict:
    return {
        name: (output / name / "000.spacy" if (output / name).is_dir() else output / name).read_text().split()[1]
        for name in NAMES
    }


def work_folders(output: Path) -> list:
    return sorted(output.glob(WORK_PREFIX + "*"))


@pytest.fixture
def output(tmp_path):
    write_outputs(tmp_path / "out", "old")
    (tmp_path / "out" / "keep.txt").write_text("not an output")
    return tmp_path / "out"


def test_a_committed_run_replaces_every_output_and_leaves_no_work_folder(output):
    with staged(output, NAMES) as work:
        write_outputs(work, "new")
        commit(work, output, NAMES)
    assert versions(output) == {"a": "new", "b": "new", "c": "new"}
    assert (output / "keep.txt").read_text() == "not an output" and not work_folders(output)


def test_a_failed_run_replaces_nothing(output):
    before = tree_digest(output)
    with pytest.raises(InvalidRow):
        with staged(output, NAMES) as work:
            write_outputs(work, "new")
            raise InvalidRow("x.jsonl:1: bad")
    assert tree_digest(output) == before


def test_the_next_run_removes_dead_runs_work_folders_but_not_a_live_ones(output):
    dead = output / f"{WORK_PREFIX}dead"
    write_outputs(dead, "dead")  # killed before it was complete
    live = output / f"{WORK_PREFIX}live"
    write_outputs(live, "live")
    hold = os.open(live, os.O_RDONLY)
    fcntl.flock(hold, fcntl.LOCK_EX)  # as a run alive holds its own
    try:
        with pytest.raises(InvalidRow):
            with staged(output, NAMES):
                raise InvalidRow("the next run fails, and still cleans up")
        assert work_folders(output) == [live] and versions(live) == {"a": "live", "b": "live", "c": "live"}
        assert versions(output) == {"a": "old", "b": "old", "c": "old"}
    finally:
        os.close(hold)  # the live run ends (dies): the next run removes its folder
    with staged(output, NAMES):
        pass
    assert not work_folders(output) and versions(output) == {"a": "old", "b": "old", "c": "old"}


# A run in a child process, killed (os._exit, no clean-up) before its k-th rename while it moves
# its outputs into place, or, with k = 0, just before it marks its folder complete.
KILLED_WHILE_MOVING = r"""
import os, sys
from pathlib import Path
import multinerd.data.staging as staging
output, k, names = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
real, calls = os.replace, []
def dies(source, target):
    calls.append(source)
    if len(calls) == k:
        os._exit(9)
    real(source, target)
staging.os.replace = dies
with staging.staged(output, names) as work:
    for name in names[:2]:
        (work / name).mkdir()
        (work / name / "000.spacy").write_text(f"{name} new")
    (work / names[2]).write_text(f"{names[2]} new")
    if k == 0:
        os._exit(9)
    staging.commit(work, output, names)
"""


@pytest.mark.parametrize("k", range(2 * len(NAMES) + 1))
def test_a_run_killed_at_any_step_of_moving_its_outputs_is_finished_by_the_next(output, k):
    child = subprocess.run([sys.executable, "-c", KILLED_WHILE_MOVING, str(output), str(k), ",".join(NAMES)],
                           capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert child.returncode == 9, child.stderr
    (stale,) = work_folders(output)
    with pytest.raises(InvalidRow):
        with staged(output, NAMES):  # the next run, which fails
            raise InvalidRow("x.jsonl:1: bad")
    # Marked complete (k >= 1): its outputs are finished moving; else the old ones stay. Never a mix.
    want = "new" if k else "old"
    assert versions(output) == {name: want for name in NAMES}, k
    assert not work_folders(output) and (output / "keep.txt").read_text() == "not an output"


# --- the converter itself, killed (SIGKILL) at random points ------------------------------------


def test_the_converter_killed_at_random_points_leaves_the_old_corpus_and_the_next_run_no_temp_files(tmp_path):
    rng_seed = random.randrange(2**32)
    rng = random.Random(rng_seed)
    small = tmp_path / "small"
    write_jsonl(small / "train" / "train_en.jsonl", [{"tokens": ["Ada", f"w{i}"], "ner_tags": [1, 0], "lang": "en"}
                                                     for i in range(20)])  # fmt: skip
    write_jsonl(small / "test" / "test_en.jsonl", [{"tokens": ["Rome"], "ner_tags": [5], "lang": "en"}])
    big = tmp_path / "big"
    n = 5_000  # a second or so of conversion, beside the other runs
    rows = ({"tokens": [f"w{i}", "visited", f"r{i % 89}", "in", str(i)], "ner_tags": [1, 0, 5, 0, 27], "lang": "de"}
            for i in range(n))  # fmt: skip
    write_jsonl(big / "train" / "train_de.jsonl", rows)
    write_jsonl(big / "val" / "val_de.jsonl", [{"tokens": ["Köln"], "ner_tags": [5], "lang": "de"}] * 50)
    outputs = [tmp_path / f"corpus{i}" for i in range(3)]
    for out in outputs:
        convert_source(small, out, n_buckets=2)
    old = tree_digest(outputs[0] / "train"), tree_digest(outputs[0] / "report.json")
    delays = [rng.uniform(0.0, 1.0) for _ in outputs]
    processes = [subprocess.Popen([sys.executable, str(CONVERT), str(big), str(out), "--shard-size", "1000"],
                                  cwd=ROOT, env=cli_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for out in outputs]  # fmt: skip
    started, killed = {}, {}
    deadline = time.monotonic() + 300
    while len(killed) < len(outputs) and time.monotonic() < deadline:
        for i, (out, process) in enumerate(zip(outputs, processes)):
            if i in killed:
                continue
            if i not in started and work_folders(out):
                started[i] = time.monotonic()  # converting now: its work folder is there
            if process.poll() is not None:
                killed[i] = False  # finished before its time came
            elif i in started and time.monotonic() - started[i] >= delays[i]:
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed[i] = True
        time.sleep(0.01)
    assert len(killed) == len(outputs), f"seed {rng_seed}: runs did not end"
    for i, out in enumerate(outputs):
        where = f"seed {rng_seed}, run {i}, killed {delays[i]:.2f} s in"
        stale = work_folders(out)
        corpus = (tree_digest(out / "train"), tree_digest(out / "report.json"))
        if not killed[i]:
            assert processes[i].returncode == 0 and not stale, where
            assert json.loads((out / "report.json").read_text())["splits"]["train"]["sentences"] == n
            continue
        if not stale:  # killed after it was done, while it printed its report
            assert len(docs(out / "train")) == n, where
        else:  # killed with its work folder there: the old corpus intact, unless it was moving the new one in
            assert corpus == old or (stale[0] / COMPLETE).exists(), where
        # The next run, which fails, cleans up: the old corpus, or a killed commit finished.
        bad = write_jsonl(tmp_path / f"bad{i}" / "train_en.jsonl", [{"tokens": ["x"], "ner_tags": [99], "lang": "en"}])
        with pytest.raises(InvalidRow):
            convert_source(bad, out)
        assert not work_folders(out), where
        after = (tree_digest(out / "train"), tree_digest(out / "report.json"))
        assert after == old or len(docs(out / "train")) == n, where
    # and a run that succeeds leaves no temporary files either
    for out in outputs:
        convert_source(small, out, n_buckets=2)
        assert not work_folders(out) and not list(out.rglob("*.partial"))
        assert len(docs(out / "train")) == 20
