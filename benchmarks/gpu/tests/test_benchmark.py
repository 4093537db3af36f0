"""The whole benchmark on a CPU with the tiny encoder, a few steps a side (no timing assertions:
the figures only have to be present and sane, the GPU-only ones None), its fast failure without
a GPU, and its project.yml."""

import math
import os
import subprocess
import sys

import peers
import srsly
from conftest import PROJECT
from project_check import command_problems

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
STEPS = {"warmup": 2, "timed": 3, "profiled": 2}


def benchmark(*args, cwd):
    command = [sys.executable, str(PROJECT / "scripts" / "gpu_benchmark.py"), *map(str, args)]
    return subprocess.run(command, env=ENV, cwd=cwd, capture_output=True, text=True, timeout=900)


def positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_cpu_run_with_the_tiny_encoder(tmp_path):
    output = tmp_path / "metrics" / "gpu.json"
    done = benchmark(
        "--gpu-id", -1, "--shape", "tiny", "--warmup-steps", STEPS["warmup"], "--steps", STEPS["timed"],
        "--profile-steps", STEPS["profiled"], "--train-batch", 4, "--infer-batches", "4,8", "--test-sentences", 16,
        "--profile-texts", 8, "--pool-sentences", 200, "--vocab-words", 2000, "--sweep-accumulate", 1,
        "--sweep-train-batches", "", "--sweep-max-batch-items", 64, "--time-budget", 100_000, "--output", output,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = srsly.read_json(output)
    settings = report["settings"]
    assert settings["precision"] == "fp32" and settings["peak_tflops"] is None
    assert settings["encoder"]["layers"] == 2 and positive(settings["matrix_parameters"])
    assert settings["pieces_per_word"]["train"] >= 1 and positive(settings["matmul_tflops"])
    assert settings["train_sentences"] == 4 * (STEPS["warmup"] + STEPS["timed"] + 2 * STEPS["profiled"] + 1)
    for side in ("spacy", "hf"):
        train = report[side]["train"]
        for key in ("words_per_s", "steps_per_s", "sentences_per_s", "tflops", "fraction_of_matmul", "epoch_hours"):
            assert positive(train[key]), (side, key)
        for key in ("peak_gpu_memory_mb", "gpu_busy_share", "fraction_of_peak"):  # GPU-only
            assert train[key] is None, (side, key)
        assert set(report[side]["infer"]["by_batch"]) == {"4", "8"}
        for figures in report[side]["infer"]["by_batch"].values():
            assert positive(figures["words_per_s"]) and figures["peak_gpu_memory_mb"] is None
        assert report[side]["infer"]["gpu_busy_share"] is None
        run = report["runs"][f"{side}_train"]
        assert run["timed_steps"] == STEPS["timed"] and positive(run["words"])
    # Each side's timed steps saw at least a word a sentence, at most the longest sentences.
    spacy_run = report["runs"]["spacy_train"]
    for side in ("spacy", "hf"):
        sentences = STEPS["timed"] * 4
        assert sentences <= report["runs"][f"{side}_train"]["words"] <= 210 * sentences
    for key in ("train_words_per_s", "train_tflops", "infer_4_words_per_s", "infer_8_words_per_s"):
        assert positive(report["ratios"][key]), key
    assert report["ratios"]["train_peak_gpu_memory_mb"] is None
    assert set(report["targets"]) >= {"train_words_per_s_at_least_trainer", "infer_at_least_2x_pipeline"}
    # The CPU keeps trf.cfg's settings; a sweep point overrides one of them.
    assert spacy_run["as_run"] == {"batch_sentences": 4, "accumulate_gradient": 2, "mixed_precision": False}
    assert spacy_run["thinc_allocator"] is None
    (point,) = report["sweep"]["training"]
    assert point["setting"] == {"accumulate_gradient": 1} and positive(point["spacy"]["words_per_s"])
    assert report["runs"]["spacy_train"] is not None and "hf" not in point
    assert {row["max_batch_items"] for row in report["sweep"]["inference"]} == {64, 256}  # the sweep and trf.cfg's
    host = report["profile"]["train"]["host"]
    assert math.isclose(sum(bucket["s"] for bucket in host["buckets"].values()), host["total_s"])
    assert host["buckets"]["transformer (torch)"]["s"] > 0 and report["profile"]["infer"]["host"]["top_self"]
    assert report["profile"]["train"]["device"] is None and not report["errors"]
    table = output.with_suffix(".md").read_text(encoding="utf8")
    assert table.startswith("| figure |") and "spaCy host time" in table and "max_batch_items" in table
    assert "Targets" in done.stdout


def test_without_the_gpu_it_fails_at_once(tmp_path):
    output = tmp_path / "gpu.json"
    done = benchmark("--gpu-id", 99, "--output", output, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1
    assert "99" in lines[0] and "--gpu-id -1" in lines[0]
    assert not output.exists()


def test_project_deps_name_every_script_config_and_module_used():
    assert command_problems(PROJECT, peers.FOLDERS) == {"benchmark": [], "rehearse-resume": [], "wheels": []}
