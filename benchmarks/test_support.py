"""What the benchmark projects' tests share (each pytest.ini puts `..`, this folder, on the path;
each tests/conftest.py imports from here): no test may touch the network, the repository's
paths, and the session fixtures, built once a session and read only."""

import os
from pathlib import Path

import pytest

for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[variable] = "1"

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "assets" / "multinerd_sample"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny seeded BERT with the sample's word pieces (multinerd.tiny_bert)."""
    from multinerd.tiny_bert import make_tiny_bert

    return make_tiny_bert(SAMPLE, tmp_path_factory.mktemp("encoder") / "tiny-bert")


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> Path:
    """The bundled sample, converted (the same fixture as the product's tests/conftest.py, which
    the product's test helpers expect)."""
    from multinerd.corpus import convert
    from multinerd.readers import read_files

    corpus = tmp_path_factory.mktemp("sample") / "corpus"
    convert(read_files(SAMPLE), corpus, n_buckets=4, dev_sample_size=20)
    return corpus
