"""No test may touch the network; the tiny BERT the smoke tests train, built once."""

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
def tiny_bert(tmp_path_factory) -> Path:
    from multinerd.tiny_bert import make_tiny_bert

    return make_tiny_bert(SAMPLE, tmp_path_factory.mktemp("encoder") / "tiny-bert")
