"""What the annotation benchmarks share: a child process measured by the product's one meter
(`multinerd_dev.measure.run_measured`, its RSS timeline summed over the child's process tree, so a
run with worker processes or Ray actors counts all of them), summaries of repeated runs (median
and range), and the report (JSON, and its tables as Markdown beside it)."""

import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import srsly

from multinerd_dev.measure import run_measured

REPO = Path(__file__).resolve().parents[3]  # the xx_multinerd project: benchmarks/annotate/scripts -> ../../..
ANNOTATE = REPO / "scripts" / "annotate.py"  # the product's command, run as a child
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def measured_run(command: Sequence[str], log: Path, every: float = 0.25) -> Dict[str, float]:
    """Run `command` to its end: wall and CPU seconds, the largest process's peak RSS, and the
    peak of the RSS summed over its process tree (sampled every `every` seconds). A failure
    stops the benchmark with the end of the log."""
    done = run_measured(list(map(str, command)), env=ENV, log=log, sample_every=every)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf8", errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(map(str, command))} exited with {done.returncode}:\n{tail}")
    return {
        "wall_s": round(done.wall_s, 2),
        "cpu_s": round(done.cpu_s, 2),
        "peak_rss_mib": round(done.peak_rss_mb, 1),
        "peak_tree_rss_mib": round(max([rss for _, rss in done.timeline] + [done.peak_rss_mb]), 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def spread(values: List[float]) -> Dict[str, float]:
    """Median and range of repeated figures."""
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}


def shown(figure: Dict[str, float], digits: int = 0) -> str:
    """`median (min–max)`, or the one value of a single run."""
    median, low, high = (f"{figure[key]:,.{digits}f}" for key in ("median", "min", "max"))
    return median if low == high else f"{median} ({low}–{high})"


def machine() -> Dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count()}
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    return info


def write_report(output: Path, report: Dict, markdown: str) -> None:
    """The report as JSON at `output`, its tables as Markdown beside it (.md)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    output.with_suffix(".md").write_text(markdown.rstrip("\n") + "\n", encoding="utf8")
