"""A smoke run of the whole benchmark on a tiny self-built BERT for a few steps (no timing
assertions: figures only have to be present and sane), its fast failures, and its project.yml."""

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import PROJECT, SAMPLE
from project_check import command_problems

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def benchmark(*args, cwd, timeout=600):
    command = [sys.executable, str(PROJECT / "scripts" / "benchmark.py"), *map(str, args)]
    return subprocess.run(command, env=ENV, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_benchmark_smoke(tmp_path, tiny_bert):
    """The whole command on a tiny BERT, tuning mode included: 10 languages of the sample, 8
    training sentences each (a tenth carved for dev in tuning) and 2 test sentences each; two
    grid points a side, the chosen points at two seeds and twice the budget; the base runs at
    the published multilingual run's rates, and every inference child at fp32 and int8."""
    import srsly

    output = tmp_path / "metrics" / "benchmark.json"
    done = benchmark(
        "--transformer", tiny_bert, "--data", SAMPLE, "--train-sentences", 8, "--test-sentences", 2,
        "--epochs", 1, "--threads", 1, "--batch-size", 8, "--sweep", 4, "--output", output,
        "--tune", "true", "--grid-lrs", "1e-4,1e-3", "--grid-head-lrs", "same", "--budgets", "1,2", "--tune-seeds", 2,
        "--jobs", 2, "--learn-rate", 5e-5, "--head-learn-rate", 2e-3, "--precisions", "fp32,int8",
        "--calibration-sentences", 2, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = srsly.read_json(output)
    check_precisions(report)
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
    languages = settings["languages"]
    assert len(languages) == 10
    assert settings["train_sentences"] == 70 and settings["dev_sentences"] == 10 and settings["test_sentences"] == 20
    assert settings["optimizer_steps"] == 5 and settings["threads"] == 1 and settings["infer_batch_size"] == 8
    # Tuning: every grid point scored on dev and test, the chosen ones by dev, at 2 seeds and 2 budgets.
    tuning = report["tuning"]
    assert len(tuning["grid"]) == 4
    for side in ("spacy", "hf"):
        mine = [result for result in tuning["grid"] if result["point"]["side"] == side]
        assert tuning["chosen"][side] == max(mine, key=lambda result: result["dev"]["f1"])["point"]
    assert len(tuning["chosen_runs"]) == 2 * 2 * 2
    for key in ("f1_vs_best", "f1_vs_best_2x"):
        assert key in report["ratios"]
    for budget in ("1x", "2x"):
        comparison = tuning["best_vs_best"][budget]
        assert comparison["seeds"] == [0, 1] and set(comparison["per_language"]) == set(languages)
    for lang, row in report["per_language"].items():
        assert 0 <= row["spacy"] <= 1 and 0 <= row["hf"] <= 1 and "ratio_vs_best" in row
    assert set(report["per_language_as_written"]) == set(languages)
    run = report["runs"][0]
    assert run["spacy"]["train"]["steps"] == 6  # spaCy's steps 0..5: see scripts/benchmark.py
    assert run["hf"]["train"]["steps"] == 5
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
    assert "(chosen on dev)" in table and "2x: overall" in table
    assert "seqeval F1" in done.stdout and "Ratios" in done.stdout


def test_one_pass_mode_trains_on_twice_the_sentences_at_2x(tmp_path, tiny_bert):
    """The one-pass regime (--epochs 1 --budget-by data) on the sample's 10 languages, Chinese
    among them: 2x trains once over twice the sentences of each language, 1x's among them, in
    twice the steps; both sides, scored per language."""
    import srsly

    output, work = tmp_path / "one_pass.json", tmp_path / "work"
    done = benchmark(
        "--transformer", tiny_bert, "--data", SAMPLE, "--train-sentences", 8, "--dev-sentences", 2,
        "--test-sentences", 2, "--epochs", 1, "--repeats", 1, "--batch-size", 8, "--output", output,
        "--work-dir", work, "--tune", "true", "--grid-lrs", "1e-3", "--grid-head-lrs", "2e-3", "--budgets", "1,2",
        "--budget-by", "data", "--tune-seeds", 1, "--keep-models", "true", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = srsly.read_json(output)
    tuning = report["settings"]["tuning"]
    assert tuning["budget_by"] == "data"
    assert tuning["train_sentences"] == {"1x": 60, "2x": 120} and tuning["optimizer_steps"] == {"1x": 4, "2x": 8}
    once, twice = (
        [tuple(row["tokens"]) for row in srsly.read_jsonl(work / name)] for name in ("train.jsonl", "train-x2.jsonl")
    )
    assert set(once) < set(twice) and len(set(twice)) == 120
    for name, steps in (("hf_lr_0.001_head_0.002-seed0-x2-train", 8), ("spacy_lr_0.001_head_0.002-seed0-x2-train", 9)):
        assert srsly.read_json(work / f"{name}.result.json")["steps"] == steps  # spaCy counts steps 0..8
    kept = work / "tuning"  # --keep-models: each point's models, to load again
    assert (kept / "spacy_lr_0.001_head_0.002-seed0-x2" / "model" / "model-last" / "config.cfg").is_file()
    assert (kept / "hf_lr_0.001_head_0.002-seed0-x2" / "config.json").is_file()
    comparison = report["tuning"]["best_vs_best"]["2x"]
    assert comparison["seeds"] == [0] and "zh" in comparison["per_language"] and len(comparison["per_language"]) == 10
    assert "f1_vs_best_2x" in report["ratios"] and "2x: zh" in output.with_suffix(".md").read_text(encoding="utf8")


def test_one_pass_mode_needs_the_dev_sentences_it_carves(tmp_path, tiny_bert):
    done = benchmark(
        "--transformer", tiny_bert, "--data", SAMPLE, "--train-sentences", 8, "--tune", "true", "--budget-by", "data",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1 and "--dev-sentences" in done.stdout.splitlines()[-1]
    assert not (tmp_path / "metrics").exists()


def test_resume_takes_the_earlier_runs_of_the_same_specs_and_trains_the_rest(tmp_path, tiny_bert):
    """A grid extended in the same work folder: the first run's point is taken from it, with the
    same scores; the new point and a point whose data changed (another split seed) are trained."""
    import srsly

    def run(name, grid_lrs, *extra):
        output = tmp_path / f"{name}.json"
        done = benchmark(
            "--transformer", tiny_bert, "--data", SAMPLE, "--train-sentences", 8, "--test-sentences", 2,
            "--batch-size", 8, "--output", output, "--work-dir", tmp_path / "work", "--tune", "true",
            "--grid-lrs", grid_lrs, "--grid-head-lrs", "same", "--budgets", 1, "--tune-seeds", 1, *extra, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return {(r["point"]["side"], r["point"]["learn_rate"]): r for r in srsly.read_json(output)["tuning"]["grid"]}

    first = run("first", "1e-3")
    assert not any(result["reused"] for result in first.values())
    extended = run("extended", "1e-3,1e-4", "--resume", "true")
    for side in ("spacy", "hf"):
        assert extended[side, 1e-3]["reused"] and not extended[side, 1e-4]["reused"]
        assert extended[side, 1e-3]["dev"] == first[side, 1e-3]["dev"]
        assert extended[side, 1e-3]["test"] == first[side, 1e-3]["test"]
    resplit = run("resplit", "1e-3", "--resume", "true", "--split-seed", 1)
    assert not any(result["reused"] for result in resplit.values())


def test_resume_needs_the_work_folder_of_the_earlier_run(tmp_path, tiny_bert):
    done = benchmark("--transformer", tiny_bert, "--data", SAMPLE, "--tune", "true", "--resume", "true", cwd=tmp_path)
    assert done.returncode == 1 and "--work-dir" in done.stdout.splitlines()[-1]
    assert not (tmp_path / "metrics").exists()


def test_a_failed_child_leaves_no_result_for_its_spec(tmp_path):
    """The spec of a child that fails replaces the earlier one: the earlier result must not
    pass for its result on --resume."""
    import benchmark as bench

    spec = {"threads": 1, "test": str(tmp_path / "missing.jsonl")}
    written = {**spec, "result": str(tmp_path / "x.result.json")}
    (tmp_path / "x.spec.json").write_text(json.dumps(written), encoding="utf8")
    (tmp_path / "x.result.json").write_text('{"tags": {}}', encoding="utf8")
    assert bench.stored_result(tmp_path, "x", spec) == {"tags": {}}
    assert bench.stored_result(tmp_path, "x", {**spec, "threads": 2}) is None
    with pytest.raises(RuntimeError, match="failed"):
        bench.child(tmp_path, "hf-forward", spec, ENV, "a child without its model", name="x")
    assert bench.stored_result(tmp_path, "x", spec) is None


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


def check_precisions(report):
    """The int8 side of a smoke run (--precisions fp32,int8): each annotator at each precision,
    really int8 where asked, its figures sane, the ECE at both, and the ratios."""
    settings = report["settings"]
    assert settings["precisions"] == ["fp32", "int8"]
    assert (
        settings["learning_rate"] == 5e-5
        and settings["spacy_head_learning_rate"] == settings["hf_head_learning_rate"] == 2e-3
    )
    assert settings["calibration"] == {"sentences": settings["dev_sentences"], "source": "dev", "fitted_at": "fp32"}
    run = report["runs"][0]
    for key, result in run["int8"].items():
        assert result["int8_layers"] > 0, key  # the tiny BERT's linear layers (and the peer's classifier)
    assert run["spacy"]["infer"]["int8_layers"] == run["hf"]["pipeline"]["int8_layers"] == 0
    section, languages = report["precisions"], set(settings["languages"])
    for precision in ("fp32", "int8"):
        for key in ("spacy", "pipeline", "forward"):
            figures = section["figures"][precision][key]
            for figure in ("words_per_s", "words_per_cpu_s", "peak_rss_mb"):
                assert positive(figures[figure]["median"]), (precision, key, figure)
            assert positive(figures["best_batch"]["words_per_s"]["median"]) and figures["best_batch"]["batch_size"] == 4
        for key in ("spacy", "pipeline"):  # scored: overall and per language
            figures = section["figures"][precision][key]
            assert 0 <= figures["f1"]["median"] <= 1 and set(figures["per_language"]) == languages
        assert 0 <= section["calibration"][precision]["ece"] <= 1
    assert section["calibration"]["fitted"]["calibration"]["temperature"] > 0
    ratios = section["ratios"]
    for key in ("spacy_int8_vs_fp32_words_per_s", "spacy_int8_vs_fp32_best", "spacy_int8_vs_fp32_peak_rss",
                "spacy_int8_best_vs_pipeline_fp32_best", "spacy_int8_best_vs_pipeline_int8_best"):  # fmt: skip
        assert positive(ratios[key]), key
    assert -100 <= ratios["f1_points_int8_minus_fp32"] <= 100
    assert set(ratios["f1_points_int8_minus_fp32_per_language"]) == languages
    assert "| nlp.pipe: ECE, fp32 calibration |" in report["table"]


def test_the_calibration_sentences_are_dev_else_held_out_else_training():
    from benchmark import calibration_part

    from multinerd.data.corpus import Sentence

    def sentences(lang, n, word):
        return [Sentence([f"{word}{i}"], ["O"], lang, 0) for i in range(n)]

    train, rest = sentences("de", 5, "t") + sentences("en", 5, "t"), sentences("de", 3, "r") + sentences("en", 1, "r")
    dev = sentences("de", 2, "d")
    assert calibration_part(dev, rest, train, 2) == (dev, "dev")
    part, source = calibration_part([], rest, train, 2)
    assert source == "training: en" and [s.words[0] for s in part] == ["r0", "r1", "t0", "t1"]
    assert calibration_part([], rest, train, 1) == (rest[:1] + rest[3:], "held-out")
