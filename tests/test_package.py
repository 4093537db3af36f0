"""The package step: scripts/package_meta.py's meta.json (from small fake score files) and the
model card `spacy package` writes from it; scripts/install_package.py's pieces."""

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from script_helpers import load_script
from spacy.cli.package import generate_readme
from spacy.schemas import ModelMetaSchema, validate
from typer.testing import CliRunner

from multinerd.evaluation.reliability import confidence_report
from multinerd.evaluation.seqeval import MODES, add_tags, score_tags
from multinerd.labels import ENTITY_TYPES, LANGUAGES
from multinerd.packaging import meta as pm
from multinerd.packaging.install import describe_training, find_wheel, pins

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "package_meta.py"


def fake_seqeval() -> dict:
    """A seqeval.json as scripts/evaluate.py writes it (multinerd.evaluation.seqeval's schema), small and made up:
    in every language one PER found, one LOC found and one LOC missed; zh also misses a FOOD."""
    by_lang = {}
    for lang in LANGUAGES:
        gold = ["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC"]
        predicted = ["B-PER", "I-PER", "O", "B-LOC", "O", "O"]
        add_tags(by_lang, lang, gold, predicted)
        if lang == "zh":
            add_tags(by_lang, lang, ["B-FOOD", "I-FOOD", "O"], ["O", "O", "O"])
    return {"model": "training/trf/model-best", "corpus": "corpus/test", **score_tags(by_lang)}


def fake_scores() -> dict:
    """scores.json as `spacy evaluate --output` writes it."""
    per_type = {label: {"p": 0.5, "r": 0.25, "f": 1 / 3} for label in ENTITY_TYPES}
    per_type["PER"] = {"p": 1.0, "r": 1.0, "f": 1.0}
    return {"ents_p": 0.8, "ents_r": 0.6, "ents_f": 0.6857142857, "ents_per_type": per_type, "speed": 1234.5}


def fake_report(langs=None) -> dict:
    languages = {lang: {"sentences": 10, "tokens": 100, "entities": {}} for lang in (langs or LANGUAGES)}
    return {
        "source": "Babelscape/multinerd",
        "langs": langs,
        "seed": 0,
        "shard_size": 10000,
        "splits": {"train": {"sentences": 10 * len(languages), "languages": languages}},
    }


def model_meta(pipeline=("transformer", "ner")) -> dict:
    """The meta.json `spacy train` writes into model-best (abridged)."""
    return {
        "lang": "xx",
        "name": "pipeline",
        "version": "0.0.0",
        "spacy_version": ">=3.8.18,<3.9.0",
        "description": "",
        "author": "",
        "email": "",
        "url": "",
        "license": "",
        "labels": {name: (sorted(ENTITY_TYPES) if name == "ner" else []) for name in pipeline},
        "pipeline": list(pipeline),
        "components": list(pipeline),
        "disabled": [],
        "performance": {"ents_f": 0.1, "ents_p": 0.2, "ents_r": 0.05, "ner_loss": 12.0},
    }


@pytest.fixture()
def meta():
    return pm.build_meta(
        model_meta(),
        name="multinerd",
        version="1.2.3",
        config="trf",
        scores=fake_scores(),
        seqeval=fake_seqeval(),
        report=fake_report(),
        transformer="bert-base-multilingual-cased",
    )


def test_meta_identity_license_and_validity(meta):
    assert (meta["lang"], meta["name"], meta["version"]) == ("xx", "multinerd", "1.2.3")
    assert meta["license"] == "CC BY-NC-SA 4.0"
    assert validate(ModelMetaSchema, meta) == []
    # The description says what it finds, where and how it was trained.
    for word in (*ENTITY_TYPES, "10 languages", "Chinese (zh)", "MultiNERD", "bert-base-multilingual-cased"):
        assert word in meta["description"]
    # Pipeline information from the model's meta is kept.
    assert meta["pipeline"] == ["transformer", "ner"]
    json.dumps(meta)  # serializable


def test_meta_sources(meta):
    multinerd, transformer = meta["sources"]
    assert multinerd == {
        "name": "MultiNERD",
        "url": "https://huggingface.co/datasets/Babelscape/multinerd",
        "author": "Babelscape",
        "license": "CC BY-NC-SA 4.0",
    }
    assert transformer["name"] == "bert-base-multilingual-cased"
    assert transformer["license"] == "Apache-2.0"
    assert all(isinstance(value, str) for source in meta["sources"] for value in source.values())


