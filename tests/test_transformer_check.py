"""scripts/train.py: an unusable transformer fails at once, on one line, with what to do; the
training length follows the corpus size (multinerd.training.run); and a GPU gets its own settings
(multinerd.training.gpu), the CPU none of them."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confection import Config
from spacy.util import load_config

from multinerd.training.gpu import gpu_training_overrides, use_gpu_annotation_settings
from multinerd.training.hub import TransformerUnavailable, check_transformer
from multinerd.training.run import run_overrides, training_overrides

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "scripts" / "train.py"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The corpus report is all scripts/train.py reads before it checks the transformer."""
    path = tmp_path_factory.mktemp("corpus") / "report.json"
    path.write_text(json.dumps({"splits": {"train": {"sentences": 508}}}))
    return path


def run_train(report: Path, transformer: str, output: Path):
    result = subprocess.run(
        [sys.executable, str(TRAIN), str(ROOT / "configs" / "trf.cfg"), str(output), "--report", str(report),
         "--max-steps", "5", "--transformer", transformer],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=ROOT, timeout=300,
    )  # fmt: skip
    return result, result.stderr.strip().splitlines()


def test_unknown_hub_name_fails_on_one_line_before_training(report, tmp_path):
    result, lines = run_train(report, "does-not-exist/model", tmp_path / "training")
    assert result.returncode == 1 and len(lines) == 1
    assert "does-not-exist/model" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert "--vars.transformer" in lines[0]  # how to point the project at a local copy
    assert not (tmp_path / "training").exists()  # nothing started


def test_folder_without_config_is_refused(report, tmp_path):
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    result, lines = run_train(report, str(folder), tmp_path / "training")
    assert result.returncode == 1 and len(lines) == 1
    assert str(folder) in lines[0] and "config.json" in lines[0] and "--vars.transformer" in lines[0]
    assert not (tmp_path / "training").exists()


def test_missing_corpus_fails_on_one_line(tmp_path):
    result, lines = run_train(tmp_path / "corpus" / "report.json", "bert-base-multilingual-cased", tmp_path / "out")
    assert result.returncode == 1 and len(lines) == 1 and "spacy project run convert" in lines[0]
    assert not (tmp_path / "out").exists()


def test_check_transformer_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TransformerUnavailable, match="HF_HUB_OFFLINE"):
        check_transformer("does-not-exist/model")
    with pytest.raises(TransformerUnavailable, match="no config.json"):
        check_transformer(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    check_transformer(str(tmp_path))  # a local folder with a config passes


def config(epochs=2.0, batch=8, warmup=0.25, eval_frequency=50, schedule=True, transformer=True) -> Config:
    """A config with the settings training_overrides reads, and nothing else."""
    optimizer = {"learn_rate": {"@schedules": "warmup_linear.v1", "warmup_steps": 0, "total_steps": 0,
                                "initial_rate": 1e-4}} if schedule else {"learn_rate": 0.001}  # fmt: skip
    components = {"transformer": {"model": {"mixed_precision": False}}} if transformer else {"tok2vec": {}}
    return Config({
        "multinerd": {"epochs": epochs, "warmup_fraction": warmup},
        "components": components,
        "training": {"batcher": {"size": batch}, "eval_frequency": eval_frequency, "optimizer": optimizer},
    })  # fmt: skip


def test_steps_schedule_and_evaluation_follow_the_corpus_size():
    # 2 epochs of 1,000 sentences at 8 a step: 250 steps, a quarter of them warming up.
    overrides = training_overrides(config(), 1_000)
    assert overrides == {
        "training.max_steps": 250, "training.eval_frequency": 50,
        "training.optimizer.learn_rate.total_steps": 250, "training.optimizer.learn_rate.warmup_steps": 62,
    }  # fmt: skip
    # Rounding up, and an evaluation at the end of a run shorter than the evaluation interval.
    overrides = training_overrides(config(epochs=1.0), 100)
    assert overrides["training.max_steps"] == 13 == math.ceil(100 / 8)
    assert overrides["training.eval_frequency"] == 13
    # At least one step and one warm-up step, however small.
    overrides = training_overrides(config(), 1)
    assert overrides["training.max_steps"] == 1 and overrides["training.optimizer.learn_rate.warmup_steps"] == 1


def test_max_steps():
    overrides = training_overrides(config(), 1_000_000, max_steps=20)
    assert overrides["training.max_steps"] == 20 == overrides["training.optimizer.learn_rate.total_steps"]
    assert overrides["training.optimizer.learn_rate.warmup_steps"] == 5
    # A constant rate: no schedule to stretch.
    plain = training_overrides(config(schedule=False, transformer=False), 1_000)
    assert plain == {"training.max_steps": 250, "training.eval_frequency": 50}


TRF = ROOT / "configs" / "trf.cfg"
GPU_KEYS = {"components.transformer.model.mixed_precision", "training.accumulate_gradient"}


def test_gpu_settings_apply_on_a_gpu_only():
    cpu_config, cpu = run_overrides(TRF, {}, 1_000, gpu_id=-1)
    assert not GPU_KEYS & set(cpu)  # the CPU keeps the config's own settings
    _, gpu = run_overrides(TRF, {}, 1_000, gpu_id=0)
    assert gpu["components.transformer.model.mixed_precision"] is True
    assert gpu["training.accumulate_gradient"] == 1 != cpu_config["training"]["accumulate_gradient"]
    assert gpu["training.max_steps"] == cpu["training.max_steps"]  # the same batch, so the same steps
    # No transformer: nothing changes on a GPU.
    assert not GPU_KEYS & set(run_overrides(ROOT / "configs" / "cnn.cfg", {}, 1_000, gpu_id=0)[1])


def test_overrides_given_replace_the_gpu_settings_and_set_the_length():
    """A benchmark sweeps the GPU settings by passing them: the caller's value stays, and a batch
    size passed sets the steps."""
    given = {"training.accumulate_gradient": 2, "training.batcher.size": 64}
    _, overrides = run_overrides(TRF, given, 6_400, gpu_id=0)
    assert overrides["training.accumulate_gradient"] == 2
    assert overrides["components.transformer.model.mixed_precision"] is True
    assert overrides["training.max_steps"] == 100 == overrides["training.optimizer.learn_rate.total_steps"]


@pytest.mark.parametrize("name", ["cnn", "trf"])
def test_the_configs_overrides_name_settings_that_exist(name):
    project_config = load_config(ROOT / "configs" / f"{name}.cfg")
    overrides = {**training_overrides(project_config, 1_000), **gpu_training_overrides(project_config)}
    epochs, batch = float(project_config["multinerd"]["epochs"]), int(project_config["training"]["batcher"]["size"])
    assert overrides["training.max_steps"] == math.ceil(epochs * 1_000 / batch)
    for key in overrides:
        node = project_config
        for part in key.split("."):
            assert part in node, key
            node = node[part]


def test_gpu_annotation_settings(tiny_bert):
    import spacy

    nlp = spacy.blank("xx")
    nlp.add_pipe("transformer", config={"model": {"name": str(tiny_bert)}})
    before = nlp.get_pipe("transformer").cfg["max_batch_items"]
    use_gpu_annotation_settings(nlp, batch_size=300, max_batch_items=before * 2)
    assert nlp.batch_size == 300 and nlp.get_pipe("transformer").cfg["max_batch_items"] == before * 2
    plain = spacy.blank("xx")  # no transformer: only the batch
    use_gpu_annotation_settings(plain, batch_size=300)
    assert plain.batch_size == 300
