"""scripts/package_meta.py: meta.json and model card from small fake score files."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from spacy.schemas import ModelMetaSchema, validate

import package_meta as pm
from multinerd.labels import ENTITY_TYPES, LANGUAGES
from multinerd.scoring import MODES, add_tags, score_tags

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "package_meta.py"


def fake_seqeval() -> dict:
    """A seqeval.json as scripts/evaluate.py writes it (multinerd.scoring's schema), small and made up:
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
    return {"source": "Babelscape/multinerd", "langs": langs, "seed": 0, "shard_size": 10000,
            "splits": {"train": {"sentences": 10 * len(languages), "languages": languages}}}


def model_meta(pipeline=("transformer", "ner")) -> dict:
    """The meta.json `spacy train` writes into model-best (abridged)."""
    return {
        "lang": "xx", "name": "pipeline", "version": "0.0.0", "spacy_version": ">=3.8.18,<3.9.0",
        "description": "", "author": "", "email": "", "url": "", "license": "",
        "labels": {name: (sorted(ENTITY_TYPES) if name == "ner" else []) for name in pipeline},
        "pipeline": list(pipeline), "components": list(pipeline), "disabled": [],
        "performance": {"ents_f": 0.1, "ents_p": 0.2, "ents_r": 0.05, "ner_loss": 12.0},
    }


@pytest.fixture()
def meta():
    return pm.build_meta(
        model_meta(), name="multinerd", version="1.2.3", config="trf", scores=fake_scores(), seqeval=fake_seqeval(),
        report=fake_report(), transformer="bert-base-multilingual-cased",
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
    assert multinerd == {"name": "MultiNERD", "url": "https://huggingface.co/datasets/Babelscape/multinerd",
                         "author": "Babelscape", "license": "CC BY-NC-SA 4.0"}
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
    assert pm.SEQEVAL_MODES == tuple(MODES)
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


def test_meta_custom_block(meta):
    custom = meta["multinerd"]
    assert custom["dataset"] == "Babelscape/multinerd"
    assert custom["langs"] == "all"
    assert custom["languages"] == list(LANGUAGES)
    assert custom["config"] == "configs/trf.cfg"
    assert custom["transformer"] == "bert-base-multilingual-cased"
    assert custom["train_sentences"] == 100


def test_readme_model_card(meta):
    readme = pm.build_readme(meta)
    assert readme.startswith("# xx_multinerd")
    assert "CC BY-NC-SA 4.0" in readme
    assert "https://huggingface.co/datasets/Babelscape/multinerd" in readme and "Babelscape" in readme
    assert "Apache-2.0" in readme
    assert 'spacy.load("xx_multinerd")' in readme and "pip install" in readme
    for label in ENTITY_TYPES:
        assert f"| `{label}` |" in readme
    # Per-language table: a row per language with sentences, support and scores.
    section = readme.split("### Per language")[1].split("## License")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "(`" in line]
    assert [row.split("(`")[1].split("`)")[0] for row in rows] == list(LANGUAGES)
    zh = next(row for row in rows if "(`zh`)" in row)
    # sentences 2, support 4, P 100.00, R 50.00, F 66.67 (default and strict)
    assert [cell.strip() for cell in zh.strip("|").split("|")][1:] == ["2", "4", "100.00", "50.00", "66.67", "66.67"]
    overall = readme.split("### Overall")[1].split("###")[0]
    assert "| spaCy | 80.00 | 60.00 | 68.57 |" in overall
    assert "seqeval (strict)" in overall


def test_sample_trained_cnn_model():
    report = fake_report(langs=["de", "zh"])
    report["source"] = "assets/multinerd_sample"
    meta = pm.build_meta(model_meta(("tok2vec", "ner")), name="multinerd", version="0.1.0", config="cnn",
                         scores=None, seqeval=None, report=report)
    assert meta["multinerd"]["langs"] == "de,zh" and meta["multinerd"]["languages"] == ["de", "zh"]
    assert meta["multinerd"]["transformer"] is None
    assert "2 languages" in meta["description"] and "not trained on MultiNERD itself" in meta["description"]
    assert [source["name"] for source in meta["sources"]][0] == "MultiNERD"
    assert not any("bert" in source["name"] for source in meta["sources"])
    assert meta["performance"] == {}
    assert validate(ModelMetaSchema, meta) == []
    readme = pm.build_readme(meta)
    assert "No test scores" in readme and "CC BY-NC-SA 4.0" in readme


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
    assert pm.transformer_source(str(copy)) == {"name": f"bert-base-multilingual-cased (local copy: {copy})",
                                                "license": "Apache-2.0"}
    # A hub name that isn't cached (the tests are offline): a pointer, and the hub page.
    source = pm.transformer_source("someone/some-model")
    assert source == {"name": "someone/some-model", "url": "https://huggingface.co/someone/some-model",
                      "license": "see the model's card"}


def test_transformer_pipeline_needs_its_transformer():
    with pytest.raises(ValueError):
        pm.build_meta(model_meta(), name="multinerd", version="0.1.0", config="trf", report=fake_report())


def test_cli(tmp_path):
    model = tmp_path / "model-best"
    model.mkdir()
    (model / "meta.json").write_text(json.dumps(model_meta()))
    (model / "config.cfg").write_text('[components]\n\n[components.transformer]\nfactory = "transformer"\n\n'
                                      '[components.transformer.model]\nname = "bert-base-multilingual-cased"\n')
    (model / "ner").mkdir()
    (model / "ner" / "model").write_bytes(b"weights")
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "scores.json").write_text(json.dumps(fake_scores()))
    (metrics / "seqeval.json").write_text(json.dumps(fake_seqeval()))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.json").write_text(json.dumps(fake_report()))
    output = tmp_path / "packages" / "model"

    def run(*args):
        return subprocess.run([sys.executable, str(SCRIPT), str(model), str(output), "--metrics", str(metrics),
                               "--corpus", str(corpus), "--config", "trf", "--version", "2.0.0", *args],
                              capture_output=True, text=True, cwd=ROOT)

    result = run()
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads((output / "meta.json").read_text())
    assert meta["version"] == "2.0.0" and meta["license"] == "CC BY-NC-SA 4.0"
    assert meta["sources"][1] == {"name": "bert-base-multilingual-cased", "license": "Apache-2.0",
                                  "url": "https://huggingface.co/bert-base-multilingual-cased"}
    # A copy of the model, with the card and the licenses that `spacy package` ships.
    assert (output / "ner" / "model").read_bytes() == b"weights"
    assert "### Per language" in (output / "README.md").read_text()
    assert "CC BY-NC-SA 4.0" in (output / "LICENSE").read_text()
    assert "Babelscape" in (output / "LICENSES_SOURCES").read_text()
    assert not (model / "README.md").exists()  # the trained model is left alone
    assert run().returncode == 0  # its own output is replaced on the next run
    # A folder it didn't write is not deleted.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    result = subprocess.run([sys.executable, str(SCRIPT), str(model), str(foreign), "--metrics", str(metrics)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0 and (foreign / "keep.txt").exists()
    # --no-copy-model: meta.json and README.md only; missing metrics only warn.
    only = tmp_path / "only"
    result = subprocess.run([sys.executable, str(SCRIPT), str(model), str(only), "--no-copy-model",
                             "--metrics", str(tmp_path / "none"), "--corpus", str(corpus)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(path.name for path in only.iterdir()) == ["README.md", "meta.json"]
    assert json.loads((only / "meta.json").read_text())["performance"] == {}
