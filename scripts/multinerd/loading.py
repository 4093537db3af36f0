"""The one way a command loads a trained pipeline (evaluate, annotate, visualize): check that the
name is a package or a pipeline folder, claim the GPU if asked, load, and on a GPU use
GPU-sized batches."""

from pathlib import Path
from typing import Callable, Optional

from multinerd.training.gpu import GPUUnavailable, require_gpu, use_gpu_annotation_settings

# The components whose predictions are doc.ents: spaCy's, and the trf config's BIO tagger
# (multinerd.pipeline.bio_tagger.FACTORY, named here so that the callers need not import spaCy to read it).
ENTITY_FACTORIES = ("ner", "beam_ner", "entity_ruler", "span_ruler", "xx_multinerd_bio_ner")


class LoadError(Exception):
    """The pipeline can't be loaded; the message is the line to show."""


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


def load_pipeline(model: str, gpu_id: int = -1, load: Optional[Callable] = None):
    """The pipeline `model` names (a package or a folder), loaded by `load` (spacy.load unless
    given), on GPU `gpu_id` if it is 0 or more, with GPU-sized batches (multinerd.training.gpu).
    Raises LoadError."""
    problem = pipeline_problem(model)
    if problem is not None:
        raise LoadError(problem)
    if gpu_id >= 0:
        try:
            require_gpu(gpu_id)
        except GPUUnavailable as err:
            raise LoadError(str(err)) from None
    if load is None:
        import spacy

        load = spacy.load
    try:
        nlp = load(model)
    except Exception as err:  # whatever a broken or incompatible pipeline raises
        raise LoadError(f"Can't load the pipeline {model}: {str(err).strip().splitlines()[0]}") from None
    if gpu_id >= 0:
        use_gpu_annotation_settings(nlp)
    return nlp
