"""Annotation speed and memory: the product's `scripts/annotate.py` against `spacy apply`, on the
same texts with the same pipeline and batch size, each run a child process measured by the
product's meter (RSS summed over the process tree: worker processes and Ray's count).

The texts: a corpus shaped like MultiNERD, made by the conversion benchmark's generator
(`../conversion/scripts/generate_corpus.py`, run as a command), its sentences as JSONL texts
({"id", "text"}; words joined by spaces, Chinese without), shuffled across languages.

Engines: `spacy apply` (one process, every Doc held in one DocBin until the end), annotate
`--engine local` with 1 and 2 processes, `--engine ray` with 1 and 2 actors (embedded Ray),
in a rotating order, `--repeats` times; `spacy apply` and local with 1 process also on the
first `--small` texts, to show whether memory grows with the corpus. Every run's output is
counted (texts in = rows out) and deleted.

    python scripts/benchmark_speed.py --model ../../training/cnn/model-best --sentences 200000 --small 50000
"""

import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import srsly
import typer
from runs import ANNOTATE, REPO, machine, measured_run, shown, spread, write_report
from spacy.cli._util import string_to_list
from wasabi import MarkdownRenderer

GENERATOR = REPO / "benchmarks" / "conversion" / "scripts" / "generate_corpus.py"
SPACELESS = {"zh"}
# name -> (the table's label, annotate's options; None: spacy apply)
ENGINES = {
    "spacy-apply": ("`spacy apply`", None),
    "local-1": ("annotate `--engine local`, 1 process", ["--engine", "local", "--workers", "1"]),
    "local-2": ("annotate `--engine local`, 2 processes", ["--engine", "local", "--workers", "2"]),
    "ray-1": ("annotate `--engine ray`, 1 actor", ["--engine", "ray", "--workers", "1"]),
    "ray-2": ("annotate `--engine ray`, 2 actors", ["--engine", "ray", "--workers", "2"]),
}
SMALL_ENGINES = ("spacy-apply", "local-1")

app = typer.Typer(add_completion=False)


def make_texts(work: Path, sentences: int, vocab_size: int, seed: int) -> Path:
    """Generate `sentences` MultiNERD-shaped training sentences and write them as JSONL texts, shuffled."""
    import subprocess

    synth = work / "synth"
    command = [sys.executable, str(GENERATOR), str(synth), "--train", str(sentences), "--eval-fraction", "0",
               "--vocab-size", str(vocab_size), "--seed", str(seed), "--workers", "1"]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    texts = []
    for path in sorted((synth / "train").glob("*.jsonl")):
        for row in srsly.read_jsonl(path):
            texts.append(("" if row["lang"] in SPACELESS else " ").join(row["tokens"]))
    shutil.rmtree(synth)
    random.Random(seed).shuffle(texts)
    path = work / "texts.jsonl"
    srsly.write_jsonl(path, ({"id": f"s{i}", "text": text} for i, text in enumerate(texts)))
    return path


def first_lines(source: Path, target: Path, n: int) -> Path:
    with source.open(encoding="utf8") as f, target.open("w", encoding="utf8") as out:
        for _, line in zip(range(n), f):
            out.write(line)
    return target


def run_engine(engine: str, model: str, texts: Path, n: int, work: Path, batch_size: int, block_size: int, tag: str):
    """One measured run, its output counted (texts in = rows out), then deleted."""
    _, options = ENGINES[engine]
    output = work / f"out-{tag}"
    if options is None:
        command = [sys.executable, "-m", "spacy", "apply", model, texts, output.with_suffix(".spacy"),
                   "--batch-size", batch_size, "--force"]  # fmt: skip
    else:
        command = [sys.executable, ANNOTATE, texts, output, "--model", model, "--batch-size", batch_size,
                   "--block-size", block_size, *options]  # fmt: skip
    result = measured_run(command, work / f"{tag}.log")
    if options is None:
        from spacy.tokens import DocBin

        rows = len(DocBin().from_disk(output.with_suffix(".spacy")))
        output.with_suffix(".spacy").unlink()
    else:
        rows = srsly.read_json(output / "_annotate.json")["last_run"]["rows_out"]
        shutil.rmtree(output)
    if rows != n:
        raise SystemExit(f"{engine} wrote {rows:,} rows for {n:,} texts (log: {work / f'{tag}.log'})")
    return {**result, "engine": engine, "texts": n, "texts_per_s": round(n / result["wall_s"], 1)}


def summarize(runs: List[Dict], n: int) -> Dict[str, Dict]:
    """Per engine, over its runs on `n` texts: texts/s and peak tree RSS, median and range."""
    summary = {}
    for engine in ENGINES:
        mine = [run for run in runs if run["engine"] == engine and run["texts"] == n]
        if mine:
            summary[engine] = {
                "runs": len(mine),
                "texts_per_s": spread([run["texts_per_s"] for run in mine]),
                "peak_tree_rss_mib": spread([run["peak_tree_rss_mib"] for run in mine]),
                "peak_rss_mib": spread([run["peak_rss_mib"] for run in mine]),
            }
    return summary


