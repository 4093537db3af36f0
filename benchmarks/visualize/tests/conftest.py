"""No test may touch the network (benchmarks/test_support.py sets it);
the converted bundled sample, built once a session."""

from pathlib import Path

from test_support import REPO, sample_corpus  # noqa: F401 (sample_corpus: a fixture; REPO, for the tests)

PROJECT = Path(__file__).resolve().parent.parent
