"""Smoke runs of both annotation benchmarks on tiny inputs (a few hundred generated texts with a
rule-based pipeline; twenty texts with a trf pipeline on a tiny BERT): every engine and side run,
every figure present and sane, the counts matching; no timing assertions. And the project's deps."""

import os
import subprocess
import sys

import pytest
import srsly
from benchmark_memory import read_texts
from conftest import PROJECT, SAMPLE
from project_check import command_problems
from runs import shown, spread

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
CONLLU = "0\tMarie\tB-PER\n1\tCurie\tI-PER\n2\tlived\tO\n3\tin\tO\n4\tParis\tB-LOC\n\n0\tRome\tB-LOC\n1\tis\tO\n2\told\tO\n\n"


def run(script, *args, cwd):
    command = [sys.executable, str(PROJECT / "scripts" / script), *map(str, args)]
    done = subprocess.run(command, env=ENV, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def positive(value):
    return isinstance(value, (int, float)) and value > 0


@pytest.fixture(scope="module")
def ruler_model(tmp_path_factory):
    """A rule-based pipeline: quick to load, entities on the generated texts' capitalised words."""
    import spacy

    nlp = spacy.blank("xx")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "NAME", "pattern": [{"IS_TITLE": True}]}])
    path = tmp_path_factory.mktemp("ruler") / "model"
    nlp.to_disk(path)
    return path


def test_speed_benchmark_smoke(ruler_model, tmp_path):
    output = tmp_path / "metrics" / "speed.json"
    args = ("--model", ruler_model, "--sentences", 300, "--small", 100, "--vocab-size", 2000, "--repeats", 1,
            "--block-size", 100, "--batch-size", 50, "--output", output)  # fmt: skip
    run("benchmark_speed.py", *args, cwd=tmp_path)
    report = srsly.read_json(output)
    assert [(r["engine"], r["texts"]) for r in report["runs"]] == [
        ("spacy-apply", 300), ("local-1", 300), ("local-2", 300), ("ray-1", 300), ("ray-2", 300),
        ("spacy-apply", 100), ("local-1", 100),
    ]  # fmt: skip
    for figures in report["runs"]:
        for key in ("wall_s", "cpu_s", "peak_rss_mib", "texts_per_s"):
            assert positive(figures[key]), key
        assert figures["peak_tree_rss_mib"] >= figures["peak_rss_mib"]
    assert all(positive(value) for value in report["ratios"].values())
    # Several processes are summed: 2 local workers, or Ray's, weigh more than the largest alone.
    local_2 = next(r for r in report["runs"] if r["engine"] == "local-2")
    assert local_2["peak_tree_rss_mib"] > 1.5 * local_2["peak_rss_mib"]
    speed, flat = output.with_suffix(".md").read_text(encoding="utf8").split("\n\n")
    assert [line.split(" | ")[0] for line in speed.splitlines()[2:]] == [
        "| `spacy apply`", "| annotate `--engine local`, 1 process", "| annotate `--engine local`, 2 processes",
        "| annotate `--engine ray`, 1 actor", "| annotate `--engine ray`, 2 actors",
    ]  # fmt: skip
    assert "100 texts" in flat.splitlines()[0] and len(flat.strip().splitlines()) == 4
    assert not list(tmp_path.glob("benchmark-annotate-*"))  # the generated texts and outputs are gone


@pytest.fixture(scope="module")
def trf_model(tmp_path_factory, sample_corpus):
    """The product's trf config on a tiny BERT, initialised on the sample (untrained), and the BERT."""
    from annotate_helpers import initialised_pipeline

    from multinerd_dev.tiny_bert import make_tiny_bert

    encoder = make_tiny_bert(SAMPLE, tmp_path_factory.mktemp("encoder") / "tiny-bert")
    overrides = {"components.transformer.model.name": str(encoder)}
    return initialised_pipeline(
        "trf.cfg", sample_corpus, tmp_path_factory.mktemp("trf") / "model", **overrides
    ), encoder


def test_memory_benchmark_smoke(trf_model, tmp_path):
    model, encoder = trf_model
    data = tmp_path / "en" / "val.conllu"
    data.parent.mkdir()
    data.write_text(CONLLU * 10, encoding="utf8")
    output = tmp_path / "metrics" / "memory.json"
    args = (
        "--model",
        model,
        "--encoder",
        encoder,
        "--texts-from",
        data,
        "--texts",
        20,
        "--repeats",
        1,
        "--output",
        output,
    )
    run("benchmark_memory.py", *args, cwd=tmp_path)
    report = srsly.read_json(output)
    assert report["texts"] == 20 and report["words"] == 10 * (5 + 3)
    assert [run["role"] for run in report["runs"]] == [
        "hf-pipeline",
        "spacy-load",
        "spacy-load-keep-docs",
        "annotate-load",
    ]
    for figures in report["runs"]:
        assert positive(figures["peak_rss_mib"]) and 0 < figures["loaded_rss_mib"] <= figures["peak_rss_mib"] * 1.01
    assert report["ratio_to_hf_pipeline"]["hf-pipeline"] == 1.0 and report["spacy_sides_find_the_same_entities"] is True
    lines = output.with_suffix(".md").read_text(encoding="utf8").splitlines()
    assert lines[0].startswith("| worker |") and len(lines) == 6 and lines[-1].endswith("× |")


def test_read_texts_takes_the_first_sentences_as_text(tmp_path):
    path = tmp_path / "val.conllu"
    path.write_text(CONLLU, encoding="utf8")
    assert read_texts(path, 1) == ["Marie Curie lived in Paris"]
    assert read_texts(path, 5) == ["Marie Curie lived in Paris", "Rome is old"]


def test_spread_and_its_text():
    figure = spread([3.0, 1.0, 2.0])
    assert figure == {"median": 2.0, "min": 1.0, "max": 3.0}
    assert shown(figure) == "2 (1–3)" and shown(spread([5.0])) == "5"


def test_project_deps_name_every_script_and_product_module_used():
    assert command_problems(PROJECT) == {"speed": [], "memory": []}
