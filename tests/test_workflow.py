"""The project as a user runs it, on a copy of the repository: the README's offline commands as
written (`all` with the cnn config, with fewer steps; the trf demo on a tiny BERT), then the cnn
steps again through weasel's own `project_run`. Each install step tries its wheel in one fresh
virtual environment (pip install with dependencies, shared by the run) and installs it into a
folder of the test's (pip's PIP_TARGET); the packages are loaded in fresh processes of that
environment, which has never seen this repository."""

import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import List

import pytest
import srsly
from weasel.cli.run import check_rerun, project_run
from weasel.util import load_project_config

from multinerd.labels import ENTITY_TYPES, LANGUAGES, SENTENCES
from multinerd.packaging.build import wheel_requirements
from multinerd.packaging.install import venv_python

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ("corpus", "training", "metrics", "packages", "annotations", "project.lock")
PACKAGE = "xx_multinerd"
WHEEL = "packages/xx_multinerd-0.1.0/dist/xx_multinerd-0.1.0-py3-none-any.whl"
CNN_STEPS = 200  # the default is 953 (80 s here); 200 steps scored F1 0.25 on the sample's test split
# The sample model must learn: far above the 0.0 of an untrained one, far below the 0.25 measured.
CNN_F1_FLOOR = 0.10
TINY_BERT = "/tmp/tiny-bert"  # where the README's trf demo writes its tiny BERT


def readme_offline_commands() -> List[str]:
    """The command lines of the README's code blocks marked `<!-- ci:offline -->`, in order."""
    commands, marked, inside = [], False, False
    for line in (ROOT / "README.md").read_text(encoding="utf8").splitlines():
        if line.strip() == "<!-- ci:offline -->":
            marked = True
        elif marked and line.startswith("```"):
            marked = inside = not inside
        elif inside and line.strip():
            commands.append(line.strip())
    return commands


def cheap_equivalent(command: str, tmp: Path) -> str:
    """The README's command as the test runs it: the cnn `all` with CNN_STEPS steps, the tiny BERT
    in the test's folder."""
    command = command.replace(TINY_BERT, str(tmp / "tiny-bert"))
    if "project run all" in command and "--vars.max_steps" not in command:
        command += f" . --vars.max_steps={CNN_STEPS}"
    return command


def repository_copy(target: Path) -> Path:
    """The working tree without generated files, as a git repository of its own (to see what a run adds)."""
    caches = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info")

    def ignore(folder: str, names):
        # The commands' outputs at the root only: scripts/multinerd/training/ is source.
        return caches(folder, names) | (set(GENERATED) & set(names) if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, target, ignore=ignore)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(git + command, cwd=target, check=True)
    return target


def mtimes(folder: Path) -> dict:
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workflow")
    root, site, venv = repository_copy(tmp / "project"), tmp / "site", tmp / "venv"
    env = {**os.environ, "PIP_TARGET": str(site), "MULTINERD_INSTALL_VENV": str(venv), "HF_HUB_OFFLINE": "1"}
    commands = [cheap_equivalent(command, tmp) for command in readme_offline_commands()]
    assert len(commands) == 3 and "--vars.config=trf" in commands[-1]
    outputs = []
    for command in commands:
        result = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        outputs.append(result.stdout)
        if command == commands[0]:
            cnn_wheel = (root / WHEEL).read_bytes()
            cnn_training = mtimes(root / "training" / "cnn")
    trf_training = mtimes(root / "training" / "trf")
    trf = {f"vars.{name}": value for name, value in re.findall(r"--vars\.(\w+)=(\S+)", commands[-1])}
    # Back to cnn: its train and evaluate steps find nothing changed.
    project_run(root, "train", overrides={"vars.max_steps": CNN_STEPS}, capture=True)
    project_run(root, "evaluate", overrides={"vars.max_steps": CNN_STEPS}, capture=True)
    return {"root": root, "site": site, "venv": venv, "cnn_wheel": cnn_wheel, "cnn_training": cnn_training,
            "trf_training": trf_training, "trf": trf, "outputs": outputs,
            "trf_package": f"xx_{trf['vars.name']}"}  # fmt: skip


