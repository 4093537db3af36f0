"""A trained pipeline prepared for `spacy package`: the meta.json fields spaCy doesn't fill in,
and the license files it ships. `write_package_meta` makes OUTPUT a copy of MODEL (the trained
pipeline itself is another command's output and stays as it is) with
    meta.json                  the model's meta plus name, version, license, description, sources,
                               the test scores (METRICS/scores.json from `spacy evaluate`,
                               METRICS/seqeval.json from scripts/evaluate.py) and notes (usage,
                               seqeval tables per type and per language, the entity scores'
                               reliability from METRICS/confidence.json, license, training); the
                               model card is the one `spacy package` writes from it;
    reliability.png, precision_recall.png
                               the plots scripts/evaluate.py drew (METRICS/), linked from the card;
    LICENSE, LICENSES_SOURCES  the weights' license and the sources', which `spacy package` ships.
"""

import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import srsly
from confection import Config
from wasabi import MarkdownRenderer, msg

from multinerd.evaluation.reliability import render_markdown as render_confidence
from multinerd.evaluation.seqeval import MODES, render_markdown
from multinerd.labels import ENTITY_TYPES, LANGUAGES

MODEL_LICENSE = "CC BY-NC-SA 4.0"
MODEL_LICENSE_URL = "https://creativecommons.org/licenses/by-nc-sa/4.0/"
MULTINERD = {
    "name": "MultiNERD",
    "url": "https://huggingface.co/datasets/Babelscape/multinerd",
    "author": "Babelscape",
    "license": "CC BY-NC-SA 4.0",
}
PROJECT_AUTHOR = "The xx_multinerd developers"  # LICENSE's copyright holders
BUNDLED_SAMPLE = {
    "name": "xx_multinerd's bundled sample (hand-written, MultiNERD's format)",
    "author": PROJECT_AUTHOR,
    "license": "MIT",
}
MARKER = ".package_meta"  # marks OUTPUT as written by this script (dot files stay out of the wheel)
UNKNOWN_LICENSE = "see the model's card"
# Licenses of well-known hub models (their model cards), without asking the hub; the hub also
# serves them under the organisations in HUB_ORGS.
KNOWN_TRANSFORMER_LICENSES = {
    "bert-base-multilingual-cased": "Apache-2.0",
    "bert-base-multilingual-uncased": "Apache-2.0",
    "distilbert-base-multilingual-cased": "Apache-2.0",
    "xlm-roberta-base": "MIT",
    "xlm-roberta-large": "MIT",
}
HUB_ORGS = ("google-bert/", "FacebookAI/", "distilbert/")
TYPE_NAMES = {
    "PER": "person", "ORG": "organization", "LOC": "location", "ANIM": "animal",
    "BIO": "biological entity", "CEL": "celestial body", "DIS": "disease", "EVE": "event",
    "FOOD": "food", "INST": "instrument", "MEDIA": "media", "MYTH": "mythological entity",
    "PLANT": "plant", "TIME": "time", "VEHI": "vehicle",
}  # fmt: skip
LANGUAGE_NAMES = {
    "de": "German", "en": "English", "es": "Spanish", "fr": "French", "it": "Italian",
    "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "zh": "Chinese",
}  # fmt: skip
TOKENIZATION = "spaCy's xx rules, CJK characters cut into single tokens (xx_multinerd.CJKCharTokenizer.v1)"
# The NER figures of `spacy evaluate --output` (0-1); it leaves out ents_per_type when no entity was found.
SPACY_KEYS = ("ents_p", "ents_r", "ents_f", "ents_per_type", "speed")
# seqeval.json's score names -> meta.json's, short like spaCy's own ents_per_type {p, r, f}.
SEQEVAL_NAMES = {"precision": "p", "recall": "r", "f1": "f", "support": "support", "accuracy": "accuracy"}
# scripts/evaluate.py's plots (the entity scores', the learning curve), shipped beside the model card that links them.
PLOTS = {
    "reliability.png": "Reliability of the entity scores",
    "precision_recall.png": "Precision and recall by threshold",
    "training.png": "Learning curve: dev score and training loss by step",
}
# confidence.json's figures kept in meta.json (its 101-point curve stays in the plot).
CONFIDENCE_KEYS = ("entities", "gold", "ece", "thresholds", "reliability")


