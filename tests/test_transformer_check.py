"""scripts/train.py on the trf config: an unusable transformer fails at once with what to do,
and the training length follows the corpus size (multinerd.training)."""
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from spacy.util import load_config

from multinerd.training import TransformerUnavailable, check_transformer, training_overrides

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "scripts" / "train.py"
# Python, spaCy and the hub client start in a few seconds; training would take far longer.
FAST = 30.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The corpus report is all scripts/train.py reads before it checks the transformer."""
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "report.json").write_text(json.dumps({"splits": {"train": {"sentences": 508}}}))
    return folder


def run_train(corpus: Path, transformer: str, output: Path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(TRAIN), str(ROOT / "configs" / "trf.cfg"), str(output), "--corpus", str(corpus),
         "--gpu-id", "-1", "--max-steps", "5", "--transformer", transformer],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    # wasabi wraps long messages: compare with the whitespace folded.
    return result, " ".join((result.stdout + result.stderr).split()), time.perf_counter() - start


def test_unknown_hub_name_fails_fast(corpus, tmp_path):
    result, output, seconds = run_train(corpus, "does-not-exist/model", tmp_path / "training")
    assert result.returncode != 0
    assert seconds < FAST, f"took {seconds:.1f}s"
    assert "does-not-exist/model" in output
    assert "HF_HUB_OFFLINE" in output
    assert "--vars.transformer=DIR" in output  # how to point the project at a local copy
    assert "Traceback" not in output
    assert not (tmp_path / "training").exists()  # nothing started


def test_folder_without_config_is_refused(corpus, tmp_path):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    result, output, seconds = run_train(corpus, str(folder), tmp_path / "training")
    assert result.returncode != 0
    assert seconds < FAST, f"took {seconds:.1f}s"
    assert "no config.json" in output
    assert "--vars.transformer=DIR" in output
    assert "Traceback" not in output
    assert not (tmp_path / "training").exists()


def test_check_transformer_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TransformerUnavailable, match="HF_HUB_OFFLINE"):
        check_transformer("does-not-exist/model")
    with pytest.raises(TransformerUnavailable, match="no config.json"):
        check_transformer(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    check_transformer(str(tmp_path))  # a local folder with a config passes


@pytest.fixture(scope="module")
def trf_config():
    return load_config(ROOT / "configs" / "trf.cfg")


@pytest.fixture(scope="module")
def cnn_config():
    return load_config(ROOT / "configs" / "cnn.cfg")


def test_trf_steps_from_epochs(trf_config):
    epochs = float(trf_config["multinerd"]["epochs"])
    batch = int(trf_config["training"]["batcher"]["size"])
    warmup = float(trf_config["multinerd"]["warmup_fraction"])
    assert (epochs, batch, warmup) == (1.0, 16, 0.1)  # the numbers below assume the recipe's settings
    # The full MultiNERD training split: 1 epoch of 2,678,400 sentences at 16 a step.
    overrides = training_overrides(trf_config, 2_678_400)
    assert overrides["training.max_steps"] == 167_400
    assert overrides["training.optimizer.learn_rate.total_steps"] == 167_400
    assert overrides["training.optimizer.learn_rate.warmup_steps"] == 16_740
    assert overrides["training.eval_frequency"] == 10_000
    assert "components.transformer.model.mixed_precision" not in overrides  # CPU
    # Rounding up: 1,000 sentences -> 63 steps (62.5), warm-up round(6.3) = 6; evaluate at the end.
    overrides = training_overrides(trf_config, 1_000)
    assert overrides["training.max_steps"] == 63 == math.ceil(1_000 / 16)
    assert overrides["training.optimizer.learn_rate.total_steps"] == 63
    assert overrides["training.optimizer.learn_rate.warmup_steps"] == 6
    assert overrides["training.eval_frequency"] == 63


def test_trf_max_steps_and_gpu(trf_config):
    overrides = training_overrides(trf_config, 2_678_400, max_steps=20, gpu_id=0)
    assert overrides["training.max_steps"] == 20
    assert overrides["training.optimizer.learn_rate.total_steps"] == 20
    assert overrides["training.optimizer.learn_rate.warmup_steps"] == 2
    assert overrides["training.eval_frequency"] == 20
    assert overrides["components.transformer.model.mixed_precision"] is True
    # At least one warm-up step and one training step, however small.
    overrides = training_overrides(trf_config, 3)
    assert overrides["training.max_steps"] == 1
    assert overrides["training.optimizer.learn_rate.warmup_steps"] == 1


def test_cnn_steps_from_epochs(cnn_config):
    # 30 epochs of the sample's 508 training sentences at 16 a step: ceil(952.5) = 953.
    overrides = training_overrides(cnn_config, 508)
    assert overrides == {"training.max_steps": 953, "training.eval_frequency": 200}
    # A constant learning rate: no schedule to stretch; no transformer: no mixed precision.
    overrides = training_overrides(cnn_config, 508, max_steps=100, gpu_id=0)
    assert overrides == {"training.max_steps": 100, "training.eval_frequency": 100}


def test_overrides_are_accepted_by_the_config(trf_config):
    """Every override names a setting that exists in the config."""
    for key in training_overrides(trf_config, 1_000, gpu_id=0):
        node = trf_config
        for part in key.split("."):
            assert part in node, key
            node = node[part]