def test_the_sample_model_learns(project):
    seqeval = srsly.read_json(project["root"] / "metrics" / "cnn" / "seqeval.json")
    assert set(seqeval["default"]["per_language"]) == set(LANGUAGES)
    assert seqeval["default"]["overall"]["f1"] > CNN_F1_FLOOR
    assert srsly.read_json(project["root"] / "metrics" / "cnn" / "scores.json")["ents_per_type"]


def test_both_configs_keep_their_own_outputs(project):
    root = project["root"]
    for config in ("cnn", "trf"):
        assert (root / "training" / config / "model-best" / "config.cfg").exists()
        seqeval = srsly.read_json(root / "metrics" / config / "seqeval.json")
        assert set(seqeval["strict"]["per_language"]) == set(LANGUAGES)
        # Each step logged (0 .. max_steps), the learning curve drawn, nothing left to resume.
        steps = CNN_STEPS if config == "cnn" else int(project["trf"]["vars.max_steps"])
        assert [row["step"] for row in srsly.read_jsonl(root / "training" / config / "log.jsonl")] == list(
            range(steps + 1)
        )
        assert (root / "metrics" / config / "training.png").read_bytes().startswith(b"\x89PNG")
        assert not (root / "training" / config / "checkpoint").exists()
    # Switching back to cnn retrained nothing: the same files, untouched.
    assert mtimes(root / "training" / "cnn") == project["cnn_training"]
    assert mtimes(root / "training" / "trf") == project["trf_training"]


def test_running_the_project_leaves_git_status_clean(project):
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project["root"], capture_output=True, text=True)
    assert status.returncode == 0 and status.stdout == ""


@pytest.mark.parametrize("config", ["cnn", "trf"])
def test_changing_any_dependency_reruns_its_step_and_only_while_changed(project, config):
    """weasel's own check, for every dependency file of every step of the config's workflow."""
    root = project["root"]
    overrides = {"vars.max_steps": CNN_STEPS} if config == "cnn" else project["trf"]
    commands = {cmd["name"]: cmd for cmd in load_project_config(root, overrides=overrides)["commands"]}
    # The package step was last run for trf, so its lock entry is trf's.
    names = ["convert", f"train-{config}", f"calibrate-{config}", f"evaluate-{config}"]
    names += ["package"] if config == "trf" else []
    for name in names:
        command = commands[name]
        assert not check_rerun(root, command), name
        for dep in command["deps"]:
            path = root / dep
            if not path.is_file():
                continue
            original = path.read_bytes()
            path.write_bytes(original + b"\n")
            try:
                assert check_rerun(root, command), f"{name} ignores a change to {dep}"
            finally:
                path.write_bytes(original)
            assert not check_rerun(root, command), dep


def test_a_changed_module_really_reruns_its_step(project):
    root = project["root"]
    report = root / "corpus" / "report.json"
    before = report.stat().st_mtime_ns
    bio = root / "scripts" / "multinerd" / "data" / "tag_repair.py"
    original = bio.read_bytes()
    bio.write_bytes(original + b"\n# changed\n")
    try:
        project_run(root, "convert", capture=True)
    finally:
        bio.write_bytes(original)
    assert report.stat().st_mtime_ns > before


