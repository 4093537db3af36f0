"""Run a command as a child process and measure it: exit status, wall time, CPU time and peak RSS
(the child's own, from `os.wait4`), optionally with an RSS timeline sampled while it runs.

The one memory meter of every benchmark, so that every figure is taken the same way.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple


class Measurement(NamedTuple):
    returncode: int
    wall_s: float
    cpu_s: float  # user + system time of the child and its waited-for children
    peak_rss_mb: float  # MiB
    timeline: List[Tuple[float, float]]  # (seconds since start, RSS in MiB), if sampled

    def as_dict(self) -> Dict:
        return self._asdict()


def _rss_mb(pid: int) -> Optional[float]:
    """RSS of a process and its descendants (psutil), in MiB; None once it is gone."""
    import psutil

    try:
        process = psutil.Process(pid)
        rss = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                rss += child.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        return None
    return rss / 2**20


def run_measured(
    command: Sequence[str],
    *,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[Path] = None,
    log: Optional[Path] = None,
    sample_every: Optional[float] = None,
) -> Measurement:
    """Run `command` to its end (stdout and stderr to `log`, else inherited) and measure it.

    `sample_every` (seconds) also samples the RSS timeline (needs psutil), to place a peak in a run.
    """
    out = log.open("w") if log else None
    timeline: List[Tuple[float, float]] = []
    stop = threading.Event()
    try:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(command), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT if out else None
        )

        def sample() -> None:
            while not stop.is_set():
                rss = _rss_mb(process.pid)
                if rss is not None:
                    timeline.append((round(time.perf_counter() - start, 2), round(rss, 1)))
                stop.wait(sample_every)

        sampler = threading.Thread(target=sample, daemon=True) if sample_every else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        stop.set()
        if sampler:
            sampler.join()
    finally:
        if out:
            out.close()
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    process.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 2**20 if sys.platform == "darwin" else usage.ru_maxrss / 1024
    return Measurement(process.returncode, wall, usage.ru_utime + usage.ru_stime, peak, timeline)
