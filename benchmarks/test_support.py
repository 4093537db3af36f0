"""What the benchmark projects' tests share (each pytest.ini puts `..`, this folder, on the path;
each tests/conftest.py imports from here): the product's own test set-up, tests/conftest.py (no
test may touch the network; the session fixtures `tiny_bert` and `sample_corpus`), loaded under a
name of its own, since every benchmark has a conftest module of its own; and the repository's
paths."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_spec = importlib.util.spec_from_file_location("multinerd_product_conftest", REPO / "tests" / "conftest.py")
product_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(product_conftest)

SAMPLE = product_conftest.SAMPLE
tiny_bert = product_conftest.tiny_bert
sample_corpus = product_conftest.sample_corpus
