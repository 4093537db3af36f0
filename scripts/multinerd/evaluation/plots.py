"""The entity scores' plots: the reliability curve and the precision-recall curve."""

from pathlib import Path
from typing import Dict, List


def plot_confidence(report: Dict, output_dir: Path) -> List[Path]:
    """The reliability curve and the precision-recall curve, as PNG files in `output_dir`."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot as plt

    rows = [row for row in report["reliability"] if row["entities"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    ax.plot([r["mean_score"] for r in rows], [r["accuracy"] for r in rows], marker="o", label="this pipeline")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="entity score (bin mean)", ylabel="share correct",
           title=f"Reliability (ECE {report['ece']:.3f}, {report['entities']:,} entities)")  # fmt: skip
    ax.legend(loc="upper left")
    fig.tight_layout()
    paths = [output_dir / "reliability.png", output_dir / "precision_recall.png"]
    fig.savefig(paths[0])
    plt.close(fig)
    curve = [point for point in report["curve"] if point["entities"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.plot([p["recall"] for p in curve], [p["precision"] for p in curve], label="score thresholds 0-1")
    for point in report["thresholds"]:
        ax.scatter(point["recall"], point["precision"], zorder=3)
        ax.annotate(
            f"{point['threshold']:.1f}",
            (point["recall"], point["precision"]),
            textcoords="offset points",
            xytext=(4, 4),
        )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="recall", ylabel="precision", title="Precision and recall by threshold")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
