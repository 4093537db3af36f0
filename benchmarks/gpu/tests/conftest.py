"""No test may touch the network (benchmarks/test_support.py sets it)."""

from pathlib import Path

from test_support import REPO  # noqa: F401 (for the tests)

PROJECT = Path(__file__).resolve().parent.parent
