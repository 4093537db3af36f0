"""Check that a GPU run can start: torch, cupy and thinc all see GPU --gpu-id, and cupy allocates
from torch's memory pool (as training sets it). Prints a line for each; on failure, one line
saying what to install (requirements-gpu.txt) and exit 1."""

import typer
from wasabi import msg

from multinerd.cli import fail
from multinerd.training.gpu import GPUUnavailable, gpu_report

app = typer.Typer(add_completion=False)


@app.command()
def main(gpu_id: int = typer.Option(0, help="The GPU to check")):
    if gpu_id < 0:
        fail(f"GPU id {gpu_id} is the CPU: pass the GPU to check (spacy project run: --vars.gpu_id=0).")
    try:
        lines = gpu_report(gpu_id)
    except GPUUnavailable as err:
        fail(str(err))
    for line in lines:
        msg.good(line)


if __name__ == "__main__":
    app()
