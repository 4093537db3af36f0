"""No test may touch the network; the converted bundled sample, built once a session."""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

PROJECT = Path(__file__).resolve().parent.parent
REPO = PROJECT.parents[1]
SAMPLE = REPO / "assets" / "multinerd_sample"


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> Path:
    """The bundled sample, converted (the same fixture as the product's tests/conftest.py, which
    the product's test helpers expect). Read only."""
    from multinerd.corpus import convert
    from multinerd.readers import read_files

    corpus = tmp_path_factory.mktemp("sample") / "corpus"
    convert(read_files(SAMPLE), corpus, n_buckets=4, dev_sample_size=20)
    return corpus
