"""The device run's first check, before any benchmark time is spent: every package of wheels.txt
imports at its pinned version (the archive carried is not stale), the project's registrations
are found, and on a GPU torch and thinc (cupy) both see it and thinc routes cupy's memory through
torch's allocator, as configs/trf.cfg's gpu_allocator asks (so that torch's peak memory counts
the NER's arrays too). Prints the versions that matter as one JSON line.

    python scripts/stack.py --gpu-id 0
"""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Optional

import peers  # noqa: F401 (the peer benchmarks' scripts, imported by sides)
import srsly
import typer
from sides import thinc_allocator
from wheels import read_list

from multinerd.cli import fail

PROJECT = Path(__file__).resolve().parents[1]
REPO = PROJECT.parents[1]


def installed(name: str) -> Optional[str]:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def main(
    gpu_id: int = typer.Option(0, help="GPU id, or -1 for the CPU (versions and registrations only)"),
    wheel_list: Path = typer.Option(PROJECT / "wheels.txt", exists=True, help="The pins carried as downloaded"),
    built: Path = typer.Option(PROJECT / "wheels-built.txt", exists=True, help="The pins carried as built here"),
    config: Path = typer.Option(REPO / "configs" / "trf.cfg", exists=True, help="Whose gpu_allocator to check"),
):
    import spacy
    import torch
    from spacy.util import load_config
    from thinc.api import set_gpu_allocator

    pins = {**read_list(wheel_list, pinned=True), **read_list(built, pinned=True)}
    problems = [f"{name} {installed(name) or 'missing'} (pinned {pin})" for name, pin in pins.items()
                if installed(name) != pin]  # fmt: skip
    if "xx_multinerd.CJKCharTokenizer.v1" not in spacy.registry.tokenizers.get_all():
        problems.append("the project's entry points are not registered (install its wheel)")
    about = {name: installed(name) for name in ("spacy", "thinc", "spacy-transformers", "transformers", "tokenizers",
                                                "torch", "cupy-cuda13x", "cupy-cuda12x", "numpy", "accelerate")}  # fmt: skip
    if gpu_id >= 0:
        about.update({"torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()})
        try:
            spacy.require_gpu(gpu_id)
            set_gpu_allocator(load_config(config)["system"]["gpu_allocator"])
            about.update({"gpu": torch.cuda.get_device_name(gpu_id), "thinc_allocator": thinc_allocator()})
        except Exception as err:  # no cupy, no GPU, a broken CUDA library
            problems.append(f"spaCy can't use GPU {gpu_id}: {err}")
        if about.get("thinc_allocator") not in (None, "pytorch"):
            problems.append(f"thinc allocates GPU memory through {about['thinc_allocator']}, not torch")
    print(srsly.json_dumps(about))
    if problems:
        fail("Stack check: " + "; ".join(problems) + ". Rebuild the archive (`spacy project run wheels`) and carry it.")


if __name__ == "__main__":
    typer.run(main)
