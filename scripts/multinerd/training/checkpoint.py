"""A training run's complete state on disk, so that a run killed at any point continues where its
last checkpoint left it and ends as an uninterrupted run would, bit for bit.

OUTPUT/checkpoint/ holds:
- model/: the pipeline's current weights (`nlp.to_disk`, not the averages: those are the
  optimizer's);
- optimizer.npz: the optimizer's arrays (Adam's two moments, the parameter averages), keyed by
  each parameter's place in the pipeline, since thinc's keys are node ids that a new process
  numbers anew;
- state.pkl: the optimizer's update counts, the loop's position (the step, which is also the
  number of batches taken from the training stream, the epoch, words seen, losses since the last
  evaluation, the evaluations so far) and the RNG states of random, numpy and torch (CPU and
  CUDA), plus each shim's gradient scaler (fp16 on a GPU);
- fingerprint.json: what the run depends on (the config, the corpus files' hashes, the source of
  the project's modules it ran, the libraries' versions), so that a resume with something changed
  is refused, naming it.

The schedules (learning rate, dropout) are thinc generators, which can't be saved: a resume
rebuilds them from the config and advances them by the steps done. cupy's generator (dropout on
a GPU) can't be saved either: on a GPU every run reseeds it at each checkpoint, from the seed and
the step, so that an interrupted run and an uninterrupted one draw the same numbers after it.
OUTPUT/checkpoint and OUTPUT/model-best are replaced together, atomically (multinerd.data.staging).
"""

import hashlib
import pickle
import random
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy
import srsly
from confection import Config
from thinc.api import Optimizer, get_current_ops

CHECKPOINT = "checkpoint"
MODEL = "model"
OPTIMIZER = "optimizer.npz"
STATE = "state.pkl"
FINGERPRINT = "fingerprint.json"
# The libraries whose arithmetic the weights depend on.
LIBRARIES = ("numpy", "thinc", "spacy", "spacy-transformers", "torch", "transformers", "cupy")
OPTIMIZER_TABLES = ("mom1", "mom2", "averages")


class ResumeRefused(Exception):
    """A checkpoint that doesn't match the run asked for: one line saying what changed."""


def _nodes(nlp) -> Iterable[Tuple[str, Any]]:
    """Each thinc node of the pipeline's models, named by its place ("ner:3"): the same in every
    process that builds the same pipeline (a shared node keeps its first place)."""
    seen = set()
    for pipe_name, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        for i, node in enumerate(model.walk() if hasattr(model, "walk") else ()):
            if node.id not in seen:
                seen.add(node.id)
                yield f"{pipe_name}:{i}", node


def _shims(nlp) -> Iterable[Tuple[str, Any]]:
    """Each PyTorch shim (a transformer) of the pipeline, named by its node's place ("transformer:1:shim0")."""
    for name, node in _nodes(nlp):
        for j, shim in enumerate(node.shims):
            yield f"{name}:shim{j}", shim


def parameter_keys(nlp) -> Dict[Tuple[int, str], str]:
    """The optimizer's key of each parameter -> its name by place ("ner:3|W", "transformer:1:shim0|
    encoder.layer.0.output.dense.weight"). The optimizer keys thinc's parameters by (node id, name)
    and a shim's by (shim id, name): ids a new process numbers anew, and nodes and shims apart,
    so that one id may be both a node's and a shim's."""
    keys = {(node.id, param): f"{name}|{param}" for name, node in _nodes(nlp) for param in node.param_names}
    for name, shim in _shims(nlp):
        keys.update({(shim.id, param): f"{name}|{param}" for param, _ in shim._model.named_parameters()})
    return keys


