"""Prepare a trained pipeline for `spacy package`: its meta.json and its model card.

    python scripts/package_meta.py training/trf/model-best packages/model --metrics metrics/trf \
        --corpus corpus --config trf --name multinerd --version 0.1.0
    python -m spacy package packages/model packages --name multinerd --version 0.1.0 \
        --meta-path packages/model/meta.json --code scripts/multinerd/tokenizer.py --build sdist,wheel --force

Reads METRICS/scores.json (`spacy evaluate --output`), METRICS/seqeval.json (scripts/evaluate.py:
`multinerd.scoring.score_tags`' scores plus "model" and "corpus") and CORPUS/report.json
(scripts/convert.py). OUTPUT becomes a copy of the trained pipeline with
    meta.json         the model's own meta (pipeline, labels) plus name, version, description,
                      license, sources, test scores (spaCy's and seqeval's) and a `multinerd`
                      block naming the dataset, languages and config trained on;
    README.md         the model card. `spacy package` uses a README.md found in the pipeline
                      folder instead of generating one, and ships it in the wheel (inside the
                      model folder and as the package's long description);
    LICENSE, LICENSES_SOURCES   the weights' license and the sources', shipped likewise.
The trained pipeline itself is left untouched (it is another command's output). With
--no-copy-model only meta.json and README.md are written to OUTPUT.
"""
import json
import re
import shutil
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import typer
from confection import Config
from wasabi import msg

from multinerd.cli import fail
from multinerd.labels import ENTITY_TYPES, LANGUAGES

app = typer.Typer(add_completion=False)

MODEL_LICENSE = "CC BY-NC-SA 4.0"
MODEL_LICENSE_URL = "https://creativecommons.org/licenses/by-nc-sa/4.0/"
MULTINERD = {
    "name": "MultiNERD",
    "url": "https://huggingface.co/datasets/Babelscape/multinerd",
    "author": "Babelscape",
    "license": "CC BY-NC-SA 4.0",
}
BUNDLED_SAMPLE = {
    "name": "xx_multinerd's bundled sample (hand-written, MultiNERD's format)",
    "url": "",
    "author": "The xx_multinerd developers",
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
}
LANGUAGE_NAMES = {
    "de": "German", "en": "English", "es": "Spanish", "fr": "French", "it": "Italian",
    "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "zh": "Chinese",
}
TOKENIZATION = "spaCy's xx rules, CJK characters cut into single tokens (xx_multinerd.CJKCharTokenizer.v1)"
# The NER figures of `spacy evaluate --output` (0-1); it leaves out ents_per_type when no entity was found.
SPACY_KEYS = ("ents_p", "ents_r", "ents_f", "ents_per_type", "speed")
# seqeval.json's scoring modes: multinerd.scoring.MODES, named here so as not to import seqeval (slow).
SEQEVAL_MODES = ("default", "strict")
# seqeval.json's score names -> meta.json's, short like spaCy's own ents_per_type {p, r, f}.
SEQEVAL_NAMES = {"precision": "p", "recall": "r", "f1": "f", "support": "support", "accuracy": "accuracy"}


def in_language_order(langs: Iterable[str]) -> List[str]:
    """MultiNERD's languages in LANGUAGES' order, then any other language as given."""
    return sorted(langs, key=lambda lang: LANGUAGES.index(lang) if lang in LANGUAGES else len(LANGUAGES))


# ---------------------------------------------------------------------------------------------
# Inputs


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf8")) if path.is_file() else None


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
    origin = json.loads((folder / "config.json").read_text(encoding="utf8")).get("_name_or_path")
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


# ---------------------------------------------------------------------------------------------
# meta.json


def spacy_performance(scores: Dict[str, Any]) -> Dict[str, Any]:
    return {key: scores[key] for key in SPACY_KEYS if key in scores}


def seqeval_performance(seqeval: Dict[str, Any]) -> Dict[str, Any]:
    """seqeval.json -> {mode: {overall, per_type, per_language}, version, sentences, tokens,
    languages}, the scores under meta.json's names (SEQEVAL_NAMES)."""
    performance: Dict[str, Any] = {}
    for mode in SEQEVAL_MODES:
        scores = seqeval[mode]
        performance[mode] = {
            "overall": _renamed(scores["overall"]),
            "per_type": {label: _renamed(row) for label, row in scores["per_type"].items()},
            "per_language": {lang: _renamed(row) for lang, row in scores["per_language"].items()},
        }
    return {**performance, "version": seqeval["seqeval"], "sentences": seqeval["sentences"],
            "tokens": seqeval["tokens"], "languages": seqeval["languages"]}