def ratio(summary: Dict, engine: str, other: str, key: str) -> Optional[float]:
    if engine not in summary or other not in summary:
        return None
    return round(summary[engine][key]["median"] / summary[other][key]["median"], 2)


def tables(report: Dict) -> str:
    big, small = report["summary"], report["summary_small"]
    md = MarkdownRenderer()
    rows = []
    for engine, figures in big.items():
        runs = [run for run in report["runs"] if run["engine"] == engine and run["texts"] == report["texts"]]
        rows.append(
            (
                ENGINES[engine][0],
                " / ".join(f"{run['texts_per_s']:,.0f}" for run in runs),
                f"**{shown(figures['texts_per_s'])}**",
                f"{ratio(big, engine, 'spacy-apply', 'texts_per_s')}×",
                " / ".join(f"{run['peak_tree_rss_mib']:,.0f}" for run in runs),
                f"{ratio(big, engine, 'spacy-apply', 'peak_tree_rss_mib')}×",
            )
        )
    header = ("engine", "texts/s, each run", "texts/s, median (range)", "× `spacy apply`", "peak RSS MiB, each run",
              "× `spacy apply`")  # fmt: skip
    speed = md.table(rows, header, "lrrrrr")
    if not small:
        return speed
    rows = []
    for engine in (engine for engine in small if engine in big):
        before, after = small[engine]["peak_tree_rss_mib"], big[engine]["peak_tree_rss_mib"]
        rows.append((ENGINES[engine][0], shown(before), shown(after), f"{after['median'] / before['median']:.2f}×"))
    header = (
        "engine",
        f"peak RSS MiB, {report['small']:,} texts",
        f"peak RSS MiB, {report['texts']:,} texts",
        "growth",
    )
    return speed + "\n\n" + md.table(rows, header, "lrrr")


@app.command()
def main(
    model: str = typer.Option(str(REPO / "training" / "cnn" / "model-best"), help="Pipeline folder or package"),
    sentences: int = typer.Option(200_000, min=1, help="Texts to annotate"),
    small: int = typer.Option(50_000, min=0, help="Also run spacy apply and local (1 process) on this many; 0: not"),
    repeats: int = typer.Option(2, min=1, help="Runs of every engine, in rotating order"),
    engines: str = typer.Option(",".join(ENGINES), help="Engines to run, of: " + ", ".join(ENGINES)),
    batch_size: int = typer.Option(1000, min=1, help="Texts per nlp.pipe batch, every engine"),
    block_size: int = typer.Option(10_000, min=1, help="annotate's texts per block"),
    vocab_size: int = typer.Option(300_000, help="Generator: words per language"),
    seed: int = typer.Option(0),
    output: Path = typer.Option(
        Path("metrics/benchmark_speed.json"), help="JSON report; the tables go beside it (.md)"
    ),
):
    chosen = string_to_list(engines)
    unknown = [engine for engine in chosen if engine not in ENGINES]
    if unknown:
        raise SystemExit(f"--engines: unknown {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    work = Path(tempfile.mkdtemp(prefix="benchmark-annotate-"))
    try:
        print(f"Generating {sentences:,} texts ...", flush=True)
        texts = make_texts(work, sentences, vocab_size, seed)
        small_texts = first_lines(texts, work / "small.jsonl", small) if small and small < sentences else None
        runs, load_before = [], os.getloadavg()
        for repeat in range(repeats):
            order = chosen[repeat % len(chosen) :] + chosen[: repeat % len(chosen)]
            jobs = [(engine, texts, sentences) for engine in order]
            if small_texts:
                jobs += [(engine, small_texts, small) for engine in SMALL_ENGINES if engine in chosen]
            for engine, path, n in jobs:
                tag = f"{engine}-{n}-{repeat}"
                run = run_engine(engine, model, path, n, work, batch_size, block_size, tag)
                runs.append({**run, "repeat": repeat})
                print(
                    f"  {tag}: {run['texts_per_s']:,.0f} texts/s, {run['wall_s']:,.1f} s, peak RSS "
                    f"{run['peak_tree_rss_mib']:,.0f} MiB (largest process {run['peak_rss_mib']:,.0f}), "
                    f"load {run['load_average']}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarize(runs, sentences)
    report = {
        "texts": sentences,
        "small": small if small_texts else 0,
        "model": model,
        "batch_size": batch_size,
        "block_size": block_size,
        "repeats": repeats,
        "runs": runs,
        "summary": summary,
        "summary_small": summarize(runs, small) if small_texts else {},
        "ratios": {
            "ray_2_over_1": ratio(summary, "ray-2", "ray-1", "texts_per_s"),
            "local_2_over_1": ratio(summary, "local-2", "local-1", "texts_per_s"),
            "local_1_over_spacy_apply": ratio(summary, "local-1", "spacy-apply", "texts_per_s"),
        },
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    markdown = tables(report)
    write_report(output, report, markdown)
    print("\n" + markdown + "\n")
    print(f"Ratios: {report['ratios']}; wrote {output} and {output.with_suffix('.md')}")


if __name__ == "__main__":
    app()
