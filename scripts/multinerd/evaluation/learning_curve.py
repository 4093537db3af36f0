"""The learning curve of a training run, from the JSONL log multinerd.training.loop writes: the
training loss of each step (summed over the components, with its moving mean) and the dev score
of each evaluation, against the step."""

from pathlib import Path
from typing import Dict, List

import numpy
import srsly

# The moving mean of the loss spans this share of the steps: per-step losses are too noisy to read.
SMOOTHING = 0.02


def read_log(path: Path) -> List[Dict]:
    rows = list(srsly.read_jsonl(path))
    if not rows:
        raise ValueError(f"{path} has no steps")
    return rows


def plot_learning_curve(rows: List[Dict], path: Path) -> Path:
    """Draw the loss and the dev score against the step into `path` (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot as plt

    steps = numpy.array([row["step"] for row in rows])
    loss = numpy.array([sum(row["losses"].values()) for row in rows])
    window = max(1, round(SMOOTHING * len(rows)))
    mean = numpy.convolve(loss, numpy.ones(window) / window, mode="valid")
    evaluated = [row for row in rows if "score" in row]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(6, 5), dpi=100)
    top.plot([row["step"] for row in evaluated], [100 * row["score"] for row in evaluated], marker="o")
    top.set(ylabel="dev score (ents_f x100)", title=f"Learning curve ({steps[-1]:,} steps)")
    bottom.plot(steps, loss, color="lightgrey" if window > 1 else None, label="each step")
    if window > 1:
        bottom.plot(steps[window - 1 :], mean, label=f"mean of {window} steps")
    bottom.set(xlabel="step", ylabel="training loss")
    bottom.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
