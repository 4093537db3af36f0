"""scripts/annotate.py's engines that start processes, which the product's suite leaves to these
tests (CI runs them) to stay fast: local worker processes and Ray give the same entities as a
plain nlp.pipe; every Ray process listens on the loopback address only; exactly-once output when
an actor or the driver is killed mid-job. One embedded Ray serves the module (Ray's start-up is
slow); the runs are drivers in processes of their own, joining it with --address, each bounded
by a timeout. The driver-kill test runs the command as a user does (an embedded Ray of its own),
twice. Every Ray process carries a mark in its environment, so that the tests can check none is
left behind. The model, texts and reference come from the product's test helpers
(tests/annotate_helpers.py, on pytest.ini's path)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Set, Tuple

import pytest
from annotate_helpers import (
    build_annotate_model,
    entities_by_id,
    generated_texts,
    output_rows,
    pipe_entities,
    sample_test_texts,
    write_jsonl_texts,
)
from conftest import REPO

ANNOTATE = REPO / "scripts" / "annotate.py"
MARK = "MULTINERD_TEST_RAY"
RUN_TIMEOUT = 300  # seconds a driver may run before the test kills it and fails

# A component for the fault tests: logs each doc's text in a file of the pipeline's own (one per
# load: per actor), and the first time it sees `kill_at` kills its own process (as the OOM
# killer would), the first time it sees `hold_at` stops there (bounded) for the test to act.
FAULT_CODE = """
import os, signal, time, uuid
from spacy.language import Language

