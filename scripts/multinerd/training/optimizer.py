"""The optimizer trf.cfg names (`xx_multinerd.HeadRateAdam.v1`, registered by pyproject.toml's
entry point): Adam that trains the NER head faster than the pretrained transformer."""

from typing import Tuple

from thinc.api import Optimizer
from thinc.optimizers import ADAM_DEFAULTS, FloatOrSeq
from thinc.types import FloatsXd


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
