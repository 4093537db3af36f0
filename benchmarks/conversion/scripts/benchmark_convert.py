"""Benchmark: this project's converter against `spacy convert` on the same real TSV data.

Each conversion runs as a child process of its own (the product's `scripts/convert.py`, and
`python -m spacy convert`), measured by the product's one meter (`multinerd_dev.measure.run_measured`:
wall time, CPU time, the child's own peak RSS), alternating the two tools, `--repeats` times each.
spaCy's `ner` converter reads `token tag` lines, so each TSV file is first rewritten (untimed)
into a temporary folder with columns 2 and 3 of every line, blank lines kept. Both sides get the
same sentences; the counts are checked after the runs from what each tool wrote.

    python scripts/benchmark_convert.py                     # ../../../shared/data/wikineural, 2 repeats
    python scripts/benchmark_convert.py DATA --repeats 3 --output metrics/benchmark_convert.json

Writes the results as JSON and the table as Markdown beside it (.md). The data is read in place
and never copied into the project (WikiNEuRal is CC BY-NC-SA).
"""

import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import srsly
import typer
from measured import CONVERTER, REPO, figures, run_checked, write_report
from wasabi import MarkdownRenderer

DATA = REPO.parent / "shared" / "data" / "wikineural"  # the shared data beside the project
app = typer.Typer(add_completion=False)


def tsv_files(data: Path) -> List[Path]:
    from multinerd.data.readers import find_files

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


def count_spacy_docs(folder: Path) -> int:
    from spacy.tokens import DocBin

    return sum(len(DocBin().from_disk(path)) for path in folder.rglob("*.spacy"))


TOOLS = {"ours": "this project", "spacy": "`spacy convert`"}  # the table's row names


def tool_command(tool: str, converter: Path, source: Path, output: Path) -> List[str]:
    if tool == "ours":
        # The data may be evaluation data only (WikiNEuRal's validation files by default).
        return [sys.executable, str(converter), str(source), str(output), "--allow-no-train"]
    return [sys.executable, "-m", "spacy", "convert", str(source), str(output), "--converter", "ner",
            "--file-type", "spacy", "--n-sents", "1"]  # fmt: skip