def first_time(log, name):
    try:
        os.close(os.open(os.path.join(log, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False

@Language.factory("annotate_test_fault", default_config={"log": "", "kill_at": "", "hold_at": ""})
def make_fault(nlp, name, log, kill_at, hold_at):
    loaded = uuid.uuid4().hex
    def fault(doc):
        with open(os.path.join(log, f"{loaded}.log"), "a", encoding="utf8") as f:
            f.write(doc.text + "\\n")
        if doc.text == kill_at and first_time(log, "killed"):
            os.kill(os.getpid(), signal.SIGKILL)
        if doc.text == hold_at and first_time(log, "held"):
            time.sleep(120)
        return doc
    return fault
"""


def marked(mark: str) -> List[int]:
    """Processes (other than this one) whose environment carries the mark."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"{MARK}={mark}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry))
    return found


def assert_none_left(mark: str, timeout: float = 60.0) -> None:
    """No process with the mark within `timeout` seconds; any left is killed (by id) and the test fails."""
    deadline = time.monotonic() + timeout
    while (left := marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.5)
    names = {}
    for pid in left:
        try:
            names[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
            os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    assert not left, f"Ray processes left running: {names}"


@pytest.fixture(scope="module")
def ray_cluster():
    """An embedded Ray for the module (2 CPUs, loopback only), shut down at the end with nothing left."""
    from multinerd.annotation.ray_engine import ray_session

    mark, previous = uuid.uuid4().hex, os.environ.get(MARK)
    os.environ[MARK] = mark
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    try:
        with ray_session(num_cpus=2, temp_dir=temp) as ray:
            yield SimpleNamespace(ray=ray, address=ray.get_runtime_context().gcs_address, mark=mark)
        assert_none_left(mark)
    finally:
        os.environ.pop(MARK) if previous is None else os.environ.__setitem__(MARK, previous)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def annotate_model(tmp_path_factory, sample_corpus):
    return build_annotate_model(tmp_path_factory, sample_corpus)


def cli(*args, mark: str) -> subprocess.Popen:
    command = [sys.executable, str(ANNOTATE), *map(str, args)]
    env = {**os.environ, MARK: mark, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def ray_cli(*args, mark: str, address: str = None) -> subprocess.Popen:
    """annotate --engine ray on the cluster at `address`, or on an embedded Ray of 2 CPUs."""
    return cli(*args, "--engine", "ray", *(["--address", address] if address else ["--cpus", 2]), mark=mark)


def finish(process: subprocess.Popen) -> str:
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"annotate ran over {RUN_TIMEOUT} s:\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]
    return output


def assert_quiet(output: str) -> None:
    """A successful run shows its bar and summary only: no Ray WARNING (token authentication),
    no error-level line of Ray's C++ logging ("[... E pid tid] core_worker.cc"), no Python warning."""
    noise = re.compile(r"WARNING|Warning\b|^\[[^]]* [EW] \d+ \d+\]|\(raylet\)")
    assert [line for line in output.splitlines() if noise.search(line)] == [], output[-3000:]
    assert "Annotated" in output


# --- local worker processes ---------------------------------------------------------------------


def test_local_worker_processes_give_nlp_pipes_entities_for_every_id(annotate_model, sample_corpus, tmp_path):
    texts = sample_test_texts(sample_corpus) + generated_texts(sample_corpus, 2000)
    write_jsonl_texts(tmp_path / "in.jsonl", texts)
    mark = uuid.uuid4().hex
    args = (tmp_path / "in.jsonl", tmp_path / "out", "--model", annotate_model, "--workers", 2, "--block-size", 500)
    finish(cli(*args, "--format", "jsonl", mark=mark))
    assert entities_by_id(tmp_path / "out") == {f"t{i}": e for i, e in enumerate(pipe_entities(annotate_model, texts))}
    assert len(list((tmp_path / "out").glob("part-*.jsonl"))) == 5
    assert_none_left(mark)  # the worker processes ended with the run


# --- every Ray process on the loopback address -------------------------------------------------


def listening_sockets() -> Dict[int, str]:
    """Socket inode -> local address of every listening TCP socket and bound UDP socket (/proc/net)."""
    import ipaddress

    found = {}
    for table, listening in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            address, state, inode = fields[1].split(":")[0], fields[3], int(fields[9])
            if state != listening:
                continue
            raw = bytes.fromhex(address)
            # /proc/net holds addresses as 32-bit words in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found[inode] = str(ipaddress.ip_address(raw))
    return found


def sockets_of(pid: int) -> Set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def is_loopback(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address)
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


def test_every_ray_process_listens_on_the_loopback_address_only(ray_cluster):
    ray = ray_cluster.ray
    assert ray.get(ray.remote(lambda: os.getpid()).remote()) in marked(ray_cluster.mark)  # a worker is up
    sockets = listening_sockets()
    ray_sockets: List[Tuple[int, str]] = [
        (pid, sockets[inode])
        for pid in marked(ray_cluster.mark) + [os.getpid()]
        for inode in sockets_of(pid)
        if inode in sockets
    ]
    names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid, _ in ray_sockets}
    assert {"gcs_server", "raylet"} <= names and len(ray_sockets) >= 5, ray_sockets
    assert [(pid, address) for pid, address in ray_sockets if not is_loopback(address)] == []


# --- faults: exactly once ----------------------------------------------------------------------

N_TEXTS, BLOCK = 40, 5  # 8 blocks


@pytest.fixture(scope="module")
def fault_code(tmp_path_factory) -> Path:
    """The fault component's code file, imported here once (a factory registers once a process)."""
    from spacy.cli._util import import_code

    code = tmp_path_factory.mktemp("fault") / "fault.py"
    code.write_text(FAULT_CODE, "utf8")
    import_code(code)
    return code


@pytest.fixture
def fault_model(annotate_model, fault_code, tmp_path):
    """build(kill_at, hold_at): the annotate model with the fault component last, logging to `log`."""
    import spacy

    log = tmp_path / "log"
    log.mkdir()

    def build(kill_at: str = "", hold_at: str = "") -> Path:
        nlp = spacy.load(annotate_model)
        nlp.add_pipe("annotate_test_fault", config={"log": str(log), "kill_at": kill_at, "hold_at": hold_at})
        nlp.to_disk(tmp_path / "fault-model")
        return tmp_path / "fault-model"

    return SimpleNamespace(build=build, code=fault_code, log=log)


def block_runs(log: Path, texts: List[str], block: int) -> Set[Tuple[str, int]]:
    """(loaded pipeline, block) of every block a pipeline worked on, from the fault component's logs."""
    number = {text: i // block for i, text in enumerate(texts)}
    return {(path.stem, number[line]) for path in log.glob("*.log") for line in path.read_text("utf8").splitlines()}


def assert_exactly_once(output: Path, annotate_model: Path, texts: List[str], blocks: int) -> None:
    """Every id once, every part file readable, the entities nlp.pipe gives, no temporary file left."""
    rows = output_rows(output)  # reads every part whole
    assert sorted(row["id"] for row in rows) == sorted(f"t{i}" for i in range(len(texts)))
    assert entities_by_id(output) == {f"t{i}": e for i, e in enumerate(pipe_entities(annotate_model, texts))}
    assert len(list(output.glob("part-*.parquet"))) == blocks and not list(output.glob(".*.partial"))


def test_ray_engine_gives_nlp_pipes_entities_exactly_once_though_an_actor_is_killed(
    ray_cluster, annotate_model, fault_model, sample_corpus, tmp_path
):
    """The sample's test texts and 2,000 generated ones, in blocks of 300: the same entities as
    nlp.pipe for every id, though one actor dies in the middle of block 3 (its block is retried
    on a fresh actor)."""
    texts = sample_test_texts(sample_corpus) + generated_texts(sample_corpus, 2000, seed=1)
    write_jsonl_texts(tmp_path / "in.jsonl", texts)
    block = 300
    model = fault_model.build(kill_at=texts[3 * block + 2])
    args = (tmp_path / "in.jsonl", tmp_path / "out", "--model", model, "--code", fault_model.code, "--workers", 2)
    finish(ray_cli(*args, "--block-size", block, mark=ray_cluster.mark, address=ray_cluster.address))
    assert (fault_model.log / "killed").exists()
    runs = block_runs(fault_model.log, texts, block)
    needed = -(-len(texts) // block)
    print(f"actor killed: {needed} blocks needed, {len(runs)} block runs, {len(texts)} ids")
    assert len(runs) > needed  # more blocks ran than were needed: the fault hit
    assert len({process for process, number in runs if number == 3}) == 2  # the killed actor, then another
    assert_exactly_once(tmp_path / "out", annotate_model, texts, needed)


def test_a_killed_driver_leaves_no_process_and_the_rerun_completes_exactly_once(annotate_model, fault_model, tmp_path):
    texts = [f"text {i} in Rome" for i in range(N_TEXTS)]
    write_jsonl_texts(tmp_path / "in.jsonl", texts)
    model = fault_model.build(hold_at=texts[17])  # the third text of block 3
    output, mark = tmp_path / "out", uuid.uuid4().hex
    args = (
        tmp_path / "in.jsonl",
        output,
        "--model",
        model,
        "--code",
        fault_model.code,
        "--workers",
        2,
        "--block-size",
        BLOCK,
    )
    first = ray_cli(*args, mark=mark)  # the command as a user runs it: an embedded Ray of its own
    deadline = time.monotonic() + RUN_TIMEOUT
    # Kill it mid-job: while an actor is in the middle of block 3.
    while time.monotonic() < deadline and first.poll() is None and not (fault_model.log / "held").exists():
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    written = {int(path.name[len("part-") :].split(".")[0]) for path in output.glob("part-*.parquet")}
    assert 3 not in written and len(written) < N_TEXTS // BLOCK  # (parts are numbered from 0, in input order)
    assert_none_left(mark)  # the embedded Ray went with its driver
    assert_quiet(finish(ray_cli(*args, mark=mark)))
    assert_none_left(mark)
    runs = block_runs(fault_model.log, texts, BLOCK)
    print(f"driver killed with {len(written)} parts written: {N_TEXTS // BLOCK} blocks needed, {len(runs)} block runs")
    assert len(runs) > N_TEXTS // BLOCK  # more blocks ran than were needed: the killed run's unfinished one again
    assert_exactly_once(output, annotate_model, texts, N_TEXTS // BLOCK)