# --- the transformer's source and license ------------------------------------------------------


def model_transformer(model: Path) -> str:
    """The transformer (hub name or folder) named in a trained trf pipeline's config."""
    config = Config().from_disk(model / "config.cfg", interpolate=False)
    return config["components"]["transformer"]["model"]["name"]


def transformer_source(name: str) -> Dict[str, str]:
    """{name, url (hub names), license} of the transformer the pipeline was fine-tuned from:
    a well-known hub model, a local folder (license in its model card) or a hub model found in
    the local hub cache; the license is UNKNOWN_LICENSE where none of these says."""
    hub = {"name": name, "url": f"https://huggingface.co/{name}"}
    known = known_license(name)
    if known:
        return {**hub, "license": known}
    folder = Path(name)
    if folder.is_dir():
        origin = _saved_from(folder)
        found = _card_license(folder / "README.md")
        if found == UNKNOWN_LICENSE and origin:
            found = known_license(origin) or found
        return {"name": f"{origin} (local copy: {folder})" if origin else name, "license": found}
    return {**hub, "license": _card_license(_cached_card(name))}


def known_license(name: str) -> Optional[str]:
    return KNOWN_TRANSFORMER_LICENSES.get(name.split("/")[-1] if name.startswith(HUB_ORGS) else name)


def _saved_from(folder: Path) -> Optional[str]:
    """The hub name a local copy was saved from, where its config.json records one."""
    origin = srsly.read_json(folder / "config.json").get("_name_or_path")
    if origin and not Path(origin).is_absolute() and not origin.startswith("."):
        return origin
    return None


def _cached_card(name: str) -> Optional[Path]:
    """The model card of a hub model in the local hub cache (never downloaded)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name, "README.md")
    except ValueError:  # not a valid hub name (a folder that is gone): no card
        return None
    return Path(cached) if isinstance(cached, str) else None


def _card_license(card: Optional[Path]) -> str:
    """The `license` in a model card's YAML header, else UNKNOWN_LICENSE."""
    if card is None or not card.is_file():
        return UNKNOWN_LICENSE
    header = re.match(r"---\s*\n(.*?)\n---", card.read_text(encoding="utf8", errors="replace"), re.S)
    found = header and re.search(r"^license:\s*['\"]?([^'\"\n]+?)['\"]?\s*$", header.group(1), re.M)
    return found.group(1).strip() if found else UNKNOWN_LICENSE


# --- meta.json -----------------------------------------------------------------------------------


def seqeval_performance(seqeval: Dict[str, Any]) -> Dict[str, Any]:
    """seqeval.json -> {mode: {overall, per_type, per_language}, version, sentences, tokens,
    languages}, the scores under meta.json's short names (SEQEVAL_NAMES)."""

    def renamed(row: Dict[str, Any]) -> Dict[str, Any]:
        return {SEQEVAL_NAMES[name]: value for name, value in row.items()}

    performance: Dict[str, Any] = {}
    for mode in MODES:
        scores = seqeval[mode]
        performance[mode] = {
            "overall": renamed(scores["overall"]),
            "per_type": {label: renamed(row) for label, row in scores["per_type"].items()},
            "per_language": {lang: renamed(row) for lang, row in scores["per_language"].items()},
        }
    return {**performance, "version": seqeval["seqeval"], "sentences": seqeval["sentences"],
            "tokens": seqeval["tokens"], "languages": seqeval["languages"]}  # fmt: skip