def _renamed(row: Dict[str, Any]) -> Dict[str, Any]:
    return {SEQEVAL_NAMES[name]: value for name, value in row.items()}


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
    dataset: Optional[str] = None,
    langs: Optional[str] = None,
    license: str = MODEL_LICENSE,
    author: str = "",
    email: str = "",
    url: str = "",
) -> Dict[str, Any]:
    """The package's meta.json from the meta `spacy train` wrote, the test scores (scores.json,
    seqeval.json) and the corpus' report.json. `dataset` and `langs` default to the report's;
    `transformer` (needed for a pipeline with one) is ignored for a pipeline without."""
    report = report or {}
    dataset = dataset or report.get("source") or "unknown"
    if langs is None:
        langs = ",".join(report["langs"]) if report.get("langs") else "all"
    languages = trained_languages(report, langs)
    if "transformer" not in model_meta["pipeline"]:
        transformer = None
    elif not transformer:
        raise ValueError("The pipeline has a transformer: pass its name (the one in its config.cfg)")
    meta = dict(model_meta)
    meta.update({"lang": "xx", "name": name, "version": version, "license": license})
    meta.update({key: value for key, value in (("author", author), ("email", email), ("url", url)) if value})
    meta["description"] = describe(languages, dataset, config, transformer)
    meta["sources"] = [dict(MULTINERD)]
    if is_bundled_sample(dataset):
        meta["sources"].append(dict(BUNDLED_SAMPLE))
    if transformer:
        meta["sources"].append(transformer_source(transformer))
    # The model's own performance is the dev sample's during training: not kept as test scores.
    dev_scores = {key: value for key, value in model_meta["performance"].items() if key in ("ents_p", "ents_r", "ents_f")}
    meta["performance"] = spacy_performance(scores) if scores else {}
    if seqeval:
        meta["performance"]["seqeval"] = seqeval_performance(seqeval)
    custom: Dict[str, Any] = {
        "dataset": dataset,
        "langs": langs,
        "languages": languages,
        "config": f"configs/{config}.cfg",
        "transformer": transformer,
        "tokenization": TOKENIZATION,
        "evaluated_on": "test split" if (scores or seqeval) else None,
    }
    train = report.get("splits", {}).get("train")
    if train:
        custom["train_sentences"] = train["sentences"]
    if "seed" in report:
        custom["seed"] = report["seed"]
    if dev_scores:
        custom["dev_sample_scores"] = dev_scores
    meta["multinerd"] = custom
    return meta


def trained_languages(report: Dict[str, Any], langs: str) -> List[str]:
    """The languages of the training split, else those of the `langs` filter."""
    found = report.get("splits", {}).get("train", {}).get("languages")
    if found:
        return in_language_order(found)
    if langs and langs.strip().lower() != "all":
        return [lang.strip() for lang in langs.split(",") if lang.strip()]
    return list(LANGUAGES)


def is_bundled_sample(dataset: str) -> bool:
    return Path(dataset).name == "multinerd_sample"


def describe(languages: List[str], dataset: str, config: str, transformer: Optional[str]) -> str:
    types = ", ".join(f"{label} ({TYPE_NAMES[label]})" for label in ENTITY_TYPES)
    names = ", ".join(f"{LANGUAGE_NAMES.get(lang, lang)} ({lang})" for lang in languages)
    if transformer:
        how = f"a transformer ({transformer}) fine-tuned with spaCy's transition-based NER"
    else:
        how = "spaCy's CNN tok2vec and transition-based NER, trained from scratch"
    if is_bundled_sample(dataset):
        data = ("the project's bundled hand-written sample in MultiNERD's format (a demonstration "
                "model: it was not trained on MultiNERD itself)")
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


# ---------------------------------------------------------------------------------------------
# Model card (README.md), from the meta build_meta wrote


def build_readme(meta: Dict[str, Any]) -> str:
    return "\n".join(_summary(meta) + _usage(meta) + _label_scheme() + _accuracy(meta) + _license(meta)
                     + _sources(meta) + _training(meta))


