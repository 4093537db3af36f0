"""No test may touch the network (benchmarks/test_support.py sets it);
the tiny BERT the smoke tests train, built once a session."""

from pathlib import Path

from test_support import REPO, SAMPLE, tiny_bert  # noqa: F401 (tiny_bert: a fixture; the paths, for the tests)

PROJECT = Path(__file__).resolve().parent.parent
