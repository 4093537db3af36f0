"""Scale test of the converter: a synthetic MultiNERD-sized corpus (2.68M training sentences by
default, from scripts/generate_corpus.py) converted by the product's scripts/convert.py as a
child process, measured by the product's one meter (`multinerd_dev.measure.run_measured`).

Prints and writes (metrics/benchmark_scale.json, and the table as .md beside it) the
conversion's wall time, sentences/s, CPU time and peak RSS (the child's own), plus an RSS
timeline sampled with psutil, so a peak can be placed in the run (reading and bucketing the
input, then writing the shuffled training shards). Target: peak RSS under 1.5 GB. The generated
corpus and the converted output are deleted at the end unless --keep.

    python scripts/benchmark_scale.py                      # generate in /tmp, convert, clean up
    python scripts/benchmark_scale.py --data /tmp/synth    # reuse a generated corpus (not deleted)
    python scripts/benchmark_scale.py --train 300 --vocab-size 2000   # a quick run
"""

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import srsly
import typer
from measured import CONVERTER, figures, folder_bytes, run_checked, write_report
from wasabi import MarkdownRenderer

SCRIPTS = Path(__file__).resolve().parent
app = typer.Typer(add_completion=False)


def measure(command, log: Path, interval: float) -> dict:
    """figures() of a measured child, with when its RSS peaked and an RSS timeline of ~100 points."""
    measured = run_checked(command, log, sample_every=interval)
    timeline = measured.timeline
    peak_sample = max(timeline, key=lambda sample: sample[1], default=(None, None))
    return {
        **figures(measured),
        "peak_rss_at_s": peak_sample[0],
        # at most ~100 points, for a picture of memory over the run
        "rss_timeline_mib": timeline[:: max(1, len(timeline) // 100)],
    }


def markdown_table(convert: dict, rss_target_mib: float, shard_size: int) -> str:
    """The README's table: sentences, wall time, CPU time (with sentences/s), peak RSS, shards."""
    cpu_rate = convert["sentences_total"] / convert["cpu_s"] if convert["cpu_s"] else 0.0
    row = (
        f"{convert['sentences_total']:,}",
        f"{convert['wall_s']:,.0f} s",
        f"{convert['cpu_s']:,.0f} s (≈{cpu_rate:,.0f} sentences/s)",
        f"{convert['peak_rss_mib']:,.0f} MiB (target: under {rss_target_mib / 1024:g} GiB)",
        f"{convert['train_shards']} × {shard_size:,} docs",
    )
    header = ("sentences", "wall time", "CPU time", "peak RSS", "training shards")
    return MarkdownRenderer().table([row], header, "rrrrr")


@app.command()
def main(
    train: int = typer.Option(2_680_000, min=1, help="Training sentences to generate"),
    eval_fraction: float = typer.Option(0.1, help="val and test sentences, each, as a fraction of --train"),
    data: Optional[Path] = typer.Option(
        None, help="An already generated corpus to convert (then nothing is generated, and it is kept)"
    ),
    work: Optional[Path] = typer.Option(
        None, help="Folder for the generated corpus and the output (default: a new one in /tmp)"
    ),
    shard_size: int = typer.Option(10_000, min=1),
    vocab_size: int = typer.Option(300_000, help="Generator: words per language"),
    seed: int = typer.Option(0),
    rss_target_mib: float = typer.Option(1536.0, help="Peak RSS target (1.5 GB)"),
    interval: float = typer.Option(0.5, help="Seconds between RSS samples"),
    output: Path = typer.Option(
        Path("metrics/benchmark_scale.json"), help="Results as JSON; the Markdown table goes next to it (.md)"
    ),
    convert_script: Path = typer.Option(
        CONVERTER, exists=True, help="Converter to run: the product's (or a changed copy, to compare)"
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the generated corpus and the converted output"),
):
    own_work = work is None
    work = work or Path(tempfile.mkdtemp(prefix="multinerd-scale-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    result = {"shard_size": shard_size, "rss_target_mib": rss_target_mib, "load_average_before": os.getloadavg()}
    generated = data is None
    try:
        if generated:
            data = work / "multinerd-synth"
            options = {"--train": train, "--eval-fraction": eval_fraction, "--vocab-size": vocab_size, "--seed": seed}
            command = [sys.executable, str(SCRIPTS / "generate_corpus.py"), str(data)]
            command += [str(part) for option in options.items() for part in option]
            print(f"Generating {train:,} training sentences (+{eval_fraction:.0%} val, test) in {data} ...", flush=True)
            result["generate"] = measure(command, work / "generate.log", interval * 4)
            result["generate"].pop("rss_timeline_mib")
            print(f"  {result['generate']['wall_s']:.0f} s, peak RSS {result['generate']['peak_rss_mib']:.0f} MiB")
        manifest_path = data.parent / f"{data.name}.manifest.json"
        manifest = srsly.read_json(manifest_path) if manifest_path.exists() else None
        corpus = work / "corpus"
        shutil.rmtree(corpus, ignore_errors=True)
        command = [sys.executable, str(convert_script), str(data), str(corpus), "--shard-size", str(shard_size)]
        print(f"Converting: {' '.join(command)}", flush=True)
        convert = measure(command, work / "convert.log", interval)
        report = srsly.read_json(corpus / "report.json")
        sentences = {split: report["splits"][split]["sentences"] for split in ("train", "dev", "test")}
        total = sum(sentences.values())
        if manifest is not None:
            expected = manifest["sentences"]
            if [sentences[split] for split in ("train", "dev", "test")] != [
                expected[f] for f in ("train", "val", "test")
            ]:
                raise SystemExit(f"converted {sentences}, but the generator wrote {expected}")
        convert.update(
            sentences=sentences,
            sentences_total=total,
            tokens=sum(report["splits"][s]["tokens"] for s in sentences),
            sentences_per_s=round(total / convert["wall_s"], 1),
            input_bytes=folder_bytes(data),
            corpus_bytes=folder_bytes(corpus),
            train_shards=report["splits"]["train"]["shards"],
            under_target=convert["peak_rss_mib"] < rss_target_mib,
        )
        result["convert"] = convert
        result["command"] = " ".join(command)
        result["load_average_after"] = os.getloadavg()
        result["generator_manifest"] = manifest
        result["when"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_report(output, result, markdown_table(convert, rss_target_mib, shard_size))
        verdict = "under" if convert["under_target"] else "OVER"
        print(
            f"Converted {total:,} sentences ({convert['tokens']:,} tokens, "
            f"{convert['input_bytes'] / 2**20:,.0f} MiB of JSONL) "
            f"in {convert['wall_s']:.1f} s = {convert['sentences_per_s']:,.0f} sent/s (CPU {convert['cpu_s']:.0f} s); "
            f"peak RSS {convert['peak_rss_mib']:,.0f} MiB at {convert['peak_rss_at_s']} s, {verdict} the "
            f"{rss_target_mib:,.0f} MiB target; {convert['train_shards']} training shards, "
            f"{convert['corpus_bytes'] / 2**20:,.0f} MiB written. Results in {output} and {output.with_suffix('.md')}"
        )
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
