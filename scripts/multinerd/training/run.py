"""What scripts/train.py adds to `spacy train`: the training length from the corpus size, the
GPU settings on a GPU (multinerd.training.gpu), a fast, clear failure when the transformer or the GPU
can't be used, resumable training (multinerd.training.loop), and an optimizer that trains the NER
head faster than the pretrained transformer (registered by pyproject.toml's entry point)."""

import math
import os
import socket
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import srsly
from confection import Config
from thinc.api import Optimizer
from thinc.optimizers import ADAM_DEFAULTS, FloatOrSeq
from thinc.types import FloatsXd

from multinerd.training.gpu import gpu_report, gpu_training_overrides


class HeadRateOptimizer(Optimizer):
    """Adam whose steps on thinc's own layers are `head_lr_scale` times the schedule's rate.

    In a trf pipeline, thinc's layers are the NER head (trained from scratch) and the
    transformer's weights are a PyTorch model's. The optimizer sees parameters by key only:
    (node id, name), where a thinc layer's name is a bare parameter name ("W", "b") and a PyTorch
    parameter's name is its dotted module path ("encoder.layer.0.output.dense.weight").
    """

    def __init__(self, *args, head_lr_scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_lr_scale = head_lr_scale

    def is_head(self, key: Tuple[int, str]) -> bool:
        return "." not in key[1]

    def __call__(self, key: Tuple[int, str], weights: FloatsXd, gradient: FloatsXd, *, lr_scale: float = 1.0):
        if self.is_head(key):
            lr_scale *= self.head_lr_scale
        return super().__call__(key, weights, gradient, lr_scale=lr_scale)


def head_rate_adam(
    learn_rate: FloatOrSeq = ADAM_DEFAULTS["learn_rate"],
    *,
    head_lr_scale: float = 1.0,
    L2: FloatOrSeq = ADAM_DEFAULTS["L2"],
    beta1: FloatOrSeq = ADAM_DEFAULTS["beta1"],
    beta2: FloatOrSeq = ADAM_DEFAULTS["beta2"],
    eps: FloatOrSeq = ADAM_DEFAULTS["eps"],
    grad_clip: FloatOrSeq = ADAM_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = bool(ADAM_DEFAULTS["L2_is_weight_decay"]),
    use_averages: bool = True,
) -> HeadRateOptimizer:
    """thinc's Adam.v1, same arguments and defaults, with `head_lr_scale` (see HeadRateOptimizer)."""
    return HeadRateOptimizer(
        learn_rate,
        L2=L2,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay,
        use_averages=use_averages,
        use_radam=False,
        head_lr_scale=head_lr_scale,
    )


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


class TransformerUnavailable(Exception):
    pass


def check_transformer(name: str) -> None:
    """Fail at once, with what to do, if the transformer `name` can't be loaded.

    A local folder must hold a model; a hub name must be cached, or the hub reachable. With
    HF_HUB_OFFLINE=1 an uncached name fails here instead of deep inside training.
    """
    path = Path(name)
    hub_name = "<model name>" if path.exists() else name
    how = (
        f"Download the model where the hub is reachable (`huggingface-cli download {hub_name} --local-dir DIR`), "
        "copy DIR here and pass --vars.transformer=DIR (scripts/train.py: --transformer DIR)."
    )
    if path.exists():
        if not (path / "config.json").exists():
            raise TransformerUnavailable(f"{name} has no config.json: it is not a saved transformer model. {how}")
        return
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise TransformerUnavailable(
            f"Transformer {name!r} is not a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE is set. {how}"
        )
    if not hub_reachable():
        raise TransformerUnavailable(
            f"Transformer {name!r} is not a local folder nor in the Hugging Face cache, and the hub can't be reached. {how}"
        )
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except Exception as err:  # OSError, connection errors, invalid repo ids
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TransformerUnavailable(f"Can't load transformer {name!r} ({first_line}). {how}") from None


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub's host accepts a connection: one quick try instead of the hub client's retries."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


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
