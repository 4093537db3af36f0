"""Scale test of the converter: a synthetic MultiNERD-sized corpus (2.68M training sentences by
default, from scripts/generate_corpus.py) converted by scripts/convert.py as a child process.

Prints and writes (metrics/benchmark_scale.json) the conversion's wall time, sentences/s, CPU time
and peak RSS (`os.wait4`'s ru_maxrss), plus an RSS timeline sampled with psutil, so a peak can be
placed in the run (reading and bucketing the input, then writing the shuffled training shards).
Target: peak RSS under 1.5 GB. The generated corpus and the converted output are deleted at the end
unless --keep.

    python scripts/benchmark_scale.py                      # generate in /tmp, convert, clean up
    python scripts/benchmark_scale.py --data /tmp/synth    # reuse a generated corpus (not deleted)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer

ROOT = Path(__file__).resolve().parent.parent
app = typer.Typer(add_completion=False)


class RssSampler(threading.Thread):
    """Samples a process's RSS (with its children) every `interval` seconds."""

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples, self.stop = pid, interval, [], threading.Event()

    def run(self):
        import psutil

        start = time.perf_counter()
        try:
            process = psutil.Process(self.pid)
            while not self.stop.is_set():
                rss = process.memory_info().rss
                for child in process.children(recursive=True):
                    try:
                        rss += child.memory_info().rss
                    except psutil.Error:
                        pass
                self.samples.append((round(time.perf_counter() - start, 2), round(rss / 2**20, 1)))
                self.stop.wait(self.interval)
        except psutil.Error:
            pass


def measure(command: List[str], log: Path, interval: float) -> Dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    with log.open("w") as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = RssSampler(child.pid, interval)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = log.read_text(encoding="utf8", errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(command)} failed with exit status {code}:\n{tail}")
    peak_sample = max(sampler.samples, key=lambda s: s[1], default=(None, None))
    return {
        "wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "peak_rss_at_s": peak_sample[0],
        # at most ~100 points, for a picture of memory over the run
        "rss_timeline_mib": sampler.samples[:: max(1, len(sampler.samples) // 100)],
    }


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@app.command()
def main(
    train: int = typer.Option(2_680_000, min=1, help="Training sentences to generate"),
    eval_fraction: float = typer.Option(0.1, help="val and test sentences, each, as a fraction of --train"),
    data: Optional[Path] = typer.Option(None, help="An already generated corpus to convert (then nothing is generated, and it is kept)"),
    work: Optional[Path] = typer.Option(None, help="Folder for the generated corpus and the output (default: a new one in /tmp)"),
    shard_size: int = typer.Option(10_000, min=1),
    vocab_size: int = typer.Option(300_000, help="Generator: words per language"),
    seed: int = typer.Option(0),
    rss_target_mib: float = typer.Option(1536.0, help="Peak RSS target (1.5 GB)"),
    interval: float = typer.Option(0.5, help="Seconds between RSS samples"),
    output: Path = typer.Option(Path("metrics/benchmark_scale.json"), help="Results (relative: from the project root)"),
    convert_script: Path = typer.Option(ROOT / "scripts" / "convert.py", help="Converter to run (to compare a changed copy)"),
    keep: bool = typer.Option(False, "--keep", help="Keep the generated corpus and the converted output"),
):
    output = output if output.is_absolute() else ROOT / output
    own_work = work is None
    work = work or Path(tempfile.mkdtemp(prefix="multinerd-scale-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    result = {"shard_size": shard_size, "rss_target_mib": rss_target_mib, "load_average_before": os.getloadavg()}
    generated = data is None
    try:
        if generated:
            data = work / "multinerd-synth"
            command = [sys.executable, str(ROOT / "scripts" / "generate_corpus.py"), str(data), "--train", str(train),
                       "--eval-fraction", str(eval_fraction), "--vocab-size", str(vocab_size), "--seed", str(seed)]
            print(f"Generating {train:,} training sentences (+{eval_fraction:.0%} val, test) in {data} ...", flush=True)
            result["generate"] = measure(command, work / "generate.log", interval * 4)
            result["generate"].pop("rss_timeline_mib")
            print(f"  {result['generate']['wall_s']:.0f} s, peak RSS {result['generate']['peak_rss_mib']:.0f} MiB")
        manifest_path = data.parent / f"{data.name}.manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf8")) if manifest_path.exists() else None
        corpus = work / "corpus"
        shutil.rmtree(corpus, ignore_errors=True)
        command = [sys.executable, str(convert_script), str(data), str(corpus), "--shard-size", str(shard_size)]
        print(f"Converting: {' '.join(command)}", flush=True)
        convert = measure(command, work / "convert.log", interval)
        report = json.loads((corpus / "report.json").read_text(encoding="utf8"))
        sentences = {split: report["splits"][split]["sentences"] for split in ("train", "dev", "test")}
        total = sum(sentences.values())
        if manifest is not None:
            expected = manifest["sentences"]
            if (sentences["train"], sentences["dev"], sentences["test"]) != (expected["train"], expected["val"], expected["test"]):
                raise SystemExit(f"converted {sentences}, but the generator wrote {expected}")
        convert.update(
            sentences=sentences, sentences_total=total, tokens=sum(report["splits"][s]["tokens"] for s in sentences),
            sentences_per_s=round(total / convert["wall_s"], 1), input_bytes=folder_bytes(data),
            corpus_bytes=folder_bytes(corpus), train_shards=report["splits"]["train"]["shards"],
            under_target=convert["peak_rss_mib"] < rss_target_mib,
        )
        result["convert"] = convert
        result["command"] = " ".join(command)
        result["load_average_after"] = os.getloadavg()
        result["generator_manifest"] = manifest
        result["when"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
        verdict = "under" if convert["under_target"] else "OVER"
        print(f"Converted {total:,} sentences ({convert['tokens']:,} tokens, {convert['input_bytes'] / 2**20:,.0f} MiB of JSONL) "
              f"in {convert['wall_s']:.1f} s = {convert['sentences_per_s']:,.0f} sent/s (CPU {convert['cpu_s']:.0f} s); "
              f"peak RSS {convert['peak_rss_mib']:,.0f} MiB at {convert['peak_rss_at_s']} s, {verdict} the "
              f"{rss_target_mib:,.0f} MiB target; {convert['train_shards']} training shards, "
              f"{convert['corpus_bytes'] / 2**20:,.0f} MiB written. Results in {output}")
    finally:
        if not keep:
            shutil.rmtree(work / "corpus", ignore_errors=True)
            if generated:
                shutil.rmtree(data, ignore_errors=True)
                (data.parent / f"{data.name}.manifest.json").unlink(missing_ok=True)
            if own_work:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    app()