def test_meta_labels_and_performance(meta):
    assert sorted(meta["labels"]["ner"]) == sorted(ENTITY_TYPES)
    performance = meta["performance"]
    assert performance["ents_f"] == pytest.approx(0.6857142857)
    assert performance["ents_per_type"]["PER"]["f"] == 1.0
    assert "ner_loss" not in performance  # the training-time dev scores are not the test scores
    seqeval = performance["seqeval"]
    assert set(seqeval) == {*MODES, "version", "sentences", "tokens", "languages"}
    default = seqeval["default"]
    # seqeval.json's scores under spaCy's short names.
    assert list(default["overall"]) == ["p", "r", "f", "support", "accuracy"]
    assert list(default["per_type"]["LOC"]) == ["p", "r", "f", "support"]
    # 11 PER+LOC found, 10 LOC + 1 FOOD missed: P = 20/20, R = 20/31.
    assert default["overall"]["p"] == pytest.approx(1.0)
    assert default["overall"]["r"] == pytest.approx(20 / 31)
    assert default["overall"]["support"] == 31
    assert default["per_type"]["LOC"]["r"] == pytest.approx(0.5)
    assert set(default["per_language"]) == set(LANGUAGES)
    assert default["per_language"]["zh"]["r"] == pytest.approx(2 / 4)
    assert default["per_language"]["de"]["r"] == pytest.approx(2 / 3)
    assert seqeval["strict"]["overall"]["f"] == pytest.approx(default["overall"]["f"])
    assert seqeval["languages"]["zh"]["sentences"] == 2
    assert seqeval["sentences"] == 11 and seqeval["version"] == fake_seqeval()["seqeval"]
    assert performance["seqeval_f"] == pytest.approx(default["overall"]["f"])


def test_meta_custom_block(meta):
    custom = meta["multinerd"]
    assert custom["dataset"] == "Babelscape/multinerd"
    assert custom["langs"] == "all"
    assert custom["languages"] == list(LANGUAGES)
    assert custom["config"] == "configs/trf.cfg"
    assert custom["transformer"] == "bert-base-multilingual-cased"
    assert custom["train_sentences"] == 100
    assert custom["dev_sample_scores"] == {"ents_f": 0.1, "ents_p": 0.2, "ents_r": 0.05}
    assert custom["demonstration"] is False
    assert describe_training(custom).startswith("Trained on Babelscape/multinerd, 100 training sentences in de, en")


def test_model_card_spacy_writes_from_the_meta(meta):
    card = generate_readme(meta)
    assert meta["description"] in card and meta["notes"] in card
    assert "CC BY-NC-SA 4.0" in card and "Apache-2.0" in card
    assert "https://huggingface.co/datasets/Babelscape/multinerd" in card and "Babelscape" in card
    assert 'spacy.load("xx_multinerd")' in card
    assert "[n/a]()" not in card  # no empty author link
    for label in ENTITY_TYPES:
        assert f"| `{label}` |" in card
    # spaCy's accuracy table shows the overall seqeval scores beside its own.
    assert "| `SEQEVAL_F` |" in card and "| `ENTS_F` | 68.57 |" in card
    # The per-language table: a row per language, with sentences, words, support and scores.
    section = card.split("Per language")[1]
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip() in LANGUAGES
    }
    assert list(rows) == sorted(LANGUAGES)
    # zh: 2 sentences, 9 words, 4 gold entities; P 100.00, R 50.00, F1 66.67 in both modes.
    assert rows["zh"][1:10] == ["2", "9", "4", "100.00", "50.00", "66.67", "100.00", "50.00", "66.67"]


def test_sample_trained_cnn_model():
    report = fake_report(langs=["de", "zh"])
    report["source"] = "assets/multinerd_sample"
    meta = pm.build_meta(
        model_meta(("tok2vec", "ner")),
        name="multinerd",
        version="0.1.0",
        config="cnn",
        scores=None,
        seqeval=None,
        report=report,
    )
    assert meta["multinerd"]["langs"] == "de,zh" and meta["multinerd"]["languages"] == ["de", "zh"]
    assert meta["multinerd"]["transformer"] is None
    assert "2 languages" in meta["description"] and "not trained on MultiNERD itself" in meta["description"]
    # the install step's demo says which data it was trained on, and that it is a demonstration
    assert meta["multinerd"]["demonstration"] is True
    assert "assets/multinerd_sample" in describe_training(meta["multinerd"])
    assert [source["name"] for source in meta["sources"]][0] == "MultiNERD"
    assert not any("bert" in source["name"] for source in meta["sources"])
    assert meta["performance"] == {}
    assert validate(ModelMetaSchema, meta) == []
    card = generate_readme(meta)
    assert "Per language" not in card and "CC BY-NC-SA 4.0" in card


