"""multinerd.annotation.mapped_loading: a trf pipeline loaded with its transformer's weights memory-mapped
annotates exactly as `spacy.load`'s, and its weights are the mapped file's pages; the msgpack
walker reads what srsly writes, leaving large values in the file."""

import io
from pathlib import Path

import numpy
import pytest
import srsly
from annotate_helpers import initialised_pipeline, sample_test_texts
from hypothesis import given, settings
from hypothesis import strategies as st

from multinerd.annotation.mapped_loading import Region, load_for_annotation, read_msgpack


@pytest.fixture(scope="module")
def trf_pipeline(tiny_bert, sample_corpus, tmp_path_factory) -> Path:
    """configs/trf.cfg on the tiny BERT, initialised on the sample (untrained: seeded weights), saved."""
    overrides = {"components.transformer.model.name": str(tiny_bert)}
    return initialised_pipeline("trf.cfg", sample_corpus, tmp_path_factory.mktemp("trf") / "model", **overrides)


def annotations(nlp, texts):
    docs = list(nlp.pipe(texts, batch_size=16))
    return (
        [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs],
        [doc._.trf_data.model_output.last_hidden_state for doc in docs],
    )


def mapped_files(address: int):
    """The files whose mapping in this process holds `address`."""
    found = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end and len(fields) == 6:
            found.append(fields[5])
    return found


def test_mapped_weights_annotate_exactly_as_spacy_load(trf_pipeline, sample_corpus):
    import spacy

    texts = sample_test_texts(sample_corpus)
    # large=1 KiB: the tiny BERT's weights are mapped too, as a real model's are
    lean = load_for_annotation(str(trf_pipeline), large=1024)
    plain = spacy.load(trf_pipeline)
    (lean_ents, lean_states), (plain_ents, plain_states) = annotations(lean, texts), annotations(plain, texts)
    assert lean_ents == plain_ents and sum(map(len, plain_ents)) > 0
    assert all(numpy.array_equal(a, b) for a, b in zip(lean_states, plain_states))
    assert lean.pipe_names == plain.pipe_names and lean.get_pipe("transformer").cfg == plain.get_pipe("transformer").cfg
    hf_model = lean.get_pipe("transformer").model.layers[0].shims[0]._model
    plain_model = plain.get_pipe("transformer").model.layers[0].shims[0]._model

    def in_mapped_copy(model) -> bool:
        return any(
            name.endswith(".pt (deleted)") for name in mapped_files(model.get_input_embeddings().weight.data_ptr())
        )

    assert in_mapped_copy(hf_model) and not in_mapped_copy(plain_model)  # spacy.load's: in the heap


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=values, large=st.integers(1, 64))
def test_the_msgpack_walker_reads_what_srsly_writes(value, large):
    data = srsly.msgpack_dumps(value)
    assert read_msgpack(io.BytesIO(data)) == value

    def restored(read):
        """`read` with each Region replaced by the bytes it points at."""
        if isinstance(read, Region):
            return data[read.offset : read.offset + read.length]
        if isinstance(read, list):
            return [restored(item) for item in read]
        if isinstance(read, dict):
            return {key: restored(item) for key, item in read.items()}
        return read

    walked = read_msgpack(io.BytesIO(data), large=large)
    assert restored(walked) == value
