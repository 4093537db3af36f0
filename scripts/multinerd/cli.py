"""What the command-line scripts share."""

import sys
from pathlib import Path
from typing import NoReturn, Optional

# The components whose predictions are doc.ents: spaCy's, and the trf config's BIO tagger
# (multinerd.pipeline.bio_tagger.FACTORY, named here so that the scripts need not import spaCy to read it).
ENTITY_FACTORIES = ("ner", "beam_ner", "entity_ruler", "span_ruler", "xx_multinerd_bio_ner")


def fail(message: str) -> NoReturn:
    """Say on one line what went wrong and what to do (stderr), and exit with status 1.

    (wasabi's msg.fail wraps long messages over several lines.)
    """
    print(f"✘ {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def pipeline_problem(model: str) -> Optional[str]:
    """Why `model` is neither an installed package nor a pipeline folder, as the line to show;
    None if it is one (cheap: nothing is loaded)."""
    import spacy

    if not (Path(model).exists() or spacy.util.is_package(model)):
        return (
            f"No pipeline {model}: pass an installed package (xx_multinerd, after `spacy project run all`) "
            "or a pipeline folder such as training/cnn/model-best (written by `spacy project run train`)."
        )
    if Path(model).is_dir() and not (Path(model) / "config.cfg").exists():
        return f"{model} is not a spaCy pipeline (no config.cfg): pass a folder such as training/cnn/model-best."
    return None


def config_problem(configs: Path, config: str) -> Optional[str]:
    """Why CONFIGS/<config>.cfg can't be trained (it is not there), as the line to show; None if it can."""
    if (configs / f"{config}.cfg").is_file():
        return None
    choices = ", ".join(sorted(path.stem for path in configs.glob("*.cfg")))
    return f"No {configs / config}.cfg: choose --vars.config from the configs in {configs}/ ({choices})."