def build_meta(
    model_meta: Dict[str, Any],
    *,
    name: str,
    version: str,
    config: str,
    scores: Optional[Dict[str, Any]] = None,
    seqeval: Optional[Dict[str, Any]] = None,
    report: Optional[Dict[str, Any]] = None,
    transformer: Optional[str] = None,
    confidence: Optional[Dict[str, Any]] = None,
    plots: Sequence[str] = (),
    author: str = "",
    email: str = "",
    url: str = "",
) -> Dict[str, Any]:
    """The package's meta.json from the meta `spacy train` wrote, the test scores (scores.json,
    seqeval.json, confidence.json and the names of the PLOTS that ship with it) and the corpus'
    report.json; `transformer` (the one the pipeline was fine-tuned from) is needed for a pipeline
    with one and ignored for a pipeline without."""
    report = report or {}
    dataset = report.get("source") or "unknown"
    langs = ",".join(report["langs"]) if report.get("langs") else "all"
    languages = trained_languages(report)
    if "transformer" not in model_meta["pipeline"]:
        transformer = None
    elif not transformer:
        raise ValueError("The pipeline has a transformer: pass its name (the one in its config.cfg)")
    meta = dict(model_meta)
    meta.update({"lang": "xx", "name": name, "version": version, "license": MODEL_LICENSE})
    for key, value in (("author", author), ("email", email), ("url", url)):
        # spaCy's card links the author to meta["url"] whenever the key is there, even empty.
        if value or meta.get(key):
            meta[key] = value or meta[key]
        else:
            meta.pop(key, None)
    meta["description"] = describe(languages, dataset, config, transformer)
    meta["sources"] = [dict(MULTINERD)]
    if is_bundled_sample(dataset):
        meta["sources"].append(dict(BUNDLED_SAMPLE))
    if transformer:
        meta["sources"].append(transformer_source(transformer))
    # The model's own performance is the dev sample's during training: kept apart from the test scores.
    dev_scores = {
        key: value for key, value in model_meta["performance"].items() if key in ("ents_p", "ents_r", "ents_f")
    }
    meta["performance"] = {key: scores[key] for key in SPACY_KEYS if key in scores} if scores else {}
    if seqeval:
        # Scalars for the accuracy table of spaCy's model card, then the whole breakdown.
        overall = seqeval["default"]["overall"]
        meta["performance"].update({"seqeval_p": overall["precision"], "seqeval_r": overall["recall"],
                                    "seqeval_f": overall["f1"]})  # fmt: skip
        meta["performance"]["seqeval"] = seqeval_performance(seqeval)
    if confidence:
        meta["performance"]["entity_scores"] = {key: confidence[key] for key in CONFIDENCE_KEYS}
    train = report.get("splits", {}).get("train", {})
    meta["multinerd"] = {
        "dataset": dataset,
        "langs": langs,
        "languages": languages,
        "config": f"configs/{config}.cfg",
        "transformer": transformer,
        "tokenization": TOKENIZATION,
        "evaluated_on": "test split" if (scores or seqeval) else None,
        "train_sentences": train.get("sentences"),
        # Trained on the bundled sample: it shows the pipeline works, not how well it tags.
        "demonstration": is_bundled_sample(dataset),
        "seed": report.get("seed"),
        "dev_sample_scores": dev_scores,
    }
    meta["notes"] = notes(meta, seqeval, confidence, plots)
    return meta


def trained_languages(report: Dict[str, Any]) -> List[str]:
    """The languages of the training split (MultiNERD's in their order, then others), else the
    `langs` filter's, else MultiNERD's."""
    found = report.get("splits", {}).get("train", {}).get("languages") or report.get("langs") or LANGUAGES
    return sorted(found, key=lambda lang: LANGUAGES.index(lang) if lang in LANGUAGES else len(LANGUAGES))


def is_bundled_sample(dataset: str) -> bool:
    return Path(dataset).name == "multinerd_sample"


def describe(languages: List[str], dataset: str, config: str, transformer: Optional[str]) -> str:
    types = ", ".join(f"{label} ({TYPE_NAMES[label]})" for label in ENTITY_TYPES)
    names = ", ".join(f"{LANGUAGE_NAMES.get(lang, lang)} ({lang})" for lang in languages)
    if transformer:
        how = (
            f"a transformer ({transformer}) fine-tuned with a BIO tagger (a softmax over O, B- and I- tags on "
            "each word's first word piece, decoded to well-formed BIO)"
        )
    else:
        how = "spaCy's CNN tok2vec and transition-based NER, trained from scratch"
    if is_bundled_sample(dataset):
        data = (
            "the project's bundled hand-written sample in MultiNERD's format (a demonstration "
            "model: it was not trained on MultiNERD itself)"
        )
    elif "multinerd" in dataset.lower():
        data = f"MultiNERD (Babelscape; {dataset})"
    else:
        data = f"{dataset}, in MultiNERD's annotation scheme"
    return (
        f"Multilingual fine-grained named entity recognition in {len(languages)} languages ({names}) "
        f"with MultiNERD's {len(ENTITY_TYPES)} entity types: {types}. "
        f"Trained on {data} with configs/{config}.cfg: {how}. "
        "Chinese (and other CJK) text is cut into one token per character."
    )


