"""The Ray engine of `scripts/annotate.py`: Ray Data reads the planned blocks, a pool of actors
(each with the pipeline loaded once) annotates them and writes their part files, and the
driver adds up the results as they come.

Ray runs embedded by default (a local instance for this run, listening on the loopback address
only, stopped at the end), or joins a cluster this machine is a node of (`address`: `auto`,
`host:6379`; Ray Client addresses, `ray://`, are refused: Ray Data does not run through it).

Why a datasource of our own rather than `ray.data.read_text`/`read_json`/`read_parquet`: those
name neither the line nor the row a text comes from, and a map over their output can't tell
where one of our blocks ends, so ids made from file and line, part files named after input
blocks (resume) and exactly-once output would not hold. `PlannedBlocks` is Ray Data's
Datasource API (what those functions are built on) with one read task per planned block, each
read by the same code as the local engine's; a Ray row is one whole block, so an actor always
writes a whole block. A killed actor's block is retried by Ray on a fresh actor, and its
half-written file never had its final name.
"""

import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from multinerd.annotation.engine import AnnotateError, BlockAnnotator, BlockResult, Options
from multinerd.annotation.inputs import Block, BlockRows, ReadSettings, read_block

LOOPBACK = "127.0.0.1"
# CPUs an embedded Ray keeps for the read tasks (each takes READ_CPUS): actors sized to all CPUs
# would leave reads none and the pipeline would wait forever.
READS_RESERVE = 0.5
READ_CPUS = 0.25


def worker_cpus(total_cpus: float, workers: int) -> float:
    """CPUs per actor when not given: the CPUs less what the reads need, shared out."""
    return round(max(0.1, (total_cpus - READS_RESERVE) / workers), 2)


