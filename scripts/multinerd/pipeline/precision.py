"""The transformer's precision, chosen at load time: fp32 as trained, or int8 on a CPU.

int8 is PyTorch's post-training dynamic quantization of the transformer's linear layers
(`torch.ao.quantization.quantize_dynamic`, weights per output channel): their weights become
int8, the activations are quantized on the fly, the embeddings and layer norms stay fp32. A
linear layer whose input carries outlier features (a few channels far larger than the rest, the
same on every text: found by running a few probe sentences through the fp32 model) stays fp32,
since one scale for the whole input would leave its other values a few steps. It runs right after the
transformer's weights load, so the weights on disk stay fp32 (safetensors can't hold packed int8
weights, and a GPU needs fp32 or fp16). The trf config carries the setting, off by default:

    nlp = spacy.load("xx_multinerd", config={"nlp": {"after_pipeline_creation": {"precision": "int8"}}})

`[nlp.after_pipeline_creation]` runs when spaCy builds the pipeline, before any weights load: it
refuses int8 on a GPU and makes each transformer component quantize its model once its weights
are in (`from_disk`, `from_bytes`); saving such a pipeline is refused (its weights are no longer
the trained ones). Loaders that put the weights in another way call `quantize_transformers`.

This file is shipped inside the `xx_multinerd` package (`spacy package --code`), so it imports
nothing from this repository; in the project, pyproject.toml's `spacy_callbacks` entry point
names the same callback.
"""

import warnings
from typing import Callable, List, Optional, Set

from spacy.language import Language
from spacy.util import registry

CALLBACK = "xx_multinerd.transformer_precision.v1"
PRECISIONS = ("fp32", "int8")
TRANSFORMER_FACTORY = "transformer"
ON_GPU = (
    "int8 runs the transformer on a CPU only: load the pipeline without spacy.prefer_gpu() or "
    "require_gpu() (--gpu-id -1), or drop int8 (precision fp32) on a GPU."
)
NO_TRANSFORMER = (
    "int8 does not apply to this pipeline: it has no transformer to quantize (pipes: {pipes}); "
    "load it without the precision setting."
)


# The probe: a sentence in each language the pipeline covers (outlier features show on any text).
PROBE_TEXTS = (
    "Angela Merkel besuchte im Mai 2019 das Brandenburger Tor in Berlin.",
    "The Amazon river flows through Brazil, Peru and Colombia.",
    "El Real Madrid ganó la Copa del Rey en el estadio de Mestalla.",
    "La tour Eiffel, construite par Gustave Eiffel, domine Paris.",
    "Il Colosseo si trova a Roma, vicino al Foro Romano.",
    "Het Rijksmuseum in Amsterdam toont De Nachtwacht van Rembrandt.",
    "Maria Skłodowska-Curie urodziła się w Warszawie w 1867 roku.",
    "O rio Tejo atravessa Lisboa antes de chegar ao oceano Atlântico.",
    "Юрий Гагарин полетел в космос на корабле «Восток-1».",
    "杜甫在成都居住期间写下了《茅屋为秋风所破歌》。",
)
# A linear layer stays fp32 where the largest absolute value of its input on the probe is more
# than 254 times the median (non-zero) one: dynamic int8 gives the input one scale of 127 steps
# (x86's reduced range), so there the median value rounds to zero. multilingual-e5-small has 3 such
# layers of 72 (the FFN outputs of layers 0, 4 and 5, at 483-638; the rest at most 198): kept
# fp32, int8 loses 0.4 points of F1 where quantizing all of them lost 4-8 (benchmarks/hf_recipe,
# "int8 against fp32").
OUTLIER_RATIO = 254.0