def notes(
    meta: Dict[str, Any],
    seqeval: Optional[Dict[str, Any]],
    confidence: Optional[Dict[str, Any]] = None,
    plots: Sequence[str] = (),
) -> str:
    """The model card's text after spaCy's feature, label and accuracy tables: usage, seqeval's
    tables (per entity type, per language), the entity scores, license, training."""
    package, custom = f"{meta['lang']}_{meta['name']}", meta["multinerd"]
    md = MarkdownRenderer()
    md.add(md.title(3, "Usage"))
    needs = "spaCy" + (" and spacy-transformers" if custom["transformer"] else "")
    md.add(f"The package needs {needs}; its tokenizer code travels inside it.")
    usage = (
        f'import spacy\n\nnlp = spacy.load("{package}")\n'
        'doc = nlp("Angela Merkel besuchte im Mai 2019 das Brandenburger Tor in Berlin.")\n'
        "print([(ent.text, ent.label_) for ent in doc.ents])\n"
        'doc = nlp("北京是中国的首都。")  # Chinese: one token per character\n'
        "print([(ent.text, ent.label_) for ent in doc.ents])"
    )
    md.add(md.code_block(usage, "python"))
    md.add(md.title(3, "Entity types"))
    md.add(md.table([(md.code(label), TYPE_NAMES[label]) for label in ENTITY_TYPES], ("Label", "Meaning")))
    if seqeval:
        md.add(f"Scores on the {custom['evaluated_on']} of `{custom['dataset']}`:")
        md.add(render_markdown(seqeval, level=3))
    else:
        md.add("No seqeval test scores were found when this package was built (run `spacy project run evaluate`).")
    md.add(md.title(3, "Entity scores"))
    md.add(
        "Every entity carries a probability, `ent._.score`, calibrated on dev (never on test). A threshold at "
        "load time drops the entities scored below it; `alternatives_key` keeps the spans the pipeline did not "
        "choose, with their scores, in a span group:"
    )
    scores_usage = (
        f'nlp = spacy.load("{package}")\n'
        'doc = nlp("Angela Merkel besuchte im Mai 2019 das Brandenburger Tor in Berlin.")\n'
        "print([(ent.text, ent.label_, round(ent._.score, 3)) for ent in doc.ents])\n"
        f'nlp = spacy.load("{package}", config={{"components": {{"entity_scores": '
        '{"threshold": 0.9, "alternatives_key": "ner_alternatives"}}})\n'
        'doc = nlp("Angela Merkel besuchte im Mai 2019 das Brandenburger Tor in Berlin.")\n'
        'alternatives = doc.spans["ner_alternatives"]\n'
        'print(list(zip(alternatives, alternatives.attrs["scores"])))\n'
        "# displaCy, each entity's score after its label\n"
        f"from spacy import displacy\nfrom {package}.entity_scores import displacy_data\n\n"
        'data, options = displacy_data(doc)\nhtml = displacy.render(data, style="ent", manual=True, options=options)'
    )
    md.add(md.code_block(scores_usage, "python"))
    if confidence:
        md.add(f"How far the scores can be trusted on the {custom['evaluated_on']} of `{custom['dataset']}`:")
        md.add(render_confidence(confidence, level=4))
    for name in plots:
        md.add(f"![{PLOTS[name]}]({name})")
    md.add(md.title(3, "License"))
    text = (
        f"The pipeline's weights are licensed under **{meta['license']}** ({MODEL_LICENSE_URL}): pipelines "
        "trained on MultiNERD (Babelscape) derive from it, and MultiNERD is CC BY-NC-SA 4.0: attribution, "
        "non-commercial use only, derivatives under the same license."
    )
    if is_bundled_sample(custom["dataset"]):
        text += (
            " This build was trained on the project's hand-written sample (MIT), not on MultiNERD; it carries "
            "the same license as the builds trained on MultiNERD, so that the terms don't depend on the build."
        )
    if custom["transformer"]:
        source = meta["sources"][-1]  # build_meta lists the transformer last
        found = source["license"]
        text += f" The transformer it was fine-tuned from, `{source['name']}`, " + (
            f"is licensed under {found}." if found != UNKNOWN_LICENSE else f"has its own license: {found}."
        )
    md.add(text + " The code that builds it (the xx_multinerd spaCy project) is MIT-licensed.")
    md.add(md.title(3, "Training"))
    sentences = f"; {custom['train_sentences']:,} training sentences" if custom["train_sentences"] else ""
    transformer = f", transformer `{custom['transformer']}`" if custom["transformer"] else ""
    md.add(
        f"- Dataset: `{custom['dataset']}`; languages: {custom['langs']}{sentences}\n"
        f"- Config: `{custom['config']}`{transformer}\n"
        f"- Tokenization: {custom['tokenization']}"
    )
    return md.text


