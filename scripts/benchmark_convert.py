"""Benchmark: this project's converter against `spacy convert` on the same real TSV data.

Each conversion runs as a child process of its own; its wall time and peak RSS (`os.wait4`'s
ru_maxrss) are measured, alternating the two tools, `--repeats` times each. spaCy's `ner` converter
reads `token tag` lines, so each TSV file is first rewritten (untimed) into a temporary folder with
columns 2 and 3 of every line, blank lines kept. Both sides get the same sentences; the counts are
checked after the runs from what each tool wrote.

    python scripts/benchmark_convert.py                        # ../shared/data/wikineural, 2 repeats
    python scripts/benchmark_convert.py DATA --repeats 3 --output metrics/benchmark_convert.json

The data is read in place and never copied into the project (WikiNEuRal is CC BY-NC-SA).
"""
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

app = typer.Typer(add_completion=False)


def tsv_files(data: Path) -> List[Path]:
    from multinerd.readers import find_files

    return [path for path, fmt, _, _ in find_files(data) if fmt == "tsv"]


def reformat_for_spacy(files: List[Path], data: Path, folder: Path) -> Dict[str, int]:
    """`<i>\\t<token>\\t<tag>...` -> `<token> <tag>`, blank lines kept; returns sentence and oddity counts."""
    counts = {"sentences": 0, "tokens": 0, "tokens_with_whitespace": 0}
    base = data if data.is_dir() else data.parent
    for path in files:
        target = (folder / path.relative_to(base)).with_suffix(".ner")
        target.parent.mkdir(parents=True, exist_ok=True)
        in_sentence = False
        with path.open(encoding="utf8") as src, target.open("w", encoding="utf8") as out:
            for line in src:
                columns = line.rstrip("\r\n").split("\t")
                if len(columns) < 3 or not line.strip():
                    out.write("\n")
                    in_sentence = False
                    continue
                token, tag = columns[1], columns[2].strip()
                if len(token.split()) != 1:
                    counts["tokens_with_whitespace"] += 1
                out.write(f"{token} {tag}\n")
                counts["tokens"] += 1
                if not in_sentence:
                    counts["sentences"] += 1
                    in_sentence = True
    return counts


def measure(command: List[str], log: Path, env: dict) -> Dict:
    """Run `command` as a child process; its wall time (s) and peak RSS (MiB)."""
    with log.open("w") as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = log.read_text(encoding="utf8", errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(command)} failed with exit status {child.returncode}:\n{tail}")
    return {"wall_s": round(wall, 3), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}


def count_spacy_docs(folder: Path) -> int:
    from spacy.tokens import DocBin

    return sum(len(DocBin().from_disk(path)) for path in folder.rglob("*.spacy"))