def test_transformer_licenses(tmp_path):
    assert pm.transformer_source("google-bert/bert-base-multilingual-cased")["license"] == "Apache-2.0"
    # A local folder: the license in its model card's YAML header; else a pointer.
    in_card = tmp_path / "b"
    in_card.mkdir()
    (in_card / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (in_card / "README.md").write_text("---\nlanguage: multilingual\nlicense: apache-2.0\n---\n# A model\n")
    assert pm.transformer_source(str(in_card))["license"] == "apache-2.0"
    bare = tmp_path / "c"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    assert pm.transformer_source(str(bare))["license"] == "see the model's card"
    copy = tmp_path / "d"  # a local copy that records the hub model it came from
    copy.mkdir()
    (copy / "config.json").write_text(json.dumps({"_name_or_path": "bert-base-multilingual-cased"}))
    assert pm.transformer_source(str(copy)) == {
        "name": f"bert-base-multilingual-cased (local copy: {copy})",
        "license": "Apache-2.0",
    }
    # A hub name that isn't cached (the tests are offline): a pointer, and the hub page.
    source = pm.transformer_source("someone/some-model")
    assert source == {
        "name": "someone/some-model",
        "url": "https://huggingface.co/someone/some-model",
        "license": "see the model's card",
    }


def test_transformer_pipeline_needs_its_transformer():
    with pytest.raises(ValueError):
        pm.build_meta(model_meta(), name="multinerd", version="0.1.0", config="trf", report=fake_report())


def test_cli(tmp_path):
    model = tmp_path / "model-best"
    model.mkdir()
    (model / "meta.json").write_text(json.dumps(model_meta()))
    (model / "config.cfg").write_text(
        '[components]\n\n[components.transformer]\nfactory = "transformer"\n\n'
        '[components.transformer.model]\nname = "bert-base-multilingual-cased"\n'
    )
    (model / "ner").mkdir()
    (model / "ner" / "model").write_bytes(b"weights")
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "scores.json").write_text(json.dumps(fake_scores()))
    (metrics / "seqeval.json").write_text(json.dumps(fake_seqeval()))
    outcomes = [(0.95, True), (0.9, True), (0.6, False), (0.3, False)]
    (metrics / "confidence.json").write_text(json.dumps(confidence_report(outcomes, n_gold=5)))
    (metrics / "reliability.png").write_bytes(b"\x89PNG fake plot")
    report = tmp_path / "corpus" / "report.json"
    report.parent.mkdir()
    report.write_text(json.dumps(fake_report()))
    output = tmp_path / "packages" / "model"

    def run(output, *args):
        """In this process (spaCy's start-up is the slow part); the first run as a real one."""
        result = CliRunner().invoke(
            load_script("package_meta").app, [str(model), str(output), "--config", "trf", *args]
        )
        return result.exit_code, result.stderr

    first = subprocess.run(
        [sys.executable, str(SCRIPT), str(model), str(output), "--config", "trf", "--metrics", str(metrics),
         "--report", str(report), "--version", "2.0.0"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    meta = json.loads((output / "meta.json").read_text())
    assert meta["version"] == "2.0.0" and meta["license"] == "CC BY-NC-SA 4.0"
    assert meta["sources"][1] == {
        "name": "bert-base-multilingual-cased",
        "license": "Apache-2.0",
        "url": "https://huggingface.co/bert-base-multilingual-cased",
    }
    # A copy of the model, with the licenses that `spacy package` ships; no card of ours.
    assert (output / "ner" / "model").read_bytes() == b"weights"
    assert not (output / "README.md").exists()
    assert "CC BY-NC-SA 4.0" in (output / "LICENSE").read_text()
    assert "Babelscape" in (output / "LICENSES_SOURCES").read_text()
    # The entity scores' figures in the meta and the card, the plot there is shipped beside the card and linked.
    assert meta["performance"]["entity_scores"]["entities"] == 4
    at_half = meta["performance"]["entity_scores"]["thresholds"][0]
    assert at_half == {"threshold": 0.5, "entities": 3, "precision": pytest.approx(2 / 3), "recall": 2 / 5}
    card = generate_readme(meta)
    assert f"**{meta['performance']['entity_scores']['ece']:.4f}**" in card and "ent._.score" in card
    assert "](reliability.png)" in card and "precision_recall.png" not in card
    assert (output / "reliability.png").read_bytes() == b"\x89PNG fake plot"
    assert sorted(path.name for path in model.iterdir()) == ["config.cfg", "meta.json", "ner"]  # left alone
    assert run(output, "--metrics", str(metrics))[0] == 0  # its own output is replaced on the next run
    # A folder it didn't write is not deleted.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    code, stderr = run(foreign, "--metrics", str(metrics))
    assert code == 1 and (foreign / "keep.txt").read_text() == "mine"
    assert len(stderr.strip().splitlines()) == 1 and str(foreign) in stderr
    # Missing metrics only warn: the meta has no scores.
    code, stderr = run(tmp_path / "bare", "--metrics", str(tmp_path / "none"), "--report", str(report))
    assert code == 0, stderr
    assert json.loads((tmp_path / "bare" / "meta.json").read_text())["performance"] == {}


def test_install_finds_the_newest_wheel_by_version(tmp_path):
    for version in ("1.9.2", "1.10.0", "1.10.0rc1"):
        dist = tmp_path / f"xx_multinerd-{version}" / "dist"
        dist.mkdir(parents=True)
        (dist / f"xx_multinerd-{version}-py3-none-any.whl").write_bytes(b"")
        time.sleep(0.01)
    assert find_wheel(tmp_path, "xx_multinerd", None).name == "xx_multinerd-1.10.0-py3-none-any.whl"
    assert find_wheel(tmp_path, "xx_multinerd", "1.9.2").name == "xx_multinerd-1.9.2-py3-none-any.whl"
    assert find_wheel(tmp_path, "xx_multinerd", "2.0.0") is None


def test_install_without_wheel_fails_on_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "install_package.py"), "--packages", str(tmp_path),
                             "--target", str(tmp_path / "site")], capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert str(tmp_path) in result.stderr and not (tmp_path / "site").exists()


