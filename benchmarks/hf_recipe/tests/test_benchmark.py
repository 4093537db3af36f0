"""A smoke run of the whole benchmark on a tiny self-built BERT for a few steps (no timing
assertions: figures only have to be present and sane), its fast failures, and its project.yml."""

import math
import os
import subprocess
import sys

from conftest import PROJECT, SAMPLE
from project_check import command_problems

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def benchmark(*args, cwd, timeout=600):
    command = [sys.executable, str(PROJECT / "scripts" / "benchmark.py"), *map(str, args)]
    return subprocess.run(command, env=ENV, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_benchmark_smoke(tmp_path, tiny_bert):
    """The whole command on a tiny BERT: 50 training and 20 test sentences, 4 steps a side."""
    import srsly

    output = tmp_path / "metrics" / "benchmark.json"
    done = benchmark(
        "--transformer", tiny_bert, "--data", SAMPLE, "--train-sentences", 50, "--test-sentences", 20,
        "--epochs", 1, "--threads", 1, "--batch-size", 8, "--sweep", 4, "--output", output, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = srsly.read_json(output)
    assert set(report["ratios"]) >= {"f1", "train_words_per_s", "infer_vs_pipeline", "infer_vs_forward"}
    for side in ("spacy", "hf"):
        for key in ("precision", "recall", "f1"):
            assert 0.0 <= report[side][key]["median"] <= 1.0
    for key in ("train_words_per_s", "infer_words_per_s", "train_peak_rss_mb", "infer_peak_rss_mb"):
        assert positive(report["spacy"][key]["median"]), key
    for key in ("train_words_per_s", "pipeline_words_per_s", "forward_words_per_s", "train_peak_rss_mb",
                "pipeline_peak_rss_mb", "forward_peak_rss_mb"):  # fmt: skip
        assert positive(report["hf"][key]["median"]), key
    for key in ("train_words_per_s", "infer_vs_pipeline", "infer_vs_forward"):
        assert positive(report["ratios"][key]), key
    # F1 over F1: undefined (None) only where the peer's F1 is 0, which a 4-step tiny model may give
    if report["hf"]["f1"]["median"] > 0:
        assert math.isfinite(report["ratios"]["f1"]) and report["ratios"]["f1"] >= 0
    else:
        assert report["ratios"]["f1"] is None
    settings = report["settings"]
    assert settings["train_sentences"] == 50 and settings["test_sentences"] == 20
    assert settings["optimizer_steps"] == 4 and settings["threads"] == 1 and settings["infer_batch_size"] == 8
    run = report["runs"][0]
    assert run["spacy"]["train"]["steps"] == 5  # spaCy's steps 0..4: see scripts/benchmark.py
    assert run["hf"]["train"]["steps"] == 4
    for scores in (
        run["spacy"]["infer"]["scores"],
        run["hf"]["train"]["scores"],
        run["hf"]["pipeline"]["scores_from_text"],
    ):
        assert set(scores) >= {"precision", "recall", "f1", "accuracy", "support"} and 0 <= scores["accuracy"] <= 1
    sweep = report["batch_sweep"]
    assert [row["batch_size"] for row in sweep["rows"]] == [4]
    for key in ("spacy", "pipeline", "forward"):
        assert positive(sweep["rows"][0][key]["words_per_s"]) and positive(sweep["rows"][0][key]["peak_rss_mb"])
        assert sweep["best"][key]["batch_size"] == 4
    assert positive(sweep["best_vs_best"]["infer_vs_pipeline"])
    for key in ("train_words_per_s", "infer_vs_pipeline", "infer_vs_forward"):
        assert positive(report["cpu_time"]["ratios"][key]), key
    assert run["spacy"]["train"]["torch_threads"] == run["hf"]["train"]["torch_threads"] == 1
    table = output.with_suffix(".md").read_text(encoding="utf8")
    assert table.startswith("| figure |") and "| each at its best |" in table
    assert "seqeval F1" in done.stdout and "Ratios" in done.stdout


def test_benchmark_fails_fast_on_a_missing_encoder(tmp_path):
    output = tmp_path / "out.json"
    done = benchmark("--transformer", tmp_path / "nothing", "--data", SAMPLE, "--output", output, cwd=tmp_path)
    assert done.returncode == 1
    assert "no such folder" in done.stdout
    assert not output.exists()
    # a hub name, neither cached nor reachable offline
    done = benchmark("--transformer", "no-such-model-name", "--data", SAMPLE, "--output", output, cwd=tmp_path)
    assert done.returncode == 1
    assert "not a local folder nor in the Hugging Face cache" in done.stdout
    assert not output.exists()


def test_project_deps_name_every_script_config_and_product_module_used():
    assert command_problems(PROJECT) == {"benchmark": []}
