"""The benchmark's steps as a user runs them (weasel's `project_run`) on the bundled sample with a
tiny BERT, in a copy of the project whose `../../` and `../hf_recipe` lead to the repository's
own code (nothing is written into the repository; the configs are copies); the encoder step's
failures; its project.yml. No timing assertions: the figures only have to be there, consistent
and in range."""

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly
from conftest import PROJECT, REPO, SAMPLE
from project_check import command_problems
from spacy.util import load_config
from weasel.cli.run import project_run

STEPS = ("prepare", "train", "calibrate", "evaluate", "cost")
REPEATS = 2
# The tiny BERT's random vectors give the tagger, at trf.cfg's rates (the encoder 2e-5, the head
# 2e-3), nothing it carries over to unseen sentences in a few steps: it tags the dev sentences all
# O, and calibrate rightly stops. At 5e-3 for every weight, 60 steps find entities there.
TINY_BERT_TRAINING = {"training.optimizer.learn_rate.initial_rate": 5e-3, "training.optimizer.head_lr_scale": 1.0}


def project_copy(target: Path) -> Path:
    """benchmarks/confidence with its project.yml copied and its scripts, the product's scripts and
    the hf_recipe benchmark linked, so its relative paths reach the real code; the product's
    configs copied, trf.cfg with TINY_BERT_TRAINING."""
    (target / "benchmarks").mkdir(parents=True)
    for name in ("scripts", "assets"):
        (target / name).symlink_to(REPO / name)
    shutil.copytree(REPO / "configs", target / "configs")
    load_config(REPO / "configs" / "trf.cfg", overrides=TINY_BERT_TRAINING).to_disk(target / "configs" / "trf.cfg")
    (target / "benchmarks" / "hf_recipe").symlink_to(REPO / "benchmarks" / "hf_recipe")
    project = target / "benchmarks" / "confidence"
    project.mkdir()
    shutil.copy(PROJECT / "project.yml", project)
    (project / "scripts").symlink_to(PROJECT / "scripts")
    return project


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_bert):
    project = project_copy(tmp_path_factory.mktemp("confidence"))
    overrides = {
        "vars.config": "trf", "vars.transformer": str(tiny_bert), "vars.data": str(SAMPLE), "vars.train": 8,
        "vars.test": 2, "vars.dev": 2, "vars.max_steps": 60, "vars.batch_size": 8, "vars.repeats": REPEATS,
    }  # fmt: skip
    for step in STEPS:
        project_run(project, step, overrides=overrides, capture=True)
    return project


def test_steps_measure_the_scorer_and_its_reliability(run):
    metrics = run / "metrics" / "trf"
    report = srsly.read_json(metrics / "benchmark.json")
    # 10 languages of the sample, 2 test sentences each; both sides find the same entities.
    assert report["settings"]["texts"] == 20 and report["settings"]["repeats"] == REPEATS
    assert report["docs_with_other_ents"] == 0
    assert report["with"]["f1"] == report["without"]["f1"] and 0.0 <= report["with"]["f1"] <= 1.0
    for side in ("with", "without"):
        for key in ("words_per_s", "cpu_words_per_s"):
            runs = report[side][key]["runs"]
            assert len(runs) == REPEATS and all(math.isfinite(v) and v > 0 for v in runs)
    assert report["ratios"]["words_per_s"] > 0 and report["ratios"]["cpu_words_per_s"] > 0
    # The evaluation's figures, raw and calibrated, are carried over as evaluate wrote them.
    for kind in ("raw", "calibrated"):
        written = srsly.read_json(metrics / kind / "confidence.json")
        assert report["ece"][kind] == written["ece"] and 0.0 <= written["ece"] <= 1.0
        assert report["thresholds"][kind] == written["thresholds"]
    assert sum(row["entities"] for row in report["reliability"]) == written["entities"]
    assert (metrics / "calibrated" / "reliability.png").stat().st_size > 0
    assert report["calibration"]["calibration"]["temperature"] > 0
    assert set(report["targets"].values()) <= {True, False} and len(report["targets"]) == 3
    table = (metrics / "benchmark.md").read_text(encoding="utf8")
    assert "| with / without |" in table and "ECE on test" in table


def link_encoder(*args, cwd):
    command = [sys.executable, str(PROJECT / "scripts" / "link_encoder.py"), *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def test_encoder_step_fails_clearly_and_keeps_what_is_there(tmp_path):
    missing = link_encoder("no-such-encoder-package", "encoders/x", cwd=tmp_path)
    assert missing.returncode != 0 and "pip install" in missing.stdout + missing.stderr
    assert not (tmp_path / "encoders").exists()
    (tmp_path / "encoders").mkdir()
    taken = tmp_path / "encoders" / "x"
    taken.write_text("someone's file", encoding="utf8")
    refused = link_encoder("wasabi", "encoders/x", cwd=tmp_path)  # installed, but no get_model_path()
    assert refused.returncode != 0 and taken.read_text(encoding="utf8") == "someone's file"


def test_project_deps_name_every_script_and_product_module_used():
    peers = [REPO / "benchmarks" / "hf_recipe" / "scripts"]
    assert command_problems(PROJECT, peers) == {name: [] for name in ("encoder", *STEPS, "clean")}
