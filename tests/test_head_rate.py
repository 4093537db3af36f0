"""The trf config's optimizer: the NER head steps head_lr_scale times the schedule's rate, every
weight of the PyTorch transformer steps at the schedule's rate."""

from pathlib import Path

import numpy
import pytest
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config
from thinc.api import registry

from multinerd.training.optimizer import HeadRateOptimizer

ROOT = Path(__file__).resolve().parents[1]


def first_step(optimizer, name: str) -> numpy.ndarray:
    weights = numpy.ones((4,), dtype="float32")
    gradient = numpy.array([0.5, -0.5, 0.25, -0.25], dtype="float32")
    new_weights, _ = optimizer((1, name), weights.copy(), gradient)
    return new_weights - weights


def test_head_steps_are_scaled():
    optimizer = registry.resolve(
        {"opt": {"@optimizers": "xx_multinerd.HeadRateAdam.v1", "learn_rate": 1e-3, "head_lr_scale": 10.0, "L2": 0.0}}
    )["opt"]
    head = first_step(optimizer, "W")
    encoder = first_step(optimizer, "encoder.layer.0.output.dense.weight")
    # Adam's first step is the rate times the gradient's sign (up to eps).
    assert numpy.allclose(encoder, -1e-3 * numpy.sign([0.5, -0.5, 0.25, -0.25]), rtol=1e-3)
    assert numpy.allclose(head, 10.0 * encoder, rtol=1e-3)


def test_scale_one_is_plain_adam():
    scaled = registry.resolve({"opt": {"@optimizers": "xx_multinerd.HeadRateAdam.v1", "learn_rate": 1e-3}})["opt"]
    plain = registry.resolve({"opt": {"@optimizers": "Adam.v1", "learn_rate": 1e-3}})["opt"]
    assert numpy.array_equal(first_step(scaled, "W"), first_step(plain, "W"))


@pytest.fixture(scope="module")
def trf_nlp(tiny_bert, sample_corpus):
    corpus = sample_corpus
    config = load_config(
        ROOT / "configs" / "trf.cfg",
        overrides={
            "components.transformer.model.name": str(tiny_bert),
            "paths.train": str(corpus / "train"),
            "paths.dev": str(corpus / "dev_sample"),
            "paths.labels": str(corpus / "labels" / "ner.json"),
            "training.max_steps": 2,
            "training.optimizer.learn_rate.total_steps": 2,
            "training.optimizer.learn_rate.warmup_steps": 1,
        },
    )
    nlp = init_nlp(config)
    optimizer = registry.resolve({"opt": config["training"]["optimizer"]})["opt"]
    return nlp, optimizer, config


def test_trf_config_uses_it(trf_nlp):
    _, optimizer, config = trf_nlp
    assert isinstance(optimizer, HeadRateOptimizer)
    assert optimizer.head_lr_scale == config["training"]["optimizer"]["head_lr_scale"] > 1


def test_head_is_exactly_the_ner_weights(trf_nlp):
    """On a real trf pipeline, the keys the optimizer scales are the NER component's thinc weights
    and the keys it leaves alone are the transformer's PyTorch weights, all of them."""
    nlp, optimizer, _ = trf_nlp
    seen = {}

    class Recorder(type(optimizer)):
        def __call__(self, key, weights, gradient, *, lr_scale=1.0):
            seen[key] = self.is_head(key)
            return super().__call__(key, weights, gradient, lr_scale=lr_scale)

    optimizer.__class__ = Recorder
    try:
        doc = nlp.make_doc("Angela Merkel besuchte Paris mit dem ICE .")
        example = Example.from_dict(doc, {"entities": ["B-PER", "L-PER", "O", "U-LOC", "O", "O", "U-VEHI", "O"]})
        # The transformer's weights take their gradient at the next update's finish_update
        # (spaCy updates the transformer before the NER head backpropagates into it): two updates.
        for _ in range(2):
            nlp.update([example], sgd=optimizer)
    finally:
        optimizer.__class__ = HeadRateOptimizer
    ner_keys = {(node.id, name) for node in nlp.get_pipe("ner").model.walk() for name in node.param_names}
    shims = [shim for node in nlp.get_pipe("transformer").model.walk() for shim in node.shims]
    # Every weight that took a gradient (BERT's pooler is not used, so it takes none).
    torch_names = {name for shim in shims for name, param in shim._model.named_parameters() if param.grad is not None}
    head = {key for key, is_head in seen.items() if is_head}
    rest = {key for key, is_head in seen.items() if not is_head}
    assert head and head == ner_keys
    assert len(torch_names) > 20 and {name for _, name in rest} == torch_names
