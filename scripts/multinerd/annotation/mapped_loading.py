"""Loading a pipeline for annotation with as little memory as a Hugging Face pipeline needs.

`spacy.load` of a trf pipeline peaks at about 5 copies of the transformer's weights: the model
file read whole, thinc's msgpack copy of the transformer's part of it, spacy-transformers'
msgpack copy of the weights inside that, a randomly initialised model, and the `torch.load`ed
state dict that is then copied into it. Of those peaks the allocator keeps much, and the weights
that stay are all resident. `transformers.pipeline` instead maps its safetensors file and
reads only the pages it touches. (Measured in benchmarks/annotate: with multilingual-e5-small,
3.1 GB at load against 1.2 GB for the whole Hugging Face run.)

`load_for_annotation` loads everything but the transformer components as `spacy.load` does,
then each transformer's weights without a copy: the model file's msgpack is walked without
reading the weights (`read_msgpack`), their bytes (a torch zip) are copied to a temporary file,
which `torch.load(mmap=True)` maps, and they become the parameters of a model built with empty
(meta) parameters (`load_state_dict(assign=True)`). The file is deleted at once; its pages stay
mapped and are read from disk as they are touched. Peak memory: the weights once, as they are
used. Annotations are identical to `spacy.load`'s (tests/test_annotate_loading.py).
"""

import io
import os
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Dict, NamedTuple, Optional

from multinerd.loading import pipeline_folder

TRANSFORMER_FACTORY = "transformer"
# Values at least this big stay on disk (their position is read instead of their bytes).
_LARGE = 1 << 26
# Copy in chunks this size: a file written in large writes is cached in large page folios, and
# mapping one maps all of it at the first touch (16 MiB writes made 434 MB of 450 resident
# after 800 texts; 64 KiB writes 248 MB, as many as transformers' own mapping).
_COPY_CHUNK = 1 << 16


class Region(NamedTuple):
    """A large msgpack bin value left in its file: where its bytes start and how many there are."""

    offset: int
    length: int


def read_msgpack(f: BinaryIO, large: int = _LARGE) -> Any:
    """The msgpack value at `f`'s position, with every bin value of `large` bytes or more
    replaced by its Region (skipped, not read). Maps, arrays, strings, bins, numbers, booleans
    and nil: what thinc and spacy-transformers write."""

    def number(size: int, signed: bool = False) -> int:
        return int.from_bytes(f.read(size), "big", signed=signed)

    def value() -> Any:
        head = f.read(1)[0]
        if head <= 0x7F or head >= 0xE0:  # fixints
            return head if head <= 0x7F else head - 0x100
        if head <= 0x8F:
            return {value(): value() for _ in range(head & 0x0F)}
        if head <= 0x9F:
            return [value() for _ in range(head & 0x0F)]
        if head <= 0xBF:
            return f.read(head & 0x1F).decode("utf8")
        if head in (0xC0, 0xC2, 0xC3):
            return {0xC0: None, 0xC2: False, 0xC3: True}[head]
        if head in (0xC4, 0xC5, 0xC6):  # bin 8/16/32
            length = number(1 << (head - 0xC4))
            if length >= large:
                region = Region(f.tell(), length)
                f.seek(length, io.SEEK_CUR)
                return region
            return f.read(length)
        if head in (0xCA, 0xCB):
            return struct.unpack(">f" if head == 0xCA else ">d", f.read(4 if head == 0xCA else 8))[0]
        if 0xCC <= head <= 0xCF:
            return number(1 << (head - 0xCC))
        if 0xD0 <= head <= 0xD3:
            return number(1 << (head - 0xD0), signed=True)
        if head in (0xD9, 0xDA, 0xDB):  # str 8/16/32
            return f.read(number(1 << (head - 0xD9))).decode("utf8")
        if head in (0xDC, 0xDD):
            return [value() for _ in range(number(2 if head == 0xDC else 4))]
        if head in (0xDE, 0xDF):
            return {value(): value() for _ in range(number(2 if head == 0xDE else 4))}
        raise ValueError(f"msgpack type 0x{head:02x} at byte {f.tell() - 1} is not one thinc writes")

    return value()


def _at(path: Path, offset: int) -> BinaryIO:
    f = path.open("rb")
    f.seek(offset)
    return f


def _read(path: Path, region: Region) -> bytes:
    with _at(path, region.offset) as f:
        return f.read(region.length)


