"""What the visualizer's tests share (tests/test_visualize.py, benchmarks/visualize): a small cnn
pipeline trained briefly on the sample, so that its entities and their scores vary as a real
pipeline's do (an untrained one tags a whole sentence as one entity scored 0)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = 100  # about 10 s on one core; the sample's entities (PER, LOC) are found from here on


def trained_pipeline(sample_corpus: Path, output: Path) -> Path:
    """configs/cnn.cfg trained STEPS steps on the sample's training split; its last model (the
    output folder is spaCy's: model-last, model-best)."""
    from spacy.cli.train import train

    if not (output / "model-last" / "config.cfg").exists():
        overrides = {
            "paths.train": str(sample_corpus / "train"),
            "paths.dev": str(sample_corpus / "dev_sample"),
            "paths.labels": str(sample_corpus / "labels" / "ner.json"),
            "training.max_steps": STEPS,
            "training.eval_frequency": STEPS,
        }
        train(ROOT / "configs" / "cnn.cfg", output, overrides=overrides)
    return output / "model-last"