# --- license files -------------------------------------------------------------------------------


def license_text(meta: Dict[str, Any]) -> str:
    return (
        f"{meta['lang']}_{meta['name']} {meta['version']}: the trained pipeline (weights and data files)\n\n"
        f"License: {meta['license']}\n{MODEL_LICENSE_URL}\n\n"
        "xx_multinerd pipelines are trained on MultiNERD (Babelscape,\n"
        "https://huggingface.co/datasets/Babelscape/multinerd), licensed CC BY-NC-SA 4.0: use them with\n"
        "attribution, for non-commercial purposes only, and share derivatives under the same license.\n"
        "The sources of this build and their licenses are listed in LICENSES_SOURCES.\n"
    )


def sources_text(meta: Dict[str, Any]) -> str:
    blocks = []
    for source in meta["sources"]:
        lines = [source["name"]] + [f"{key}: {source[key]}" for key in ("author", "url", "license") if source.get(key)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


class MetaError(Exception):
    """The package's meta can't be written; the message is the line to show."""


def read_optional(path: Path, what: str) -> Optional[Dict[str, Any]]:
    if path.is_file():
        return srsly.read_json(path)
    msg.warn(f"No {path} ({what}): the meta and the model card will lack it.")
    return None


def write_package_meta(
    model: Path,
    output: Path,
    metrics: Path,
    report: Path,
    config: str,
    name: str,
    version: str,
    author: str = PROJECT_AUTHOR,
    email: str = "",
    url: str = "",
) -> None:
    """Write OUTPUT (see the module). Raises MetaError."""
    if not (model / "meta.json").is_file():
        raise MetaError(
            f"{model} has no meta.json: pass a trained spaCy pipeline such as training/{config}/model-best."
        )
    model_meta = srsly.read_json(model / "meta.json")
    plots = [name for name in PLOTS if (metrics / name).is_file()]
    meta = build_meta(
        model_meta,
        name=name,
        version=version,
        config=config,
        scores=read_optional(metrics / "scores.json", "spacy evaluate"),
        seqeval=read_optional(metrics / "seqeval.json", "scripts/evaluate.py"),
        report=read_optional(report, "scripts/convert.py"),
        confidence=read_optional(metrics / "confidence.json", "scripts/evaluate.py's entity scores"),
        plots=plots,
        transformer=model_transformer(model) if "transformer" in model_meta["pipeline"] else None,
        author=author,
        email=email,
        url=url,
    )
    fresh_copy(model, output)
    for name in plots:
        shutil.copyfile(metrics / name, output / name)
    srsly.write_json(output / "meta.json", meta)
    (output / "LICENSE").write_text(license_text(meta), encoding="utf8")
    (output / "LICENSES_SOURCES").write_text(sources_text(meta), encoding="utf8")
    msg.good(f"Wrote {output}: a copy of {model} with meta.json, LICENSE and LICENSES_SOURCES")


def fresh_copy(model: Path, output: Path) -> None:
    """Replace OUTPUT by a copy of MODEL; refuse to delete a folder this script didn't write."""
    if output.resolve() == model.resolve() or model.resolve() in output.resolve().parents:
        raise MetaError(f"OUTPUT ({output}) must not be MODEL or inside it: the trained pipeline stays untouched.")
    if output.exists():
        if any(output.iterdir()) and not (output / MARKER).exists():
            raise MetaError(f"{output} exists and was not written by this script: remove it or choose another OUTPUT.")
        shutil.rmtree(output)
    shutil.copytree(model, output)
    (output / MARKER).write_text("written by scripts/package_meta.py; replaced on every run\n", encoding="utf8")
