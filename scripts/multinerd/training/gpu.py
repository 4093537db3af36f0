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

import importlib.util
from typing import Any, Dict, List, Optional

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


# What a GPU run needs on top of requirements.txt: torch built with CUDA, and cupy (thinc's arrays).
INSTALL_GPU = "python -m pip install -r requirements-gpu.txt"


class GPUUnavailable(Exception):
    """No GPU to run on (no cupy, no CUDA build of torch, no such device): one line, saying what
    to install, then that the CPU works."""


def gpu_problem(gpu_id: int) -> Optional[str]:
    """Why GPU `gpu_id` can't run spaCy and torch, with what to install; None if it can."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build: install the CUDA build and cupy (`{INSTALL_GPU}`)"
    if importlib.util.find_spec("cupy") is None:
        return f"cupy is not installed (thinc's arrays need it): `{INSTALL_GPU}`"
    if gpu_id >= torch.cuda.device_count():
        return f"torch sees {torch.cuda.device_count()} GPU(s), so no GPU {gpu_id} (check CUDA_VISIBLE_DEVICES and the driver: nvidia-smi)"
    return None


def require_gpu(gpu_id: int) -> None:
    """Run spaCy on GPU `gpu_id`, with cupy's memory (thinc's arrays: the NER's) taken from
    torch's allocator, as training takes it (the configs' gpu_allocator): one pool for the
    transformer and the NER, so that neither holds memory the other needs. Raises GPUUnavailable
    where that can't be done, saying what to install."""
    import spacy
    from thinc.api import set_gpu_allocator

    problem = gpu_problem(gpu_id)
    if problem is None:
        try:
            spacy.require_gpu(gpu_id)
        except Exception as err:  # a driver or a cupy that doesn't match the device
            problem = f"spaCy can't use it ({err}); the CUDA build of torch and cupy for this driver: `{INSTALL_GPU}`"
    if problem:
        raise GPUUnavailable(f"Can't use GPU {gpu_id}: {problem}. Or pass --gpu-id -1 to run on the CPU.")
    set_gpu_allocator("pytorch")


def gpu_report(gpu_id: int) -> List[str]:
    """Lines saying what torch, cupy and thinc see of GPU `gpu_id` and whether cupy's memory comes
    from torch's allocator (an array thinc allocates shows in torch's count). Raises GPUUnavailable."""
    import torch
    from thinc.api import get_current_ops

    require_gpu(gpu_id)
    import cupy

    device = torch.cuda.get_device_properties(gpu_id)
    before = torch.cuda.memory_allocated(gpu_id)
    array = get_current_ops().alloc1f(1 << 20)  # 4 MiB from thinc, as the NER's arrays
    shared = torch.cuda.memory_allocated(gpu_id) - before >= array.nbytes
    lines = [
        f"torch {torch.__version__} (CUDA {torch.version.cuda}): GPU {gpu_id} = {device.name}, {device.total_memory / 2**30:.1f} GiB",
        f"cupy {cupy.__version__}: device {cupy.cuda.Device().id}, {cupy.cuda.runtime.getDeviceCount()} visible",
        f"thinc: {type(get_current_ops()).__name__} on device {array.device.id}",
        "allocator: "
        + (
            "cupy allocates from torch's pool (one pool for both)"
            if shared
            else "cupy does NOT allocate from torch's pool"
        ),
    ]
    if not shared or array.device.id != gpu_id:
        raise GPUUnavailable(" | ".join(lines) + ": torch and thinc disagree; reinstall with " + INSTALL_GPU)
    return lines


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
