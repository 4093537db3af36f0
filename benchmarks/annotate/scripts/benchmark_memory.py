"""Memory of one annotation worker: a loaded trf pipeline annotating texts, against
`transformers.pipeline("token-classification")` of a token-classification model built from the
same encoder (its head untrained: the head's size is what matters for memory), on the same
texts, threads and batch size. Each side is a child process of its own (scripts/memory_children.py)
measured by the product's meter (`multinerd_dev.measure.run_measured`: the child's peak RSS).

spaCy's side three ways: `spacy.load` (what a script of one's own does), the same keeping every
Doc (`list(nlp.pipe(...))`: each holds its transformer output, `doc._.trf_data`), and
`load_for_annotation` (what annotate's workers load with: the transformer's weights mapped,
see multinerd.annotation.mapped_loading). Target: annotate's worker at most 1.1x the Hugging Face
pipeline's peak RSS. The two ways of loading must find the same entities.

    python scripts/benchmark_memory.py --model training/trf/model-best --encoder ../../../me5-small \\
        --texts-from ../../../shared/data/wikineural/en/val.conllu --texts 800
"""

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import srsly
import typer
from runs import machine, measured_run, shown, spread, write_report
from spacy.cli._util import string_to_list
from wasabi import MarkdownRenderer

from multinerd.data.readers import read_files

SCRIPTS = Path(__file__).resolve().parent
ROLES = {
    "hf-pipeline": "`transformers.pipeline` (token-classification)",
    "spacy-load": "`spacy.load` + `nlp.pipe`",
    "spacy-load-keep-docs": "`spacy.load` + `list(nlp.pipe(...))` (every Doc kept)",
    "annotate-load": "annotate's worker: `load_for_annotation` + `nlp.pipe`",
}
app = typer.Typer(add_completion=False)


def read_texts(source: Path, n: int) -> List[str]:
    """The first `n` sentences of a data file the product's readers take (words joined by spaces)."""
    texts = []
    for row in read_files(source):
        if not row.problem:
            texts.append(" ".join(row.tokens))
            if len(texts) == n:
                break
    return texts


def table(summary: Dict[str, Dict], ratios: Dict[str, float]) -> str:
    rows = [
        (
            ROLES[role],
            shown(figures["loaded_rss_mib"]),
            f"**{shown(figures['peak_rss_mib'])}**",
            f"{ratios[role]:.2f}×",
        )
        for role, figures in summary.items()
    ]
    header = ("worker", "peak RSS MiB after loading", "peak RSS MiB, whole run", "× `transformers.pipeline`")
    return MarkdownRenderer().table(rows, header, "lrrr")


@app.command()
def main(
    model: Path = typer.Option(..., exists=True, file_okay=False, help="A trained trf pipeline folder"),
    encoder: Path = typer.Option(
        ..., exists=True, file_okay=False, help="The Hugging Face encoder it was trained from"
    ),
    texts_from: Path = typer.Option(
        ..., exists=True, help="A data file the converter reads (TSV/CoNLL, JSONL, Parquet)"
    ),
    texts: int = typer.Option(800, min=1, help="Texts to annotate"),
    threads: int = typer.Option(1, min=1, help="Torch threads of every child"),
    batch_size: int = typer.Option(64, min=1, help="Texts per batch, every side"),
    repeats: int = typer.Option(2, min=1, help="Runs of every side, in rotating order"),
    roles: str = typer.Option(",".join(ROLES), help="Sides to run, of: " + ", ".join(ROLES)),
    output: Path = typer.Option(
        Path("metrics/benchmark_memory.json"), help="JSON report; the table goes beside it (.md)"
    ),
):
    chosen = string_to_list(roles)
    if "hf-pipeline" not in chosen or any(role not in ROLES for role in chosen):
        raise SystemExit(f"--roles: hf-pipeline and any of {', '.join(ROLES)}")
    sample = read_texts(texts_from, texts)
    labels = srsly.read_json(model / "meta.json")["labels"]["ner"]
    runs, results = [], {}
    with tempfile.TemporaryDirectory(prefix="benchmark-memory-") as work:
        work = Path(work)
        srsly.write_json(work / "texts.json", sample)
        for repeat in range(repeats):
            for role in chosen[repeat % len(chosen) :] + chosen[: repeat % len(chosen)]:
                spec = {"model": str(model), "encoder": str(encoder), "texts": str(work / "texts.json"),
                        "threads": threads, "batch_size": batch_size, "num_labels": 2 * len(labels) + 1,
                        "result": str(work / f"{role}-{repeat}.json")}  # fmt: skip
                srsly.write_json(work / "spec.json", spec)
                command = [sys.executable, SCRIPTS / "memory_children.py", role, work / "spec.json"]
                run = measured_run(command, work / f"{role}-{repeat}.log")
                result = srsly.read_json(spec["result"])
                results[role] = result["entities"]
                runs.append(
                    {**run, "role": role, "repeat": repeat, "loaded_rss_mib": round(result["loaded_rss_mib"], 1)}
                )
                print(f"  {role} #{repeat}: peak RSS {run['peak_rss_mib']:,.0f} MiB (after loading "
                      f"{result['loaded_rss_mib']:,.0f}), {run['wall_s']:.1f} s, load {run['load_average']}", flush=True)  # fmt: skip
    summary = {
        role: {
            key: spread([run[key] for run in runs if run["role"] == role]) for key in ("peak_rss_mib", "loaded_rss_mib")
        }
        for role in chosen
    }
    base = summary["hf-pipeline"]["peak_rss_mib"]["median"]
    ratios = {role: round(figures["peak_rss_mib"]["median"] / base, 3) for role, figures in summary.items()}
    spacy_sides = [role for role in chosen if role != "hf-pipeline"]
    same = all(results[role] == results[spacy_sides[0]] for role in spacy_sides)
    report = {
        "model": str(model),
        "encoder": str(encoder),
        "texts_from": str(texts_from),
        "texts": len(sample),
        "words": sum(len(text.split()) for text in sample),
        "threads": threads,
        "batch_size": batch_size,
        "runs": runs,
        "summary": summary,
        "ratio_to_hf_pipeline": ratios,
        "target": 1.1,
        "spacy_sides_find_the_same_entities": same,
        "machine": machine(),
        "load_average_after": os.getloadavg(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    markdown = table(summary, ratios)
    write_report(output, report, markdown)
    print("\n" + markdown + "\n")
    print(f"spaCy sides find the same entities: {same}; wrote {output} and {output.with_suffix('.md')}")
    if not same:
        raise SystemExit("the spaCy sides found different entities")


if __name__ == "__main__":
    app()