def outlier_layers(module, tokenizer, ratio: float = OUTLIER_RATIO) -> Set[str]:
    """The names of `module`'s linear layers whose input, on the probe sentences, peaks above
    `ratio` times its median non-zero absolute value."""
    import torch

    peaks = {}

    def record(name: str) -> Callable:
        def hook(layer, inputs, output) -> None:
            values = inputs[0].detach().abs()
            values = values[values > 0]
            peaks[name] = (values.max() / values.median()).item() if values.numel() else 0.0

        return hook

    linear = [(name, layer) for name, layer in module.named_modules() if isinstance(layer, torch.nn.Linear)]
    handles = [layer.register_forward_hook(record(name)) for name, layer in linear]
    training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(**tokenizer(list(PROBE_TEXTS), return_tensors="pt", padding=True))
    finally:
        module.train(training)
        for handle in handles:
            handle.remove()
    return {name for name, peak in peaks.items() if peak > ratio}


def quantize_module(module, tokenizer) -> Set[str]:
    """`module`'s linear layers as int8 (weights per output channel), in place, except those
    `outlier_layers` finds; their names. Layers already int8 are left as they are."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    kept = outlier_layers(module, tokenizer)
    spec = {
        name: per_channel_dynamic_qconfig
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear) and name not in kept
    }
    with warnings.catch_warnings():
        # torch marks its eager-mode quantization deprecated (in favour of torchao) yet ships it
        # working; one warning a layer at every load says nothing the user can act on.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
        quantize_dynamic(module, spec, dtype=torch.qint8, inplace=True)
    module.xx_multinerd_fp32_layers = sorted(kept)
    return kept


def gpu_problem(device_type: str) -> Optional[str]:
    """The line refusing int8 where the work would run on `device_type` (thinc's ops' "cpu" or
    "gpu", a torch device's "cpu" or "cuda"); None on a CPU."""
    return None if device_type == "cpu" else ON_GPU


def transformer_names(nlp: Language) -> List[str]:
    return [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == TRANSFORMER_FACTORY]


def quantize(pipe) -> None:
    """A transformer component's torch model as int8 (`quantize_module`), once. Raises
    ValueError where the model is on a GPU."""
    module = pipe.model.transformer
    if hasattr(module, "xx_multinerd_fp32_layers"):  # quantized already
        return
    problem = gpu_problem(next(module.parameters()).device.type)
    if problem is not None:
        raise ValueError(problem)
    quantize_module(module, pipe.model.tokenizer)


def quantize_transformers(nlp: Language) -> List[str]:
    """Quantize every transformer component's loaded model (see `quantize`); their names."""
    names = transformer_names(nlp)
    for name in names:
        quantize(nlp.get_pipe(name))
    return names


def _refuse_to_save(*args, **kwargs):
    raise ValueError("An int8 pipeline can't be saved: load it at fp32 (the default) to save it.")


def _quantizing(pipe) -> None:
    """Make `pipe` (a transformer component) quantize its model after each load of its weights,
    and refuse to save them."""
    from_disk, from_bytes = pipe.from_disk, pipe.from_bytes

    def load_then_quantize(load: Callable) -> Callable:
        def loaded(*args, **kwargs):
            result = load(*args, **kwargs)
            quantize(pipe)
            return result

        return loaded

    pipe.from_disk, pipe.from_bytes = load_then_quantize(from_disk), load_then_quantize(from_bytes)
    pipe.to_disk = pipe.to_bytes = _refuse_to_save


def transformer_precision(precision: str = "fp32") -> Callable[[Language], Language]:
    """The callback of `[nlp.after_pipeline_creation]` (see the module)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")

    def set_precision(nlp: Language) -> Language:
        if precision == "int8":
            from thinc.api import get_current_ops

            problem = gpu_problem(get_current_ops().device_type)
            if problem is not None:
                raise ValueError(problem)
            names = transformer_names(nlp)
            if not names:
                raise ValueError(NO_TRANSFORMER.format(pipes=", ".join(nlp.pipe_names) or "none"))
            for name in names:
                _quantizing(nlp.get_pipe(name))
            nlp.to_disk = nlp.to_bytes = _refuse_to_save  # before it writes anything
        return nlp

    return set_precision


# Registered once: where this project is installed, the package's copy and the project's (its
# entry point) both run, and the first keeps the name.
if CALLBACK not in registry.callbacks:
    registry.callbacks.register(CALLBACK, func=transformer_precision)
