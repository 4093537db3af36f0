"""The project as a user runs it, through weasel's own `project_run`, on a copy of the repository:
`all` with the cnn config (the defaults, fewer steps), `all` with the trf config on the tiny BERT,
then the cnn steps again. The wheels go into a folder of the test's (pip's PIP_TARGET), and the
installed package is loaded in a fresh process that sees nothing of this repository."""

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import srsly
from install_package import SENTENCES
from weasel.cli.run import check_rerun, project_run
from weasel.util import load_project_config

from multinerd.labels import ENTITY_TYPES, LANGUAGES

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ("corpus", "training", "metrics", "packages", "annotations", "project.lock")
PACKAGE = "xx_multinerd"
WHEEL = "packages/xx_multinerd-0.1.0/dist/xx_multinerd-0.1.0-py3-none-any.whl"
CNN_STEPS = 200  # the default is 953 (80 s here); 200 steps scored F1 0.25 on the sample's test split
# The sample model must learn: far above the 0.0 of an untrained one, far below the 0.25 measured.
CNN_F1_FLOOR = 0.10


def repository_copy(target: Path) -> Path:
    """The working tree without generated files, as a git repository of its own (to see what a run adds)."""
    ignore = shutil.ignore_patterns(*GENERATED, ".git", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info")
    shutil.copytree(ROOT, target, ignore=ignore)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(git + command, cwd=target, check=True)
    return target


def mtimes(folder: Path) -> dict:
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_bert):
    tmp = tmp_path_factory.mktemp("workflow")
    root, site = repository_copy(tmp / "project"), tmp / "site"
    trf = {"vars.config": "trf", "vars.transformer": str(tiny_bert), "vars.max_steps": 6, "vars.package_build": "wheel"}
    previous = os.environ.get("PIP_TARGET")
    os.environ["PIP_TARGET"] = str(site)
    try:
        project_run(root, "all", overrides={"vars.max_steps": CNN_STEPS}, capture=True)
        cnn_wheel = (root / WHEEL).read_bytes()
        cnn_training = mtimes(root / "training" / "cnn")
        project_run(root, "all", overrides=trf, capture=True)
        trf_training = mtimes(root / "training" / "trf")
        # Back to cnn: its train and evaluate steps find nothing changed.
        project_run(root, "train", overrides={"vars.max_steps": CNN_STEPS}, capture=True)
        project_run(root, "evaluate", overrides={"vars.max_steps": CNN_STEPS}, capture=True)
    finally:
        if previous is None:
            os.environ.pop("PIP_TARGET")
        else:
            os.environ["PIP_TARGET"] = previous
    return {"root": root, "site": site, "tiny": tiny_bert, "cnn_wheel": cnn_wheel, "cnn_training": cnn_training,
            "trf_training": trf_training, "trf": trf}  # fmt: skip


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
        steps = CNN_STEPS if config == "cnn" else project["trf"]["vars.max_steps"]
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
    bio = root / "scripts" / "multinerd" / "bio.py"
    original = bio.read_bytes()
    bio.write_bytes(original + b"\n# changed\n")
    try:
        project_run(root, "convert", capture=True)
    finally:
        bio.write_bytes(original)
    assert report.stat().st_mtime_ns > before


def test_wheel_contents(project):
    wheel_path = project["root"] / WHEEL
    with zipfile.ZipFile(wheel_path) as wheel:
        names = set(wheel.namelist())
        data = f"{PACKAGE}/{PACKAGE}-0.1.0"
        # The tokenizer, colour and entity-score code travel in the package and its __init__ imports them.
        init = wheel.read(f"{PACKAGE}/__init__.py").decode()
        for module in ("tokenizer", "colors", "confidence"):
            assert f"{PACKAGE}/{module}.py" in names and f"from . import {module}" in init
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
        metadata = wheel.read(f"{PACKAGE}-0.1.0.dist-info/METADATA").decode()
        assert meta["description"] in card and meta["notes"] in card and meta["notes"] in metadata
        ece = meta["performance"]["entity_scores"]["ece"]
        assert f"{ece:.4f}" in card and "](reliability.png)" in card and "](precision_recall.png)" in card
        assert "](training.png)" in card
        for lang in LANGUAGES:
            assert f"| {lang} |" in card
        assert "Requires-Dist: spacy-transformers" in metadata
        assert meta["license"] in wheel.read(f"{data}/LICENSE").decode()
        assert "MultiNERD" in wheel.read(f"{data}/LICENSES_SOURCES").decode()
    assert (meta["lang"], meta["name"], meta["version"]) == ("xx", "multinerd", "0.1.0")
    assert meta["multinerd"]["config"] == "configs/trf.cfg"
    assert set(meta["performance"]["seqeval"]["default"]["per_language"]) == set(LANGUAGES)
    assert "ents_f" in meta["performance"]
    with zipfile.ZipFile(io.BytesIO(project["cnn_wheel"])) as wheel:
        meta = json.loads(wheel.read(f"{PACKAGE}/{PACKAGE}-0.1.0/meta.json"))
    assert meta["pipeline"] == ["tok2vec", "ner", "entity_scores"] and meta["multinerd"]["config"] == "configs/cnn.cfg"