def test_wheel_contents(project):
    trf = project["trf_package"]
    with zipfile.ZipFile(
        project["root"] / "packages" / f"{trf}-0.1.0" / "dist" / f"{trf}-0.1.0-py3-none-any.whl"
    ) as wheel:
        names = set(wheel.namelist())
        data = f"{trf}/{trf}-0.1.0"
        # The tokenizer, colour and entity-score code travel in the package and its __init__ imports them.
        init = wheel.read(f"{trf}/__init__.py").decode()
        for module in ("tokenizer", "colors", "entity_scores", "bio_tagger", "precision"):
            assert f"{trf}/{module}.py" in names and f"from . import {module}" in init
        assert {
            f"{data}/config.cfg",
            f"{data}/transformer/model",
            f"{data}/ner/model",
            f"{data}/entity_scores/cfg",
        } <= names
        # The calibration fitted on dev, and the plots the card links.
        calibration = json.loads(wheel.read(f"{data}/entity_scores/cfg"))["calibration"]
        fitted = srsly.read_json(project["root"] / "metrics" / "trf" / "calibration.json")["calibration"]
        assert calibration == pytest.approx(fitted)
        for plot in ("reliability.png", "precision_recall.png", "training.png"):
            assert wheel.read(f"{data}/{plot}")[:4] == b"\x89PNG"
        # The card spaCy writes from the meta: our description and notes in it, shipped as the
        # PyPI description too.
        meta = json.loads(wheel.read(f"{data}/meta.json"))
        card = wheel.read(f"{data}/README.md").decode()
        metadata = wheel.read(f"{trf}-0.1.0.dist-info/METADATA").decode()
        assert meta["description"] in card and meta["notes"] in card and meta["notes"] in metadata
        ece = meta["performance"]["entity_scores"]["ece"]
        assert f"{ece:.4f}" in card and "](reliability.png)" in card and "](precision_recall.png)" in card
        assert "](training.png)" in card
        for lang in LANGUAGES:
            assert f"| {lang} |" in card
        assert "Requires-Dist: spacy-transformers" in metadata and "xx-multinerd-project" not in metadata
        assert "| **Author** | The xx_multinerd developers |" in card  # not spaCy's empty link "[n/a]()"
        assert meta["license"] in wheel.read(f"{data}/LICENSE").decode()
        assert "MultiNERD" in wheel.read(f"{data}/LICENSES_SOURCES").decode()
    assert (meta["lang"], meta["name"], meta["version"]) == ("xx", trf[3:], "0.1.0")
    assert meta["multinerd"]["config"] == "configs/trf.cfg"
    assert set(meta["performance"]["seqeval"]["default"]["per_language"]) == set(LANGUAGES)
    assert "ents_f" in meta["performance"]
    with zipfile.ZipFile(io.BytesIO(project["cnn_wheel"])) as wheel:
        meta = json.loads(wheel.read(f"{PACKAGE}/{PACKAGE}-0.1.0/meta.json"))
    assert meta["pipeline"] == ["tok2vec", "ner", "entity_scores"] and meta["multinerd"]["config"] == "configs/cnn.cfg"


