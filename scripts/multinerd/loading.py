"""The one way a command loads a trained pipeline (evaluate, annotate, visualize): check that the
name is a package or a pipeline folder, claim the GPU if asked, load at the precision asked
(multinerd.pipeline.precision), and on a GPU use GPU-sized batches."""

from enum import Enum
from pathlib import Path
from typing import Callable, Optional

from multinerd.training.gpu import GPUUnavailable, require_gpu, use_gpu_annotation_settings

# The components whose predictions are doc.ents: spaCy's, and the trf config's BIO tagger
# (multinerd.pipeline.bio_tagger.FACTORY, named here so that the callers need not import spaCy to read it).
ENTITY_FACTORIES = ("ner", "beam_ner", "entity_ruler", "span_ruler", "xx_multinerd_bio_ner")


class Precision(str, Enum):
    """The transformer's precision (multinerd.pipeline.precision.PRECISIONS)."""

    fp32 = "fp32"
    int8 = "int8"


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


def pipeline_folder(model: str) -> Optional[Path]:
    """The data folder of a pipeline: `model` itself, or an installed package's (imported, so
    that its code registers itself); None when it can't be told."""
    import importlib

    from spacy import util

    if Path(model).is_dir():
        return Path(model)
    if not util.is_package(model):
        return None
    importlib.import_module(model)
    package = util.get_package_path(model)
    meta = util.get_model_meta(package)
    folder = package / f"{meta['lang']}_{meta['name']}-{meta['version']}"
    return folder if (folder / "config.cfg").is_file() else None


def not_applicable(model: str, pipes) -> str:
    return f"int8 does not apply to {model}: it has no transformer (pipes: {', '.join(pipes) or 'none'}); drop --precision int8."


def precision_problem(model: str, precision: Precision, gpu_id: int = -1) -> Optional[str]:
    """Why `model` can't run at `precision` (int8 on a GPU, or on a pipeline without a
    transformer), as the line to show; None if it can (cheap: its config is read, no weights)."""
    from spacy import util

    from multinerd.pipeline.precision import ON_GPU, TRANSFORMER_FACTORY

    if precision == Precision.fp32:
        return None
    if gpu_id >= 0:
        return ON_GPU
    folder = pipeline_folder(model)
    if folder is None:  # told after loading (load_pipeline)
        return None
    config = util.load_config(folder / "config.cfg", interpolate=False)
    pipes = config["nlp"]["pipeline"]
    if not any(config["components"][name].get("factory") == TRANSFORMER_FACTORY for name in pipes):
        return not_applicable(model, pipes)
    return None


def precision_overrides(model: str, precision: Precision) -> dict:
    """The config overrides that load `model` at `precision` through its own setting (the trf
    config's [nlp.after_pipeline_creation]); none for fp32 or a pipeline without the setting."""
    from spacy import util

    from multinerd.pipeline.precision import CALLBACK

    folder = pipeline_folder(model) if precision == Precision.int8 else None
    if folder is None:
        return {}
    setting = util.load_config(folder / "config.cfg", interpolate=False)["nlp"].get("after_pipeline_creation") or {}
    if setting.get("@callbacks") != CALLBACK:
        return {}
    return {"nlp": {"after_pipeline_creation": {"precision": precision.value}}}


def load_pipeline(model: str, gpu_id: int = -1, load: Optional[Callable] = None, precision: Precision = Precision.fp32):
    """The pipeline `model` names (a package or a folder), loaded by `load` (spacy.load unless
    given; called with the model and config overrides), on GPU `gpu_id` if it is 0 or more, with
    GPU-sized batches (multinerd.training.gpu), its transformer at `precision`. Raises LoadError."""
    from multinerd.pipeline.precision import quantize_transformers

    problem = pipeline_problem(model) or precision_problem(model, precision, gpu_id)
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
        nlp = load(model, config=precision_overrides(model, precision))
    except Exception as err:  # whatever a broken or incompatible pipeline raises
        raise LoadError(f"Can't load the pipeline {model}: {str(err).strip().splitlines()[0]}") from None
    # The pipeline's setting quantizes as spacy.load puts the weights in; a loader that maps them
    # (annotate's) or a pipeline trained before the setting existed is quantized here (a no-op
    # on layers already int8).
    if precision == Precision.int8 and not quantize_transformers(nlp):
        raise LoadError(not_applicable(model, nlp.pipe_names))
    if gpu_id >= 0:
        use_gpu_annotation_settings(nlp)
    return nlp
