"""What the two conversion benchmarks share: a child process measured by the product's one meter
(`multinerd_dev.measure.run_measured`) that stops the benchmark with the end of its log if it fails,
the paths of the product they run, and writing the JSON report with its Markdown table."""

import os
from pathlib import Path
from typing import Dict, Optional, Sequence

import srsly

from multinerd_dev.measure import Measurement, run_measured

REPO = Path(__file__).resolve().parents[3]  # the xx_multinerd project: benchmarks/conversion/scripts -> ../../..
CONVERTER = REPO / "scripts" / "convert.py"  # the product's converter, run as a child
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def run_checked(command: Sequence[str], log: Path, sample_every: Optional[float] = None) -> Measurement:
    """Run `command` to its end, measured; a failure stops the benchmark, showing the log's end."""
    measured = run_measured(command, env=ENV, log=log, sample_every=sample_every)
    if measured.returncode != 0:
        tail = log.read_text(encoding="utf8", errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(map(str, command))} failed with exit status {measured.returncode}:\n{tail}")
    return measured


def figures(measured: Measurement) -> Dict[str, float]:
    """The figures every run reports: wall and CPU seconds, and the child's own peak RSS in MiB."""
    return {
        "wall_s": round(measured.wall_s, 3),
        "cpu_s": round(measured.cpu_s, 3),
        "peak_rss_mib": round(measured.peak_rss_mb, 1),
    }


def write_report(output: Path, result: Dict, table: str) -> None:
    """The results as JSON at `output`, and the table as Markdown beside it (.md)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, result)
    output.with_suffix(".md").write_text(table + "\n", encoding="utf8")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