CHECK = r"""
import json, sys
import spacy
from spacy import displacy
from spacy.tokens import Doc
from spacy.util import registry
texts, types, name = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
nlp = spacy.load(name)
strict = spacy.load(name, config={"components": {"entity_scores": {"threshold": 0.5, "alternatives_key": "alt"}}})
package = __import__(name)
out = {"pipe_names": nlp.pipe_names, "labels": sorted(nlp.get_pipe("ner").labels), "config": nlp.meta["multinerd"]["config"],
       "tokenizer": type(nlp.tokenizer).__module__, "location": package.__file__,
       "license": nlp.meta.get("license"), "docs": {},
       "modules": sorted(m for m in sys.modules if m.split(".")[0] == "multinerd")}
for lang, text in texts.items():
    doc, strict_doc = nlp(text), strict(text)
    data, options = package.entity_scores.displacy_data(strict_doc)
    out["docs"][lang] = {"text": doc.text, "tokens": [t.text for t in doc],
                         "ents": [[e.text, e.label_, e.start_char, e.end_char, e.start, e.end] for e in doc.ents],
                         "scores": [e._.score for e in doc.ents],
                         "strict": [[e.start, e.end, e.label_, e._.score] for e in strict_doc.ents],
                         "alternatives": [[s.start, s.end, s.label_, score] for s, score in
                                          zip(strict_doc.spans["alt"], strict_doc.spans["alt"].attrs["scores"])],
                         "displacy": displacy.render(data, style="ent", manual=True, options=options)}
if "transformer" in nlp.pipe_names:  # the int8 setting the trf package carries (README, "Faster on a CPU")
    int8 = spacy.load(name, config={"nlp": {"after_pipeline_creation": {"precision": "int8"}}})
    module = int8.get_pipe("transformer").model.transformer
    out["int8_linear"] = sorted({type(m).__module__ + "." + type(m).__name__ for m in module.modules() if "Linear" in type(m).__name__})
    out["int8_scores"] = [e._.score for text in texts.values() for e in int8(text).ents]
    out["int8_callback"] = registry.callbacks.get("xx_multinerd.transformer_precision.v1").__module__
# The package registers its own colours (whatever else the environment has installed).
out["colour_module"] = registry.displacy_colors.get("xx_multinerd").__module__
html = {label: displacy.render(Doc(nlp.vocab, words=["x"], ents=["B-" + label]), style="ent") for label in types}
out["colours"] = {label: text.split("background: ")[1].split(";")[0] for label, text in html.items()}
print(json.dumps(out, ensure_ascii=False))
"""