CHECK = r"""
import json, sys
# A user's environment, without this project installed: its entry points would serve the names the
# model's config uses first (catalogue prefers entry points to what a package registers itself).
import catalogue, importlib.metadata as metadata
points = catalogue.AVAILABLE_ENTRY_POINTS  # a dict of groups before Python 3.12
points = [point for group in points.values() for point in group] if isinstance(points, dict) else points
catalogue.AVAILABLE_ENTRY_POINTS = metadata.EntryPoints(
    point for point in points if point.dist is None or point.dist.name != "xx-multinerd-project")
import spacy
from spacy import displacy
from spacy.tokens import Doc
from spacy.util import registry
texts = json.loads(sys.argv[1])
nlp = spacy.load("xx_multinerd")
strict = spacy.load("xx_multinerd", config={"components": {"entity_scores": {"threshold": 0.5}}})
import xx_multinerd
out = {"pipe_names": nlp.pipe_names, "labels": sorted(nlp.get_pipe("ner").labels),
       "tokenizer": type(nlp.tokenizer).__module__, "location": xx_multinerd.__file__,
       "license": nlp.meta.get("license"), "docs": {},
       "modules": sorted(m for m in sys.modules if m.split(".")[0] == "multinerd")}
for lang, text in texts.items():
    doc = nlp(text)
    out["docs"][lang] = {"text": doc.text, "tokens": [t.text for t in doc],
                         "ents": [[e.text, e.label_, e.start_char, e.end_char, e.start, e.end] for e in doc.ents],
                         "scores": [e._.score for e in doc.ents],
                         "strict": [[e.start, e.end, e.label_, e._.score] for e in strict(text).ents]}
# The package registers its own colours (whatever else the environment has installed).
out["colour_module"] = registry.displacy_colors.get("xx_multinerd").__module__
html = {label: displacy.render(Doc(nlp.vocab, words=["x"], ents=["B-" + label]), style="ent")
        for label in json.loads(sys.argv[2])}
out["colours"] = {label: text.split("background: ")[1].split(";")[0] for label, text in html.items()}
print(json.dumps(out, ensure_ascii=False))
"""


def test_installed_package_loads_in_a_fresh_process(project):
    assert not any(path.name == "multinerd" for path in project["site"].iterdir())
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(project["site"])
    result = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(SENTENCES, ensure_ascii=False), json.dumps(ENTITY_TYPES)],
        cwd=project["site"].parent, env=env, capture_output=True, text=True, encoding="utf8", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["pipe_names"] == ["transformer", "ner", "entity_scores"]
    assert out["labels"] == sorted(ENTITY_TYPES)
    assert out["tokenizer"] == f"{PACKAGE}.tokenizer"  # the copy inside the package
    assert Path(out["location"]).parent == project["site"] / PACKAGE
    assert out["license"] == "CC BY-NC-SA 4.0"
    assert out["modules"] == []  # nothing of this repository was imported to load and run it
    # Every type has a colour of its own, registered by the package; none is displaCy's grey default.
    assert out["colour_module"] == f"{PACKAGE}.colors"
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
    assert out["docs"]["zh"]["tokens"] == list(SENTENCES["zh"])


def test_annotate_on_the_defaults_annotates_the_sample_test_texts(project):
    """`spacy project run annotate` as the README says: the test split, the calibrated cnn model `all` built, offline."""
    from annotate_helpers import output_rows
    from spacy.vocab import Vocab

    from multinerd.corpus import read_docs

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