def _pct(value: Optional[float]) -> str:
    """A 0-1 score in %; "–" where there is none (a type never seen, spaCy's None)."""
    return f"{value * 100:.2f}" if isinstance(value, (int, float)) else "–"


def _pcts(scores: Dict[str, Any], keys: Iterable[str]) -> Tuple[str, ...]:
    return tuple(_pct(scores.get(key)) for key in keys)


def _support(scores: Optional[Dict[str, Any]]) -> str:
    return f"{scores['support']:,}" if scores else "–"


def _table(header: Tuple[str, ...], rows: List[Tuple[str, ...]], aligns: str) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(":---" if align == "l" else "---:" for align in aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _package(meta: Dict[str, Any]) -> str:
    return f"{meta['lang']}_{meta['name']}"


def _link(source: Dict[str, str]) -> str:
    return f"[{source['name']}]({source['url']})" if source.get("url") else source["name"]


def _summary(meta: Dict[str, Any]) -> List[str]:
    custom = meta["multinerd"]
    sources = "<br>".join(
        _link(source) + (f" ({source['author']})" if source.get("author") else "") + f", license: {source['license']}"
        for source in meta["sources"]
    )
    features = [
        ("**Name**", f"`{_package(meta)}`"),
        ("**Version**", f"`{meta['version']}`"),
        ("**spaCy**", f"`{meta['spacy_version']}`"),
        ("**Pipeline**", ", ".join(f"`{pipe}`" for pipe in meta["pipeline"])),
        ("**Languages**", ", ".join(f"`{lang}`" for lang in custom["languages"])),
        ("**Entity types**", ", ".join(f"`{label}`" for label in ENTITY_TYPES)),
        ("**Trained on**", f"`{custom['dataset']}` (languages: {custom['langs']})"),
        ("**Config**", f"`{custom['config']}`"),
    ]
    if custom["transformer"]:
        features.append(("**Transformer**", f"`{custom['transformer']}`"))
    features += [("**Sources**", sources), ("**License**", f"`{meta['license']}`")]
    if meta["author"]:
        features.append(("**Author**", f"[{meta['author']}]({meta['url']})" if meta["url"] else meta["author"]))
    return [f"# {_package(meta)}", "", meta["description"], "", _table(("Feature", "Description"), features, "ll"), ""]


def _usage(meta: Dict[str, Any]) -> List[str]:
    package, version = _package(meta), meta["version"]
    return ["## Usage", "",
            "Install the wheel that `spacy project run package` builds (the package needs spaCy"
            + (" and spacy-transformers" if "transformer" in meta["pipeline"] else "")
            + "; its tokenizer code travels inside it):", "",
            "```bash",
            f"pip install packages/{package}-{version}/dist/{package}-{version}-py3-none-any.whl",
            "```", "",
            "```python",
            "import spacy",
            "",
            f'nlp = spacy.load("{package}")',
            'doc = nlp("Angela Merkel besuchte im Mai 2019 das Brandenburger Tor in Berlin.")',
            "print([(ent.text, ent.label_) for ent in doc.ents])",
            'doc = nlp("北京是中国的首都。")  # Chinese: one token per character',
            "print([(ent.text, ent.label_) for ent in doc.ents])",
            "```", ""]


def _label_scheme() -> List[str]:
    rows = [(f"`{label}`", TYPE_NAMES[label]) for label in ENTITY_TYPES]
    return ["## Label scheme", "", _table(("Label", "Meaning"), rows, "ll"), ""]


def _accuracy(meta: Dict[str, Any]) -> List[str]:
    """Overall, per-type and per-language test scores: spaCy's and seqeval's, those there are."""
    performance = meta["performance"]
    if not performance:
        return ["## Accuracy", "", "No test scores were found when this package was built "
                "(run `spacy project run evaluate`).", ""]
    seqeval = performance.get("seqeval", {})
    modes = list(SEQEVAL_MODES) if seqeval else []
    lines = ["## Accuracy", "",
             f"Scores on the {meta['multinerd']['evaluated_on']} of `{meta['multinerd']['dataset']}`, in %. "
             "spaCy: exact entity spans (`spacy evaluate`). seqeval: word-level BIO tags "
             "(default mode, and strict mode, which counts an entity only when its tags are well formed).", ""]

    rows = []
    if "ents_f" in performance:
        rows.append(("spaCy", *_pcts(performance, ("ents_p", "ents_r", "ents_f")), "–"))
    for mode in modes:
        overall = seqeval[mode]["overall"]
        rows.append((f"seqeval ({mode})", *_pcts(overall, "prf"), _support(overall)))
    lines += ["### Overall", "", _table(("Scorer", "P", "R", "F", "Support"), rows, "lrrrr"), ""]

    spacy_per_type = performance.get("ents_per_type", {})
    header = ("Type",) + (("spaCy P", "spaCy R", "spaCy F") if spacy_per_type else ())
    header += tuple(f"seqeval F ({mode})" for mode in modes) + (("Support",) if modes else ())
    rows = []
    for label in ENTITY_TYPES:
        row = (f"`{label}`",) + (_pcts(spacy_per_type.get(label, {}), "prf") if spacy_per_type else ())
        row += tuple(_pct(seqeval[mode]["per_type"].get(label, {}).get("f")) for mode in modes)
        rows.append(row + ((_support(seqeval[modes[0]]["per_type"].get(label)),) if modes else ()))
    lines += ["### Per entity type", "", _table(header, rows, "l" + "r" * (len(header) - 1)), ""]

    lines += ["### Per language", ""]
    if not modes:
        return lines + ["No per-language scores were found (scripts/evaluate.py writes them to seqeval.json).", ""]
    first = seqeval[modes[0]]["per_language"]
    header = ("Language", "Sentences", "Support", "P", "R") + tuple(f"F ({mode})" for mode in modes)
    rows = [
        (f"{LANGUAGE_NAMES.get(lang, lang)} (`{lang}`)", f"{seqeval['languages'][lang]['sentences']:,}",
         _support(first[lang]), *_pcts(first[lang], "pr"),
         *(_pct(seqeval[mode]["per_language"][lang]["f"]) for mode in modes))
        for lang in in_language_order(first)
    ]
    return lines + [f"seqeval, word-level; P and R in the {modes[0]} mode; support: gold entities.", "",
                    _table(header, rows, "l" + "r" * (len(header) - 1)), ""]


def _license(meta: Dict[str, Any]) -> List[str]:
    custom = meta["multinerd"]
    lines = ["## License", "",
             f"The pipeline's weights are licensed under **{meta['license']}**"
             + (f" ({MODEL_LICENSE_URL})" if meta["license"] == MODEL_LICENSE else "")
             + ": pipelines trained on MultiNERD (Babelscape) derive from it, and MultiNERD is "
             "CC BY-NC-SA 4.0 — attribution, non-commercial use only, derivatives under the same license.", ""]
    if is_bundled_sample(custom["dataset"]):
        lines += ["This build was trained on the project's hand-written sample (MIT), not on MultiNERD; it "
                  "carries the same license as the builds trained on MultiNERD, so that the terms don't depend on "
                  "the build.", ""]
    if custom["transformer"]:
        transformer = meta["sources"][-1]  # build_meta lists the transformer last
        found = transformer["license"]
        lines += [f"The transformer it was fine-tuned from, `{transformer['name']}`, "
                  + (f"is licensed under {found}." if found != UNKNOWN_LICENSE else f"has its own license: {found}."), ""]
    return lines + ["The code that builds it (the xx_multinerd spaCy project) is MIT-licensed.", ""]


def _sources(meta: Dict[str, Any]) -> List[str]:
    lines = ["## Sources", ""]
    for source in meta["sources"]:
        author = f", {source['author']}" if source.get("author") else ""
        lines.append(f"- {_link(source)}{author} — license: {source['license']}")
    return lines + [""]


def _training(meta: Dict[str, Any]) -> List[str]:
    custom = meta["multinerd"]
    sentences = f"; {custom['train_sentences']:,} training sentences" if "train_sentences" in custom else ""
    transformer = f", transformer `{custom['transformer']}`" if custom["transformer"] else ""
    return ["## Training", "",
            f"- Dataset: `{custom['dataset']}`; languages: {custom['langs']}{sentences}",
            f"- Config: `{custom['config']}`{transformer}",
            f"- Tokenization: {custom['tokenization']}", ""]


def license_text(meta: Dict[str, Any]) -> str:
    return (
        f"{_package(meta)} {meta['version']}: the trained pipeline (weights and data files)\n\n"
        f"License: {meta['license']}\n"
        + (f"{MODEL_LICENSE_URL}\n" if meta["license"] == MODEL_LICENSE else "")
        + "\nxx_multinerd pipelines are trained on MultiNERD (Babelscape,\n"
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


# ---------------------------------------------------------------------------------------------
# Command line


@app.command()
def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="Trained pipeline, e.g. training/trf/model-best"),
    output: Path = typer.Argument(..., help="Folder to write: a copy of MODEL with meta.json, README.md and LICENSE"),
    metrics: Optional[Path] = typer.Option(None, help="Folder with scores.json (spacy evaluate) and seqeval.json (scripts/evaluate.py); default metrics/<config>"),
    corpus: Path = typer.Option(Path("corpus"), help="Converted corpus; its report.json names the dataset and languages"),
    config: Optional[str] = typer.Option(None, help="Config trained with: cnn or trf (configs/<config>.cfg); default: trf if MODEL has a transformer, else cnn"),
    name: str = typer.Option("multinerd", help="Package name without the language (spaCy adds xx_)"),
    version: str = typer.Option("0.1.0", help="Package version"),
    transformer: Optional[str] = typer.Option(None, help="Transformer fine-tuned (trf); default: the one in MODEL's config"),
    dataset: Optional[str] = typer.Option(None, help="Dataset trained on; default: from the corpus report"),
    langs: Optional[str] = typer.Option(None, help="Languages filter trained with; default: from the corpus report"),
    license: str = typer.Option(MODEL_LICENSE, help="License of the weights"),
    author: str = typer.Option("", help="Author shown in the meta and card"),
    email: str = typer.Option("", help="Author email"),
    url: str = typer.Option("", help="Author or project URL"),
    copy_model: bool = typer.Option(True, "--copy-model/--no-copy-model", help="Copy MODEL into OUTPUT (for spacy package); else only write meta.json and README.md"),
):
    model_meta = read_json(model / "meta.json")
    if model_meta is None:
        fail(f"{model} has no meta.json: is it a trained spaCy pipeline?")
    has_transformer = "transformer" in model_meta["pipeline"]
    config = config or ("trf" if has_transformer else "cnn")
    metrics = metrics or Path("metrics") / config
    scores = read_json(metrics / "scores.json")
    seqeval = read_json(metrics / "seqeval.json")
    report = read_json(corpus / "report.json")
    if scores is None:
        msg.warn(f"No {metrics / 'scores.json'} (spacy evaluate): the meta and card will lack spaCy's test scores.")
    if seqeval is None:
        msg.warn(f"No {metrics / 'seqeval.json'} (scripts/evaluate.py): the meta and card will lack seqeval's scores.")
    if report is None:
        msg.warn(f"No {corpus / 'report.json'}: dataset and languages come from the options only.")
    if has_transformer:
        transformer = transformer or model_transformer(model)
    meta = build_meta(
        model_meta, name=name, version=version, config=config, scores=scores, seqeval=seqeval, report=report,
        transformer=transformer, dataset=dataset, langs=langs, license=license, author=author, email=email, url=url,
    )
    if copy_model:
        _fresh_copy(model, output)
        (output / "LICENSE").write_text(license_text(meta), encoding="utf8")
        (output / "LICENSES_SOURCES").write_text(sources_text(meta), encoding="utf8")
    else:
        output.mkdir(parents=True, exist_ok=True)
    (output / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
    (output / "README.md").write_text(build_readme(meta), encoding="utf8")
    msg.good(f"Wrote {output / 'meta.json'} and the model card {output / 'README.md'}"
             + (f" into a copy of {model}" if copy_model else ""))


def _fresh_copy(model: Path, output: Path) -> None:
    """Replace OUTPUT by a copy of MODEL; refuse to delete a folder this script didn't write."""
    if output.resolve() == model.resolve() or model.resolve() in output.resolve().parents:
        fail(f"OUTPUT ({output}) must not be MODEL or inside it: the trained pipeline stays untouched.")
    if output.exists():
        if any(output.iterdir()) and not (output / MARKER).exists():
            fail(f"{output} exists and was not written by this script: remove it or choose another OUTPUT.")
        shutil.rmtree(output)
    shutil.copytree(model, output)
    (output / MARKER).write_text("written by scripts/package_meta.py; replaced on every run\n", encoding="utf8")


if __name__ == "__main__":
    app()