@app.command()
def main(
    data: Path = typer.Argument(Path("../shared/data/wikineural"), help="TSV file or folder (relative paths: from the project root)"),
    repeats: int = typer.Option(2, min=1, help="Runs of each tool, alternating"),
    output: Path = typer.Option(Path("metrics/benchmark_convert.json"), help="Results as JSON (relative: from the project root)"),
    startup: bool = typer.Option(True, help="Also time each tool once on a one-sentence file (its fixed start-up cost)"),
    keep: Optional[Path] = typer.Option(None, help="Work folder to keep (default: a temporary one, deleted)"),
):
    data = data if data.is_absolute() else ROOT / data
    output = output if output.is_absolute() else ROOT / output
    files = tsv_files(data)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    work = Path(tempfile.mkdtemp(prefix="benchmark-convert-")) if keep is None else keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        spacy_in = work / "spacy_in"
        counts = reformat_for_spacy(files, data, spacy_in)
        n = counts["sentences"]
        print(f"{len(files)} TSV files under {data}: {n:,} sentences, {counts['tokens']:,} tokens "
              f"({counts['tokens_with_whitespace']} tokens with whitespace, which spaCy's ner reader would split)")
        commands = {
            "ours": lambda src, out: [sys.executable, str(ROOT / "scripts" / "convert.py"), str(src), str(out)],
            "spacy": lambda src, out: [sys.executable, "-m", "spacy", "convert", str(src), str(out),
                                       "--converter", "ner", "--file-type", "spacy", "--n-sents", "1"],
        }
        sources = {"ours": data, "spacy": spacy_in}
        runs = []
        load_before = os.getloadavg()
        for repeat in range(repeats):
            order = ("ours", "spacy") if repeat % 2 == 0 else ("spacy", "ours")
            for tool in order:
                out = work / f"out_{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                result = measure(commands[tool](sources[tool], out), work / f"{tool}_{repeat}.log", env)
                result.update(tool=tool, repeat=repeat, sentences=n, sentences_per_s=round(n / result["wall_s"], 1))
                runs.append(result)
                print(f"  run {repeat + 1}/{repeats} {tool:5s}: {result['wall_s']:7.2f} s, "
                      f"{result['sentences_per_s']:9,.0f} sent/s, peak RSS {result['peak_rss_mib']:7.1f} MiB")
        load_after = os.getloadavg()
        # both sides converted every sentence (untimed check, on the last runs' outputs)
        report = json.loads((work / "out_ours" / "report.json").read_text(encoding="utf8"))
        docs_out = {"ours": sum(report["splits"][s]["sentences"] for s in ("train", "dev", "test")),
                    "spacy": count_spacy_docs(work / "out_spacy")}
        if docs_out["ours"] != n or docs_out["spacy"] != n:
            raise SystemExit(f"sentence counts differ: {n} in the files, docs written {docs_out}")
        fixed = {}
        if startup:
            one = work / "one" / "train.tsv"
            one.parent.mkdir(parents=True, exist_ok=True)
            one.write_text("0\tParis\tB-LOC\n", encoding="utf8")
            one_spacy = work / "one_spacy" / "train.ner"
            one_spacy.parent.mkdir(parents=True, exist_ok=True)
            one_spacy.write_text("Paris B-LOC\n", encoding="utf8")
            for tool, src in (("ours", one.parent), ("spacy", one_spacy.parent)):
                out = work / f"one_out_{tool}"
                out.mkdir(exist_ok=True)
                cmd = commands[tool](src, out) + (["--lang", "fr"] if tool == "ours" else [])
                fixed[tool] = measure(cmd, work / f"one_{tool}.log", env)
        medians = {}
        for tool in ("ours", "spacy"):
            mine = [r for r in runs if r["tool"] == tool]
            medians[tool] = {key: round(statistics.median(r[key] for r in mine), 3)
                             for key in ("wall_s", "sentences_per_s", "peak_rss_mib", "cpu_s")}
            if tool in fixed:
                medians[tool]["startup_wall_s"] = fixed[tool]["wall_s"]
                medians[tool]["startup_peak_rss_mib"] = fixed[tool]["peak_rss_mib"]
                busy = medians[tool]["wall_s"] - fixed[tool]["wall_s"]
                medians[tool]["sentences_per_s_after_startup"] = round(n / busy, 1) if busy > 0 else None
        ratio = {"sentences_per_s": round(medians["ours"]["sentences_per_s"] / medians["spacy"]["sentences_per_s"], 3),
                 "peak_rss": round(medians["ours"]["peak_rss_mib"] / medians["spacy"]["peak_rss_mib"], 3)}
        if startup and medians["ours"].get("sentences_per_s_after_startup") and medians["spacy"].get("sentences_per_s_after_startup"):
            ratio["sentences_per_s_after_startup"] = round(
                medians["ours"]["sentences_per_s_after_startup"] / medians["spacy"]["sentences_per_s_after_startup"], 3)
        print_table(runs, medians, ratio)
        import spacy

        result = {
            "data": str(data), "files": [str(p.relative_to(data if data.is_dir() else data.parent)) for p in files],
            "sentences": n, "tokens": counts["tokens"], "repeats": repeats,
            "commands": {tool: " ".join(commands[tool](f"<{tool}-input>", "<output>")) for tool in commands},
            "runs": runs, "startup": fixed, "median": medians, "ratio_ours_over_spacy": ratio,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "spacy": spacy.__version__,
                        "platform": platform.platform(), "load_average_before": load_before, "load_average_after": load_after},
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
        print(f"Results in {output}")
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def print_table(runs, medians, ratio) -> None:
    from wasabi import msg

    rows = [(r["repeat"] + 1, r["tool"], f"{r['wall_s']:.2f}", f"{r['sentences_per_s']:,.0f}", f"{r['peak_rss_mib']:.0f}")
            for r in runs]
    for tool, m in medians.items():
        rows.append(("median", tool, f"{m['wall_s']:.2f}", f"{m['sentences_per_s']:,.0f}", f"{m['peak_rss_mib']:.0f}"))
    msg.table(rows, header=("run", "tool", "wall s", "sent/s", "peak RSS MiB"), aligns=("l", "l", "r", "r", "r"))
    for tool, m in medians.items():
        if "startup_wall_s" in m:
            after = m["sentences_per_s_after_startup"]
            print(f"{tool}: start-up (one sentence) {m['startup_wall_s']:.2f} s, {m['startup_peak_rss_mib']:.0f} MiB; "
                  f"sent/s after start-up {after:,.0f}" if after else f"{tool}: start-up {m['startup_wall_s']:.2f} s")
    print("ours/spacy: " + ", ".join(f"{key} {value:.2f}" for key, value in ratio.items()))


if __name__ == "__main__":
    app()