@app.command()
def main(
    data: Path = typer.Argument(DATA, exists=True, help="TSV file or folder"),
    repeats: int = typer.Option(2, min=1, help="Runs of each tool, alternating"),
    output: Path = typer.Option(
        Path("metrics/benchmark_convert.json"), help="Results as JSON; the Markdown table goes next to it (.md)"
    ),
    converter: Path = typer.Option(CONVERTER, exists=True, help="This project's converter (the product's)"),
    startup: bool = typer.Option(
        True, help="Also time each tool once on a one-sentence file (its fixed start-up cost)"
    ),
    keep: Optional[Path] = typer.Option(None, help="Work folder to keep (default: a temporary one, deleted)"),
):
    data, converter = data.resolve(), converter.resolve()
    files = tsv_files(data)
    work = Path(tempfile.mkdtemp(prefix="benchmark-convert-")) if keep is None else keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        spacy_in = work / "spacy_in"
        counts = reformat_for_spacy(files, data, spacy_in)
        n = counts["sentences"]
        print(
            f"{len(files)} TSV files under {data}: {n:,} sentences, {counts['tokens']:,} tokens "
            f"({counts['tokens_with_whitespace']} tokens with whitespace, which spaCy's ner reader would split)"
        )
        sources = {"ours": data, "spacy": spacy_in}
        runs = []
        load_before = os.getloadavg()
        for repeat in range(repeats):
            for tool in ("ours", "spacy") if repeat % 2 == 0 else ("spacy", "ours"):
                out = work / f"out_{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                command = tool_command(tool, converter, sources[tool], out)
                result = figures(run_checked(command, work / f"{tool}_{repeat}.log"))
                result.update(tool=tool, repeat=repeat, sentences=n, sentences_per_s=round(n / result["wall_s"], 1))
                runs.append(result)
                print(
                    f"  run {repeat + 1}/{repeats} {tool:5s}: {result['wall_s']:7.2f} s, "
                    f"{result['sentences_per_s']:9,.0f} sent/s, peak RSS {result['peak_rss_mib']:7.1f} MiB"
                )
        load_after = os.getloadavg()
        # both sides converted every sentence (untimed check, on the last runs' outputs)
        report = srsly.read_json(work / "out_ours" / "report.json")
        docs_out = {
            "ours": sum(report["splits"][s]["sentences"] for s in ("train", "dev", "test")),
            "spacy": count_spacy_docs(work / "out_spacy"),
        }
        if docs_out["ours"] != n or docs_out["spacy"] != n:
            raise SystemExit(f"sentence counts differ: {n} in the files, docs written {docs_out}")
        fixed = startup_costs(work, converter) if startup else {}
        medians = {tool: median_figures([r for r in runs if r["tool"] == tool], fixed.get(tool), n) for tool in TOOLS}
        ratio = ratios(medians)
        print_table(runs, medians, ratio)
        import spacy

        result = {
            "data": str(data),
            "files": [str(p.relative_to(data if data.is_dir() else data.parent)) for p in files],
            "sentences": n,
            "tokens": counts["tokens"],
            "repeats": repeats,
            "commands": {
                tool: " ".join(tool_command(tool, converter, f"<{tool}-input>", "<output>")) for tool in TOOLS
            },
            "runs": runs,
            "startup": fixed,
            "median": medians,
            "ratio_ours_over_spacy": ratio,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "spacy": spacy.__version__,
                "platform": platform.platform(),
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_report(output, result, markdown_table(runs, medians, ratio, repeats))
        print(f"Results in {output} and {output.with_suffix('.md')}")
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def startup_costs(work: Path, converter: Path) -> Dict[str, Dict]:
    """Each tool once on a one-sentence file: its fixed cost (Python and spaCy start-up)."""
    one = work / "one" / "train.tsv"
    one.parent.mkdir(parents=True, exist_ok=True)
    one.write_text("0\tParis\tB-LOC\n", encoding="utf8")
    one_spacy = work / "one_spacy" / "train.ner"
    one_spacy.parent.mkdir(parents=True, exist_ok=True)
    one_spacy.write_text("Paris B-LOC\n", encoding="utf8")
    fixed = {}
    for tool, src in (("ours", one.parent), ("spacy", one_spacy.parent)):
        out = work / f"one_out_{tool}"
        out.mkdir(exist_ok=True)
        command = tool_command(tool, converter, src, out) + (["--lang", "fr"] if tool == "ours" else [])
        fixed[tool] = figures(run_checked(command, work / f"one_{tool}.log"))
    return fixed


def median_figures(runs: List[Dict], fixed: Optional[Dict], sentences: int) -> Dict:
    """Medians of one tool's runs; with its start-up cost, the rate after start-up."""
    medians = {
        key: round(statistics.median(r[key] for r in runs), 3)
        for key in ("wall_s", "sentences_per_s", "peak_rss_mib", "cpu_s")
    }
    if fixed:
        medians["startup_wall_s"] = fixed["wall_s"]
        medians["startup_peak_rss_mib"] = fixed["peak_rss_mib"]
        busy = medians["wall_s"] - fixed["wall_s"]
        medians["sentences_per_s_after_startup"] = round(sentences / busy, 1) if busy > 0 else None
    return medians


def ratios(medians: Dict[str, Dict]) -> Dict[str, float]:
    """Ours over spaCy's: sentences/s, peak RSS and, where both are known, sentences/s after start-up."""
    ours, theirs = medians["ours"], medians["spacy"]
    ratio = {
        "sentences_per_s": round(ours["sentences_per_s"] / theirs["sentences_per_s"], 3),
        "peak_rss": round(ours["peak_rss_mib"] / theirs["peak_rss_mib"], 3),
    }
    if ours.get("sentences_per_s_after_startup") and theirs.get("sentences_per_s_after_startup"):
        ratio["sentences_per_s_after_startup"] = round(
            ours["sentences_per_s_after_startup"] / theirs["sentences_per_s_after_startup"], 3
        )
    return ratio


def markdown_table(runs: List[Dict], medians: Dict[str, Dict], ratio: Dict[str, float], repeats: int) -> str:
    """The README's table: each tool's wall time per run, its median sentences/s and peak RSS; the ratios."""
    rows = []
    for tool, name in TOOLS.items():
        walls = [
            f"{r['wall_s']:.2f} s" for r in sorted((r for r in runs if r["tool"] == tool), key=lambda r: r["repeat"])
        ]
        rows.append(
            (name, *walls, f"{medians[tool]['sentences_per_s']:,.0f}", f"{medians[tool]['peak_rss_mib']:,.0f} MiB")
        )
    rows.append(("ratio", *[""] * repeats, f"{ratio['sentences_per_s']:.2f}×", f"{ratio['peak_rss']:.2f}×"))
    header = ("", *(f"run {i + 1}" for i in range(repeats)), "median sentences/s", "median peak RSS")
    return MarkdownRenderer().table(rows, header, "l" + "r" * (repeats + 2))


def print_table(runs, medians, ratio) -> None:
    from wasabi import msg

    rows = [
        (r["repeat"] + 1, r["tool"], f"{r['wall_s']:.2f}", f"{r['sentences_per_s']:,.0f}", f"{r['peak_rss_mib']:.0f}")
        for r in runs
    ]
    for tool, m in medians.items():
        rows.append(("median", tool, f"{m['wall_s']:.2f}", f"{m['sentences_per_s']:,.0f}", f"{m['peak_rss_mib']:.0f}"))
    msg.table(rows, header=("run", "tool", "wall s", "sent/s", "peak RSS MiB"), aligns=("l", "l", "r", "r", "r"))
    for tool, m in medians.items():
        if "startup_wall_s" in m:
            after = m["sentences_per_s_after_startup"]
            print(
                f"{tool}: start-up (one sentence) {m['startup_wall_s']:.2f} s, {m['startup_peak_rss_mib']:.0f} MiB; "
                f"sent/s after start-up {after:,.0f}"
                if after
                else f"{tool}: start-up {m['startup_wall_s']:.2f} s"
            )
    print("ours/spacy: " + ", ".join(f"{key} {value:.2f}" for key, value in ratio.items()))


if __name__ == "__main__":
    app()
