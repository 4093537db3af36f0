"""What changes when a transformer pipeline trains or annotates on a GPU (`gpu_id >= 0`); on the
CPU the configs' own settings apply, unchanged.

configs/trf.cfg is tuned for a 2-core CPU: two length-sorted gradient groups per step
(`accumulate_gradient = 2`) and transformer groups of 256 tokens, settings that leave a GPU
mostly idle. On a GPU: fp16 mixed precision, one gradient group per step, and for annotation
larger batches and transformer groups. These are the values a GPU run starts from; they have not
been measured yet (no GPU was available): benchmarks/gpu measures them, and sweeps the others.

The training batch stays the config's (16 sentences): its learning rate was chosen for it, and
a larger batch needs the accuracy benchmark (benchmarks/hf_recipe) to show that F1 holds at the
same number of sentences seen.
"""

from typing import Any, Dict

from confection import Config

# One gradient group per step: on a GPU the padding that two length-sorted halves save costs
# less than a second pass through the model's kernels.
GPU_ACCUMULATE_GRADIENT = 1
# nlp.pipe on a GPU: docs per batch, and tokens (docs x longest doc) per transformer group;
# a batch of 256 MultiNERD sentences (about 23 words each) fills one or two groups of 4096.
GPU_ANNOTATION_BATCH = 256
GPU_MAX_BATCH_ITEMS = 4096


def gpu_training_overrides(config: Config) -> Dict[str, Any]:
    """The config overrides of training on a GPU (none for a config without a transformer)."""
    if "transformer" not in config["components"]:
        return {}
    return {
        "components.transformer.model.mixed_precision": True,
        "training.accumulate_gradient": GPU_ACCUMULATE_GRADIENT,
    }


class GPUUnavailable(Exception):
    """No GPU to run on (no cupy, no such device): one line, saying to use the CPU."""


def require_gpu(gpu_id: int) -> None:
    """Run spaCy on GPU `gpu_id`, with cupy's memory (thinc's arrays: the NER's) taken from
    torch's allocator, as training takes it (the configs' gpu_allocator): one pool for the
    transformer and the NER, so that neither holds memory the other needs. Raises GPUUnavailable
    where spacy.require_gpu fails."""
    import spacy
    from thinc.api import set_gpu_allocator

    try:
        spacy.require_gpu(gpu_id)
    except Exception as err:  # no cupy, no such device
        raise GPUUnavailable(f"Can't use GPU {gpu_id}: {err}. Pass --gpu-id -1 for the CPU.") from None
    set_gpu_allocator("pytorch")


def use_gpu_annotation_settings(
    nlp, batch_size: int = GPU_ANNOTATION_BATCH, max_batch_items: int = GPU_MAX_BATCH_ITEMS
) -> None:
    """Annotate with GPU-sized batches: `nlp.pipe`'s default batch, and the transformer's groups.

    A trained pipeline keeps the CPU's group size in its config (a package is annotated on CPUs
    too), so a GPU run sets it when it loads the pipeline.
    """
    nlp.batch_size = batch_size
    if "transformer" in nlp.pipe_names:
        nlp.get_pipe("transformer").cfg["max_batch_items"] = max_batch_items
