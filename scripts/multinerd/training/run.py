"""What scripts/train.py adds to `spacy train`: the training length from the corpus size, the
GPU settings on a GPU (multinerd.training.gpu), a fast, clear failure when the transformer or the GPU
can't be used (multinerd.training.hub), resumable training (multinerd.training.loop). The optimizer
the configs name is multinerd.training.optimizer."""

import math
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import srsly
from confection import Config

from multinerd.training.gpu import gpu_report, gpu_training_overrides
from multinerd.training.hub import check_transformer


def training_overrides(config: Config, train_sentences: int, max_steps: int = 0) -> Dict[str, Any]:
    """The config overrides that must be computed: the training length.

    With `max_epochs = -1` spaCy streams the training corpus and can't know its size, so the
    number of steps (and the learning-rate schedule's length) comes from the converter's count
    and `[multinerd] epochs`. `max_steps` > 0 sets the steps directly.
    """
    if max_steps <= 0:
        epochs = float(config["multinerd"]["epochs"])
        batch_size = int(config["training"]["batcher"]["size"])
        max_steps = max(1, math.ceil(epochs * train_sentences / batch_size))
    overrides: Dict[str, Any] = {
        "training.max_steps": max_steps,
        # Evaluate at least once, so that a short run still saves model-best.
        "training.eval_frequency": min(int(config["training"]["eval_frequency"]), max_steps),
    }
    learn_rate = config["training"]["optimizer"].get("learn_rate")
    if isinstance(learn_rate, dict) and "total_steps" in learn_rate:
        overrides["training.optimizer.learn_rate.total_steps"] = max_steps
        warmup = float(config["multinerd"].get("warmup_fraction", 0.0))
        overrides["training.optimizer.learn_rate.warmup_steps"] = max(1, round(warmup * max_steps))
    return overrides


def run_overrides(
    config_path: Path, overrides: Dict[str, Any], train_sentences: int, max_steps: int = 0, gpu_id: int = -1
) -> Tuple[Config, Dict[str, Any]]:
    """The config (uninterpolated) and the overrides `spacy train` runs with: the caller's; on a
    GPU, multinerd.training.gpu's settings, as defaults that the caller's replace (a benchmark sweeps them);
    then the training length, computed from the config those give (its batch size)."""
    from spacy.util import load_config

    overrides = dict(overrides)
    if gpu_id >= 0:
        plain = load_config(config_path, overrides=overrides, interpolate=False)
        overrides = {**gpu_training_overrides(plain), **overrides}
    config = load_config(config_path, overrides=overrides, interpolate=False)
    return config, {**overrides, **training_overrides(config, train_sentences, max_steps)}


def train_sentences(report: Path) -> Optional[int]:
    """Training sentences in a converted corpus, from its report.json; None if there is no report."""
    if not report.is_file():
        return None
    return srsly.read_json(report)["splits"]["train"]["sentences"]


class NoTrainingData(Exception):
    pass


def train_pipeline(
    config_path: Path,
    output: Path,
    report: Path,
    *,
    overrides: Optional[Dict[str, Any]] = None,
    gpu_id: int = -1,
    max_steps: int = 0,
    transformer: Optional[str] = None,
    checkpoint_every: int = 0,
    restart: bool = False,
) -> int:
    """`spacy train` on a converted corpus (`overrides` name its paths), for `max_steps` steps or
    `[multinerd] epochs` over the sentences `report` counts, resumable (multinerd.training.loop:
    a checkpoint every `checkpoint_every` steps and at each evaluation; a rerun continues from
    it unless `restart`); a trf config's transformer (the config's, or `transformer`) and the
    GPU are checked first. Returns the last step.

    Raises NoTrainingData, TransformerUnavailable, GPUUnavailable or ResumeRefused, with a
    message that says what to do.
    """
    from spacy.util import load_config
    from wasabi import msg

    from multinerd.training.loop import train_resumable

    n_train = train_sentences(report)
    if not n_train:
        raise NoTrainingData(
            f"No training sentences in {report.parent}: run `spacy project run convert` first "
            "(or check that the dataset has a train split for the chosen languages)."
        )
    config, overrides = run_overrides(config_path, overrides or {}, n_train, max_steps, gpu_id)
    if "transformer" in config["components"]:
        name = transformer or config["components"]["transformer"]["model"]["name"]
        check_transformer(name)
        overrides["components.transformer.model.name"] = name
    msg.info(f"{n_train:,} training sentences: {overrides['training.max_steps']:,} steps")
    if gpu_id >= 0:
        for line in gpu_report(gpu_id):
            msg.info(line)
    config = load_config(config_path, overrides=overrides, interpolate=False)
    return train_resumable(
        config,
        output,
        use_gpu=gpu_id,
        checkpoint_every=checkpoint_every,
        restart=restart,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