def test_the_package_ships_the_pipeline_folder_and_requires_no_distribution_of_this_project(tmp_path):
    """A pipeline whose config names this project's tokenizer: `spacy package` requires the
    project's own distribution (its entry points serve the name here), which is on no index;
    scripts/build_package.py builds the wheel without it, with the card's author not an empty link,
    and ships as code exactly the modules of multinerd/pipeline/."""
    import spacy

    from multinerd.packaging.build import PIPELINE, project_distributions, public_requirements, wheel_requirements

    assert project_distributions() == {"xx-multinerd-project"}
    requirements = ["xx-multinerd-project<0.2.0,>=0.1.0", "spacy<3.9.0,>=3.8.18", "Spacy_Transformers>=1.4.0"]
    assert public_requirements(requirements, {"xx-multinerd-project"}) == requirements[1:]
    nlp = spacy.blank("xx", config={"nlp": {"tokenizer": {"@tokenizers": "xx_multinerd.CJKCharTokenizer.v1"}}})
    nlp.to_disk(tmp_path / "model")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_package.py"), str(tmp_path / "model"),
                             str(tmp_path), "--name", "demo", "--version", "1.0.0", "--build", "wheel"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "xx_demo-1.0.0" / "dist").glob("*.whl")
    assert [req.split("<")[0].split(">")[0] for req in wheel_requirements(wheel)] == ["spacy"]
    with zipfile.ZipFile(wheel) as archive:
        card = archive.read("xx_demo/xx_demo-1.0.0/README.md").decode()
        code = {name.split("/")[1] for name in archive.namelist() if name.count("/") == 1 and name.endswith(".py")}
    assert "[n/a]()" not in card and "| **Author** | n/a |" in card
    assert code - {"__init__.py"} == {path.name for path in PIPELINE.glob("*.py")} - {"__init__.py"}


def test_build_package_without_a_pipeline_fails_on_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_package.py"), str(tmp_path), str(tmp_path)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "package_meta.py" in result.stderr


def test_the_fresh_environment_gets_requirements_txts_exact_pins():
    """pip's constraints for the install step's fresh environment: torch at the pinned version (not
    the newest), no extras, no editable project, no ranges."""
    found = pins(ROOT / "requirements.txt")
    assert {"torch==2.13.0", "spacy==3.8.18", "spacy-transformers==1.4.0", "ray==2.60.0"} <= set(found)
    assert not [pin for pin in found if "[" in pin or pin.startswith("-") or "==" not in pin]
