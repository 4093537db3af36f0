"""Puts the scripts of the benchmarks this one reuses on the import path, after this folder:
benchmarks/hf_recipe's (recipe, children, benchmark, report: the recipe's alignment, the data
preparation, the annotation timing) and benchmarks/conversion's (generate_corpus: MultiNERD-shaped
text). Each of this benchmark's scripts imports it before those (`import peers`); the tests'
pytest.ini and the deps check (tests/test_gpu.py) name the same folders."""

import sys
from pathlib import Path

FOLDERS = [Path(__file__).resolve().parents[2] / name / "scripts" for name in ("hf_recipe", "conversion")]

# The import path is the process's own: extending it is what importing this module is for.
sys.path.extend(str(folder) for folder in FOLDERS if str(folder) not in sys.path)
