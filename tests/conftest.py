"""Shared test set-up: no test may touch the network, and what several test files need is built
once per run (session scope): the tiny seeded BERT and the converted bundled sample."""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "multinerd_sample"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny random BERT (seeded) with a WordPiece vocabulary from the sample: the trf code path, offline."""
    from multinerd_dev.tiny_bert import make_tiny_bert

    return make_tiny_bert(SAMPLE, tmp_path_factory.mktemp("tiny-bert") / "model")


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> Path:
    """The bundled sample, converted as `spacy project run convert` converts it. Read only."""
    from multinerd.data.corpus import convert
    from multinerd.data.readers import read_files

    corpus = tmp_path_factory.mktemp("sample") / "corpus"
    convert(read_files(SAMPLE), corpus, n_buckets=4, dev_sample_size=20)
    return corpus