def _process_tree(pid: int) -> List[Tuple[int, str]]:
    """(pid, start time) of every descendant of `pid`, from /proc (empty where there is none)."""
    children: Dict[int, List[Tuple[int, str]]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or gone
        children.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def _running(process: Tuple[int, str]) -> bool:
    """Whether the process is still there (the same one: same start time) and not a zombie."""
    try:
        with open(f"/proc/{process[0]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == process[1] and fields[0] != "Z"


def _stop(processes: Sequence[Tuple[int, str]], timeout: float, terminate: bool = False) -> None:
    """Wait for the processes to end (asking them first, with `terminate`); kill, by id, those
    still running after `timeout` seconds."""
    if terminate:
        _signal([p for p in processes if _running(p)], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while (running := [p for p in processes if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    _signal(running, signal.SIGKILL)


def _signal(processes: Sequence[Tuple[int, str]], signum: int) -> None:
    for pid, _ in processes:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def watch(driver: int, spared: Sequence[Tuple[int, str]]) -> None:
    """The watchdog of an embedded Ray (a process of its own): notes every second what the
    driver has started, and when the driver ends (its pipe to this process closes, however it
    ended) stops what is left of it. Without it, a killed driver's Ray agents linger a minute
    (they try to report the raylet's death to the GCS, which has gone too)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the driver
    own = (os.getpid(), _start_time(os.getpid()))
    started: List[Tuple[int, str]] = []
    while not select.select([sys.stdin], [], [], 1.0)[0]:
        started = [p for p in _process_tree(driver) if p not in spared and p != own]
    sys.stdin.buffer.read()
    _stop(started, timeout=5.0, terminate=True)


def _start_time(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def _start_watchdog(spared: Sequence[Tuple[int, str]]) -> subprocess.Popen:
    spared_args = ",".join(f"({pid}, {start!r})" for pid, start in spared)
    code = f"from multinerd.annotation.ray_engine import watch; watch({os.getpid()}, [{spared_args}])"
    # A session of its own: a signal to the driver's process group (Ctrl-C) is not for it.
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, start_new_session=True)


def _on_loopback(address: str) -> bool:
    """Whether a cluster address names this machine's loopback (a local cluster the driver joins as one of its own)."""
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


@contextmanager
def ray_session(address: Optional[str] = None, num_cpus: Optional[int] = None, temp_dir: Optional[str] = None):
    """Ray for a run: the one this process already has; a cluster at `address`; else an
    embedded local instance listening on the loopback address only, stopped at the end with
    every process it started.

    Embedded, Ray would bind its servers to the machine's network address even when told
    127.0.0.1 (it swaps loopback for that address so that other nodes can join), unless it is
    told there is no cluster to join (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read when Ray is
    imported); usage statistics, which Ray would send out, are off. The same holds for a driver
    joining a cluster at a loopback address.

    Quiet: token authentication is asked for by name (RAY_AUTH_MODE=token, unless the environment
    sets it: what Ray 2.60 turns on for a local instance anyway, with a WARNING when it is not
    named). No dashboard: Ray 2.60 still starts its API server process (`dashboard.py
    --disable-frontend`, its usage-stats module only) and each node's agent (`ray::DashboardAgent`,
    which the raylet requires), both on the loopback address here; no option leaves them out."""
    if address is None or _on_loopback(address):
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    import ray

    if ray.is_initialized():
        yield ray
        return
    quiet = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address is not None:
        try:
            ray.init(address=address, **quiet)
        except Exception as err:  # ConnectionError, and whatever a wrong address gives
            raise AnnotateError(
                f"Can't connect to the Ray cluster at {address} ({type(err).__name__}: {str(err).strip().splitlines()[0]}): "
                "start it first (`ray start --head` on the head node), or leave --address out for an embedded Ray."
            ) from None
        try:
            yield ray
        finally:
            ray.shutdown()
        return
    before = set(_process_tree(os.getpid()))
    watchdog = _start_watchdog(sorted(before)) if os.path.isdir("/proc") else None
    ray.init(
        num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, _node_ip_address=LOOPBACK, _temp_dir=temp_dir,
        **quiet,
    )  # fmt: skip
    try:
        node_ip = ray.util.get_node_ip_address()
        if node_ip != LOOPBACK:
            raise AnnotateError(
                f"The embedded Ray would listen on {node_ip}, not {LOOPBACK} only: Ray was imported before "
                "annotate could configure it. Start annotate in a fresh process, or pass --address of a cluster."
            )
        yield ray
    finally:
        spared = before | ({(watchdog.pid, _start_time(watchdog.pid))} if watchdog else set())
        started = [process for process in _process_tree(os.getpid()) if process not in spared]
        ray.shutdown()
        # Ray's workers may outlive ray.shutdown() while busy (orphaned); they have 15 s.
        _stop(started, timeout=15.0)
        if watchdog:
            watchdog.stdin.close()
            watchdog.wait()


def _block_row(block: Block, settings: ReadSettings) -> Dict:
    """A block read for Ray: one row holding the whole block (its rows as Arrow IPC bytes)."""
    import pyarrow

    rows = read_block(block, settings)
    data = b""
    if rows.problem is None:
        sink = pyarrow.BufferOutputStream()
        with pyarrow.ipc.new_stream(sink, rows.table.schema) as writer:
            writer.write_table(rows.table)
        data = sink.getvalue().to_pybytes()
    return {"block": block.name, "rows": data, "skipped": rows.skipped, "problem": rows.problem}


def _rows_of(row: Dict) -> BlockRows:
    import pyarrow

    if row["problem"] is not None:
        return BlockRows(None, 0, row["problem"])
    return BlockRows(pyarrow.ipc.open_stream(row["rows"]).read_all(), row["skipped"])


class RayBlockAnnotator:
    """The actor of the pool: a BlockAnnotator fed one block (one Ray row) at a time."""

    def __init__(self, options: Options):
        self.annotator = BlockAnnotator(options)

    def __call__(self, batch):
        import pyarrow

        rows = batch.to_pylist()
        return pyarrow.Table.from_pylist(
            [self.annotator.annotate_rows(row["block"], _rows_of(row))._asdict() for row in rows]
        )


def planned_blocks_datasource(blocks: Sequence[Block], settings: ReadSettings):
    """A Ray Data Datasource with one read task per block (see the module docstring)."""
    import pyarrow
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class PlannedBlocks(Datasource):
        def estimate_inmemory_data_size(self) -> Optional[int]:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None) -> List[ReadTask]:
            return [
                ReadTask(
                    lambda block=block: [pyarrow.Table.from_pylist([_block_row(block, settings)])],
                    BlockMetadata(num_rows=1, size_bytes=None, exec_stats=None, input_files=[block.source.location]),
                )
                for block in blocks
            ]

    return PlannedBlocks()


def annotate_with_ray(
    blocks: Sequence[Block],
    options: Options,
    workers: int,
    cpus_per_worker: Optional[float] = None,
    gpus_per_worker: float = 0.0,
    max_retries: int = 3,
) -> Iterator[BlockResult]:
    """The blocks annotated by a pool of `workers` actors in the current Ray session, results in
    the order they finish. Actors take `cpus_per_worker` (default: see worker_cpus) and
    `gpus_per_worker` (fractions share a GPU); a block whose actor dies is retried up to
    `max_retries` times on a fresh actor."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext
    from ray.util.annotations import RayDeprecationWarning

    if not blocks:
        return
    context = DataContext.get_current()
    context.enable_progress_bars = False  # the run's own bar counts texts
    context.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    if cpus_per_worker is None:
        cpus_per_worker = worker_cpus(ray.cluster_resources().get("CPU", 1.0), workers)
    threads = max(1, round(cpus_per_worker))
    # Ray gives each actor its GPUs as device 0 upwards (CUDA_VISIBLE_DEVICES).
    actor_options = options._replace(threads=threads, gpu_id=0 if gpus_per_worker > 0 else -1)
    dataset = ray.data.read_datasource(
        planned_blocks_datasource(blocks, options.read), num_cpus=READ_CPUS, override_num_blocks=len(blocks)
    )
    with warnings.catch_warnings():
        # max_task_retries has no named parameter in Ray Data 2.60 (Ray's own default, -1, retries
        # a block that kills every actor forever); passing it as a remote argument warns.
        warnings.simplefilter("ignore", RayDeprecationWarning)
        dataset = dataset.map_batches(
            RayBlockAnnotator,
            fn_constructor_kwargs={"options": actor_options},
            batch_size=1,
            batch_format="pyarrow",
            compute=ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None,
            max_task_retries=max_retries,
        )
    with _without(ACTOR_ARGUMENTS_ERROR):
        for row in dataset.iter_rows():
            yield BlockResult(**row)


# Ray Data always puts an actor's constructor arguments in the object store, and Ray's core worker
# logs this error-level line (C++, on the driver's stderr) for every actor that may restart, as
# ours must (a killed actor's block is retried on a fresh one). The run holds the arguments to its
# end, so the restart it warns of can't fail.
ACTOR_ARGUMENTS_ERROR = re.compile(
    rb"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in the object store"
)


@contextmanager
def _without(pattern: "re.Pattern[bytes]"):
    """This process's stderr (file descriptor 2, where Ray's C++ code logs) less the lines that
    match `pattern`. Text not ending a line (a progress bar's redraw) passes at once unless it may
    start such a line (Ray's log lines start with "[")."""
    sys.stderr.flush()
    saved, (read, write) = os.dup(2), os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def forward() -> None:
        pending = b""
        while chunk := os.read(read, 1 << 16):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not pattern.search(line))
            if pending and not pending.startswith(b"["):
                kept, pending = kept + pending, b""
            os.write(saved, kept)
        os.write(saved, pending)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last writer: the thread reads to its end
        thread.join(timeout=10.0)
        if not thread.is_alive():  # else a process started meanwhile holds the pipe: it keeps both
            os.close(read)
            os.close(saved)