def _mapped_state(path: Path, region: Region):
    """The torch state dict stored at `region` of `path`, memory-mapped from a temporary copy."""
    import torch

    with _at(path, region.offset) as source, tempfile.NamedTemporaryFile(suffix=".pt", delete=False) as copy:
        left = region.length
        while left:
            chunk = source.read(min(left, _COPY_CHUNK))
            copy.write(chunk)
            left -= len(chunk)
    try:
        return torch.load(copy.name, mmap=True, map_location="cpu", weights_only=True)
    finally:
        os.unlink(copy.name)


def _load_transformer_model(model, path: Path, large: int) -> None:
    """A spacy-transformers TransformerModel from its saved file (`<pipe>/model`), weights mapped."""
    import srsly
    from spacy.util import SimpleFrozenDict
    from spacy_transformers.data_classes import HFObjects
    from spacy_transformers.util import make_tempdir
    from thinc.api import get_torch_default_device
    from thinc.util import convert_recursive, is_xp_array
    from transformers.integrations.accelerate import init_empty_weights

    with path.open("rb") as f:
        msg = read_msgpack(f, large)
    shims = msg["shims"]
    # thinc restores dims, refs, attrs and params as Model.from_bytes does; the shim is ours.
    model.from_dict(convert_recursive(is_xp_array, model.ops.asarray, {**msg, "shims": [[] for _ in shims]}))
    (saved,) = [node_shims[0] for node_shims in shims if node_shims]
    shim = model.layers[0].shims[0]
    with _at(path, saved.offset) if isinstance(saved, Region) else io.BytesIO(saved) as f:
        shim_msg = read_msgpack(f, large)
    with make_tempdir() as folder:
        srsly.write_json(folder / "config.json", shim_msg["config"])
        config = shim.config_cls.from_pretrained(folder / "config.json")
        files = dict(shim_msg["tokenizer"])
        kwargs = files.pop("kwargs", {})
        for name, data in files.items():
            (folder / name).write_bytes(_read(path, data) if isinstance(data, Region) else data)
        tokenizer = shim.tokenizer_cls.from_pretrained(str(folder), **kwargs)
        vocab_file = getattr(tokenizer, "vocab_file", None)
        vocab_file_contents = Path(vocab_file).read_bytes() if vocab_file and Path(vocab_file).is_file() else None
    with init_empty_weights():
        transformer = shim.model_cls.from_config(config)
    state = shim_msg["state"]  # a Region of the model file (read from the file, its positions are the file's)
    if isinstance(state, Region):
        state = _mapped_state(path, state)
    else:
        import torch

        state = torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)
    transformer.load_state_dict(state, assign=True)
    transformer.to(get_torch_default_device())
    model.attrs["has_transformer"] = False  # the saved flag from_dict restored: the weights go in now
    model.attrs["set_transformer"](
        model, HFObjects(tokenizer, transformer, vocab_file_contents, SimpleFrozenDict(), SimpleFrozenDict())
    )


def load_for_annotation(model: str, large: int = _LARGE, config: Optional[Dict] = None):
    """The pipeline `model` names, its transformer components' weights memory-mapped (see the
    module) when they take `large` bytes or more; `spacy.load` for a pipeline without them.
    `config`: overrides, as spacy.load takes them. A transformer's precision setting
    (multinerd.pipeline.precision) is left to the caller: its weights load past from_disk."""
    import spacy
    import srsly
    from spacy import util

    config = config or {}
    folder = pipeline_folder(model)
    if folder is None:
        return spacy.load(model, config=config)
    overrides = util.dict_to_dot(config, for_overrides=True)  # as spacy.load reads them
    loaded = util.load_config(folder / "config.cfg", overrides=overrides)
    names = [
        name for name in loaded["nlp"]["pipeline"] if loaded["components"][name].get("factory") == TRANSFORMER_FACTORY
    ]
    if not names:
        return spacy.load(folder, config=config)
    nlp = util.load_model_from_config(loaded, meta=util.get_model_meta(folder))
    nlp.from_disk(folder, exclude=names, overrides=overrides)
    for name in names:
        pipe = nlp.get_pipe(name)
        pipe.cfg.update(srsly.read_json(folder / name / "cfg"))
        _load_transformer_model(pipe.model, folder / name / "model", large)
    return nlp