@pytest.mark.parametrize("config", ["cnn", "trf"])
def test_installed_package_loads_in_a_fresh_process(project, config):
    """Every feature of the README's "Using the pipeline", in a fresh process of the environment the
    wheels were pip-installed into with their dependencies, which has never seen this repository."""
    package = PACKAGE if config == "cnn" else project["trf_package"]
    python = venv_python(project["venv"])
    result = subprocess.run(
        [str(python), "-c", CHECK, json.dumps(SENTENCES, ensure_ascii=False), json.dumps(ENTITY_TYPES), package],
        cwd=project["venv"], capture_output=True, text=True, encoding="utf8", timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    first = "tok2vec" if config == "cnn" else "transformer"
    assert out["pipe_names"] == [first, "ner", "entity_scores"] and out["config"] == f"configs/{config}.cfg"
    assert out["labels"] == sorted(ENTITY_TYPES)
    assert out["tokenizer"] == f"{package}.tokenizer"  # the copy inside the package
    assert (
        Path(out["location"]).parent.parent.parent.parent.parent == project["venv"]
    )  # venv/lib/pythonX/site-packages/
    assert out["license"] == "CC BY-NC-SA 4.0"
    assert out["modules"] == []  # nothing of this repository was imported to load and run it
    # Every type has a colour of its own, registered by the package; none is displaCy's grey default.
    assert out["colour_module"] == f"{package}.colors"
    assert len(set(out["colours"].values())) == len(ENTITY_TYPES) and "#ddd" not in out["colours"].values()
    assert set(out["docs"]) == set(LANGUAGES)
    for lang, doc in out["docs"].items():
        text = SENTENCES[lang]
        assert doc["text"] == text
        assert "".join(doc["tokens"]) == text.replace(" ", "")
        previous_end = 0
        for ent_text, label, start_char, end_char, start, end in doc["ents"]:
            assert label in ENTITY_TYPES
            assert 0 <= start < end <= len(doc["tokens"])
            assert previous_end <= start_char < end_char <= len(text)  # in order, not overlapping
            assert text[start_char:end_char] == ent_text
            previous_end = end_char
        # Every entity has a score; the threshold at load time keeps exactly those scored 0.5 or more.
        assert len(doc["scores"]) == len(doc["ents"]) and all(0.0 <= score <= 1.0 for score in doc["scores"])
        expected = [
            [start, end, label, score] for (_, label, _, _, start, end), score in zip(doc["ents"], doc["scores"])
        ]
        assert doc["strict"] == [ent for ent in expected if ent[3] >= 0.5]
        # The alternatives: not the entities chosen, scored, best first; displaCy shows each score.
        assert not {tuple(alt[:3]) for alt in doc["alternatives"]} & {tuple(ent[:3]) for ent in doc["strict"]}
        assert [alt[3] for alt in doc["alternatives"]] == sorted((alt[3] for alt in doc["alternatives"]), reverse=True)
        for start, end, label, score in doc["strict"]:
            assert f"{label} {score:.2f}" in doc["displacy"]
    assert out["docs"]["zh"]["tokens"] == list(SENTENCES["zh"])
    if config == "trf":  # int8 at load time, by the package's own copy of the setting
        assert out["int8_callback"] == f"{package}.precision"
        assert "torch.ao.nn.quantized.dynamic.modules.linear.Linear" in out["int8_linear"]
        assert "torch.nn.modules.linear.Linear" not in out["int8_linear"]
        assert all(0.0 <= score <= 1.0 for score in out["int8_scores"])
    if config == "cnn":
        assert any(doc["ents"] for doc in out["docs"].values()) and any(
            doc["alternatives"] for doc in out["docs"].values()
        )


def test_the_trf_demo_replaces_no_installed_model(project):
    """The README's trf demo installs its own package beside the cnn one: xx_multinerd stays the cnn model."""
    for packages in (project["site"], project["venv"] / "lib"):
        (meta,) = packages.glob(f"**/{PACKAGE}/{PACKAGE}-0.1.0/meta.json")
        assert srsly.read_json(meta)["multinerd"]["config"] == "configs/cnn.cfg"
        (meta,) = packages.glob(f"**/{project['trf_package']}/{project['trf_package']}-0.1.0/meta.json")
        assert srsly.read_json(meta)["multinerd"]["config"] == "configs/trf.cfg"
    assert not any(path.name == "multinerd" for path in project["site"].iterdir())


def test_wheels_require_only_distributions_on_the_index(project):
    """Each Requires-Dist of both wheels resolves from the package index (a requirement on this
    project's own distribution, xx-multinerd-project, would not)."""
    wheels = list((project["root"] / "packages").glob("*/dist/*.whl"))
    assert len(wheels) == 2
    requirements = sorted({req for wheel in wheels for req in wheel_requirements(wheel)})
    assert any(req.startswith("spacy-transformers") for req in requirements)
    command = [str(venv_python(project["venv"])), "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
               "-q", *requirements]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_package_and_install_steps_print_a_few_lines(project):
    """The build's and pip's own output only when they fail: no setuptools log in a run of `all`."""
    output = project["outputs"][0]
    steps = re.split(r"=+ (package|install) =+", output)
    assert len(steps) == 5
    package, install = steps[2], steps[4]
    logs = (
        "running ",
        "copying ",
        "creating ",
        "adding ",
        "Processing ",
        "Installing collected",
        "Successfully installed",
    )
    assert not [line for line in output.splitlines() if line.startswith(logs)]
    # Before: 246 lines in the package step (setuptools' log), now its commands and results.
    assert len(package.strip().splitlines()) < 40 and len(install.strip().splitlines()) < 40


def test_annotate_on_the_defaults_annotates_the_sample_test_texts(project):
    """`spacy project run annotate` as the README says: the test split, the calibrated cnn model `all` built, offline."""
    from annotate_helpers import output_rows
    from spacy.vocab import Vocab

    from multinerd.data.docbins import read_docs

    root = project["root"]
    project_run(root, "annotate", capture=True)
    texts = [doc.text for doc in read_docs(root / "corpus" / "test", Vocab())]
    rows = output_rows(root / "annotations")
    assert len(rows) == len({row["id"] for row in rows}) == len(texts)
    assert sum(len(row["entities"]) for row in rows) > 0
    for row in rows:
        for entity in row["entities"]:
            assert entity["label"] in ENTITY_TYPES
            assert 0.0 <= entity["score"] <= 1.0  # the calibrated model's entity scores