def rng_states() -> Dict[str, Any]:
    import torch

    states = {"random": random.getstate(), "numpy": numpy.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch_cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    import torch

    random.setstate(states["random"])
    numpy.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "torch_cuda" in states:
        torch.cuda.set_rng_state_all(states["torch_cuda"])


def reseed_gpu(seed: int, step: int) -> None:
    """Reseed cupy's generator (whose state can't be saved) from the seed and the step, on a GPU."""
    if "cupy" in sys.modules:
        from thinc.api import CupyOps

        if isinstance(get_current_ops(), CupyOps):
            sys.modules["cupy"].random.seed((seed * 1_000_003 + step) % 2**32)


def save_optimizer(optimizer: Optimizer, keys: Dict[Tuple[int, str], str], path: Path) -> Dict[str, Any]:
    """Write the optimizer's arrays to `path`; return its counters, named as the arrays are."""
    ops = get_current_ops()
    arrays = {}
    for table in OPTIMIZER_TABLES:
        for key, value in (getattr(optimizer, table) or {}).items():
            arrays[f"{table}|{keys[key]}"] = ops.to_numpy(value)
    with path.open("wb") as file:
        numpy.savez(file, **arrays)
    return {
        table: {keys[key]: count for key, count in getattr(optimizer, table).items()}
        for table in ("nr_update", "last_seen")
    }


def load_optimizer(
    optimizer: Optimizer, keys: Dict[Tuple[int, str], str], path: Path, counters: Dict[str, Any]
) -> None:
    """Restore what save_optimizer wrote into a fresh optimizer of the same pipeline (`keys`)."""
    ops = get_current_ops()
    key = {name: optimizer_key for optimizer_key, name in keys.items()}
    with numpy.load(path) as arrays:
        for stored in arrays.files:
            table, name = stored.split("|", 1)
            getattr(optimizer, table)[key[name]] = ops.asarray(arrays[stored])
    for table, counts in counters.items():
        for name, count in counts.items():
            getattr(optimizer, table)[key[name]] = count


def grad_scaler_states(nlp) -> Dict[str, Any]:
    """Each PyTorch shim's loss scale and growth count (fp16 training on a GPU moves them)."""
    return {
        name: (shim._grad_scaler._scale.clone().cpu(), shim._grad_scaler._growth_tracker.clone().cpu())
        for name, shim in _shims(nlp)
    }


def set_grad_scaler_states(nlp, states: Dict[str, Any]) -> None:
    for name, shim in _shims(nlp):
        scale, growth = states[name]
        shim._grad_scaler._scale.copy_(scale)
        shim._grad_scaler._growth_tracker.copy_(growth)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def corpus_hashes(paths: Iterable[Path]) -> Dict[str, str]:
    """sha256 of each file of the corpus folders (or files) `paths`."""
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    return {str(f): _sha256(f) for f in files}


def code_hashes() -> Dict[str, str]:
    """sha256 of the source of each of this package's modules that the process has imported."""
    package = Path(__file__).resolve().parents[1]
    files = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    return {str(f.relative_to(package.parent)): _sha256(f) for f in sorted(files) if f.is_relative_to(package)}


def library_versions() -> Dict[str, Optional[str]]:
    from importlib.metadata import PackageNotFoundError, version

    versions: Dict[str, Optional[str]] = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def fingerprint(config: Config, corpus: Iterable[Path]) -> Dict[str, Any]:
    """What a run's result depends on besides its seed: see the module."""
    return {
        "config": config.to_str(),
        "corpus": corpus_hashes(corpus),
        "code": code_hashes(),
        "libraries": library_versions(),
    }


def _flat(config: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def what_changed(saved: Dict[str, Any], current: Dict[str, Any]) -> Optional[str]:
    """The first difference between a checkpoint's fingerprint and the run's, in words; None if none.
    Code is compared as the checkpoint's run imported it: its modules' files as they are now."""
    old, new = (
        _flat(Config().from_str(saved["config"], interpolate=False)),
        _flat(Config().from_str(current["config"], interpolate=False)),
    )
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            return f"the config's {key} ({old.get(key)!r} -> {new.get(key)!r})"
    if saved["corpus"].keys() != current["corpus"].keys():
        return f"the corpus's files ({len(saved['corpus'])} -> {len(current['corpus'])})"
    for name, digest in saved["corpus"].items():
        if current["corpus"][name] != digest:
            return f"the corpus file {name}"
    package = Path(__file__).resolve().parents[2]
    for name, digest in saved["code"].items():
        path = package / name
        if not path.is_file() or _sha256(path) != digest:
            return f"the code of scripts/{name}"
    for name, version in saved["libraries"].items():
        if current["libraries"].get(name) != version:
            return f"the version of {name} ({version} -> {current['libraries'].get(name)})"
    return None


def save_checkpoint(folder: Path, nlp, optimizer: Optimizer, loop: Dict[str, Any], run: Dict[str, Any]) -> None:
    """Write the run's state into `folder` (a staging work folder's checkpoint/)."""
    folder.mkdir(parents=True)
    nlp.to_disk(folder / MODEL)
    counters = save_optimizer(optimizer, parameter_keys(nlp), folder / OPTIMIZER)
    state = {"loop": loop, "optimizer": counters, "rng": rng_states(), "grad_scalers": grad_scaler_states(nlp)}
    (folder / STATE).write_bytes(pickle.dumps(state))
    srsly.write_json(folder / FINGERPRINT, run)


def read_fingerprint(folder: Path) -> Dict[str, Any]:
    return srsly.read_json(folder / FINGERPRINT)


def load_pipeline(folder: Path):
    """The pipeline of a checkpoint, with its weights as they were (not averaged)."""
    import spacy

    return spacy.load(folder / MODEL)


def restore_state(folder: Path, nlp, optimizer: Optimizer) -> Dict[str, Any]:
    """Set `optimizer` (fresh from the config), the gradient scalers and the RNGs to a checkpoint's
    state; return the loop's state."""
    state = pickle.loads((folder / STATE).read_bytes())
    load_optimizer(optimizer, parameter_keys(nlp), folder / OPTIMIZER, state["optimizer"])
    set_grad_scaler_states(nlp, state["grad_scalers"])
    set_rng_states(state["rng"])
    return state["loop"]
