"""The cnn path through the project's own `all` workflow, as a user runs it (few steps)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ("corpus", "training", "metrics", "packages", ".pytest_cache", ".hypothesis")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project without generated folders, run with `all` once; the wheel is
    installed into a folder of the test's (pip's PIP_TARGET), not into the test environment."""
    root = tmp_path_factory.mktemp("workflow")
    copy = root / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__", ".git"))
    (copy / "packages").mkdir()
    site = root / "site"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PIP_TARGET": str(site)}
    run = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "all", ".", "--vars.max_steps=30"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=900,
    )
    return {"root": copy, "site": site, "env": env, "run": run, "output": run.stdout + run.stderr}


def test_all_runs_every_step_and_writes_its_outputs(project):
    assert project["run"].returncode == 0, project["output"][-3000:]
    root = project["root"]
    report = json.loads((root / "corpus" / "report.json").read_text(encoding="utf8"))
    assert report["splits"]["train"]["sentences"] > 400
    assert (root / "training" / "cnn" / "model-best" / "config.cfg").exists()
    seqeval = json.loads((root / "metrics" / "cnn" / "seqeval.json").read_text(encoding="utf8"))
    assert set(seqeval["default"]["per_language"]) == {"de", "en", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh"}
    assert 0.0 <= seqeval["default"]["overall"]["f1"] <= 1.0
    assert json.loads((root / "metrics" / "cnn" / "scores.json").read_text(encoding="utf8"))["ents_per_type"]
    assert (root / "packages" / "xx_multinerd-0.1.0" / "dist" / "xx_multinerd-0.1.0-py3-none-any.whl").exists()
    assert (project["site"] / "xx_multinerd").is_dir()


def test_all_ends_by_loading_the_installed_package_in_each_language(project):
    output = project["output"]
    assert 'spacy.load("xx_multinerd") works in a fresh process' in output
    assert "北京是中国的首都。" in output
    assert f"Package location: {project['site'] / 'xx_multinerd'}" in output
    assert "Test scores (%)" in output


def test_a_second_run_skips_what_has_not_changed(project):
    run = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "train", ".", "--vars.max_steps=30"],
        cwd=project["root"], env=project["env"], capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Skipping 'train': nothing changed" in run.stdout
