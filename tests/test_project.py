"""project.yml is the whole graph: each command's deps are exactly the modules of this project it
runs (derived here from the code: the scripts it calls, what they import, directly or not, and
what the configs it trains or loads name through pyproject.toml's entry points); and the plain
spaCy CLI works on the configs with no --code."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Set

from weasel.util import load_project_config

from multinerd.packaging.build import shipped_modules
from multinerd_dev.imports import imported_files, registered_by_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("cnn", "trf")


def expected_modules(command: dict) -> Set[str]:
    """The project's Python files a command runs, from its script lines."""
    files: Set[Path] = set()
    for line in command["script"]:
        words = line.split()
        for word in words:
            if re.fullmatch(r"scripts/[\w/]+\.py", word):  # python scripts/x.py
                files |= imported_files(ROOT / word)
        # A config trained: all it names; a pipeline trained from one and loaded: its pipeline's part.
        for word in words:
            trained = re.fullmatch(r"configs/(\w+)\.cfg", word)
            loaded = re.fullmatch(r"training/(\w+)/model-(best|calibrated)", word)
            if trained:
                files |= registered_by_config(ROOT / word)
            elif loaded:
                files |= registered_by_config(ROOT / "configs" / f"{loaded.group(1)}.cfg", ("nlp", "components"))
    # The package step ships the pipeline's modules inside the model (multinerd.packaging.build).
    if (ROOT / "scripts" / "multinerd" / "packaging" / "build.py").resolve() in files:
        files |= set().union(*map(imported_files, shipped_modules()))
    return {str(path.relative_to(ROOT.resolve())) for path in files}


def test_each_command_depends_on_exactly_the_modules_it_runs():
    """A command's module deps are one list for every config (weasel can't choose them by config):
    all the modules it runs with any of them (a change to one reruns the others' step too)."""
    by_config = [load_project_config(ROOT, overrides={"vars.config": config})["commands"] for config in CONFIGS]
    assert by_config[0]
    for commands in zip(*by_config):
        declared = {dep for dep in commands[0].get("deps", []) if dep.endswith(".py")}
        assert declared == set().union(*map(expected_modules, commands)), commands[0]["name"]


def test_the_workflow_runs_the_chosen_configs_steps():
    for config in ("cnn", "trf"):
        project = load_project_config(ROOT, overrides={"vars.config": config})
        names = {command["name"] for command in project["commands"]}
        assert {f"train-{config}", f"calibrate-{config}", f"evaluate-{config}"} <= names
        assert project["workflows"]["all"] == [
            "check-config", "convert", f"train-{config}", f"calibrate-{config}", f"evaluate-{config}", "package",
            "install",
        ]  # fmt: skip


def test_plain_spacy_cli_on_the_configs_needs_no_code(sample_corpus, tmp_path):
    paths = ["--paths.train", sample_corpus / "train", "--paths.dev", sample_corpus / "dev_sample",
             "--paths.labels", sample_corpus / "labels" / "ner.json"]  # fmt: skip
    commands = [
        ["debug", "config", ROOT / "configs" / "trf.cfg"],
        ["debug", "data", ROOT / "configs" / "cnn.cfg", *paths],
        ["train", ROOT / "configs" / "cnn.cfg", *paths, "--training.max_steps", 4, "--training.eval_frequency", 2,
         "--output", tmp_path / "out"],
    ]  # fmt: skip
    # Side by side, a thread each: each is mostly spaCy's start-up. (debug data checks the cnn config too.)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen([sys.executable, "-m", "spacy", *map(str, command)], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for command in commands
    ]  # fmt: skip
    for command, process in zip(commands, processes):
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"spacy {command[:2]}: {output}"
    assert (tmp_path / "out" / "model-best" / "config.cfg").is_file()


def test_an_unknown_config_stops_the_workflow_on_one_line(tmp_path):
    """`--vars.config=bert`: one line naming the configs there, before any step runs (not weasel's
    "Maybe you forgot to run the 'weasel assets' command" after the conversion)."""
    for name in ("project.yml", "assets", "configs", "scripts"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copyfile
        copy(ROOT / name, tmp_path / name)
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", "all", ".", "--vars.config=bert"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "configs/bert.cfg" in errors[0] and "(cnn, trf)" in errors[0], result.stderr
    assert not list((tmp_path / "corpus").iterdir())  # nothing ran (weasel makes the empty folders)
