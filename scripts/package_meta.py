"""Prepare a trained pipeline for `spacy package`: its meta.json and its model card.

    python scripts/package_meta.py training/trf/model-best packages/model --metrics metrics/trf \
        --corpus corpus --config trf --name multinerd --version 0.1.0
    python -m spacy package packages/model packages --name multinerd --version 0.1.0 \
        --meta-path packages/model/meta.json --code scripts/multinerd/tokenizer.py --build sdist,wheel --force

OUTPUT becomes a copy of the trained pipeline with
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
from typing import Any, Dict, List, Optional, Tuple

import typer
from wasabi import msg

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
MARKER = ".package_meta"  # marks OUTPUT as written by this script (dot files stay out of the wheel)
UNKNOWN_LICENSE = "see the model's card"
# Licenses of well-known hub models (their model cards), without asking the hub.
KNOWN_TRANSFORMER_LICENSES = {
    "bert-base-multilingual-cased": "Apache-2.0",
    "bert-base-multilingual-uncased": "Apache-2.0",
    "distilbert-base-multilingual-cased": "Apache-2.0",
    "xlm-roberta-base": "MIT",
    "xlm-roberta-large": "MIT",
}
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
SEQEVAL_MODES = ("default", "strict")


# ---------------------------------------------------------------------------------------------
# Inputs


def read_json(path: Optional[Path]) -> Optional[Dict[str, Any]]:
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf8"))


def spacy_performance(scores: Dict[str, Any]) -> Dict[str, Any]:
    """The NER figures of `spacy evaluate --output` (0-1)."""
    keep = ("ents_p", "ents_r", "ents_f", "ents_per_type", "speed")
    return {key: scores[key] for key in keep if key in scores}


_METRIC_KEYS = {
    "p": ("precision", "p"),
    "r": ("recall", "r"),
    "f": ("f1", "f1-score", "f1_score", "f", "f_score", "fscore"),
    "support": ("support", "n", "count", "true_entities", "gold"),
    "accuracy": ("accuracy", "acc"),
}
_SECTION_KEYS = {
    "overall": ("overall", "total", "micro", "micro avg", "all"),
    "per_type": ("per_type", "types", "by_type", "type", "entities", "labels", "per_label"),
    "per_language": ("per_language", "languages", "by_language", "language", "langs", "per_lang"),
}


def _metrics(value: Any) -> Optional[Dict[str, float]]:
    """{p, r, f, support} from a dict of scores under any of the usual names."""
    if not isinstance(value, dict):
        return None
    lowered = {str(key).lower(): val for key, val in value.items()}
    out = {}
    for name, keys in _METRIC_KEYS.items():
        for key in keys:
            if isinstance(lowered.get(key), (int, float)):
                out[name] = lowered[key]
                break
    if "f" in out:
        return out
    for section in _SECTION_KEYS["overall"]:  # a language's entry may itself hold "overall"
        if section in lowered:
            return _metrics(lowered[section])
    return None


def _section(data: Dict[str, Any], name: str) -> Any:
    lowered = {str(key).lower(): val for key, val in data.items()}
    for key in _SECTION_KEYS[name]:
        if key in lowered:
            return lowered[key]
    return None


def _one_mode(data: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"overall": _metrics(_section(data, "overall")) or _metrics(data)}
    for name in ("per_type", "per_language"):
        table = _section(data, name)
        rows = {}
        if isinstance(table, dict):
            for key, value in table.items():
                metrics = _metrics(value)
                if metrics is not None:
                    rows[str(key)] = metrics
        out[name] = rows
    return out


def seqeval_performance(data: Dict[str, Any]) -> Dict[str, Any]:
    """seqeval.json (scripts/evaluate.py, schema: multinerd.scoring.score_tags) ->
    {mode: {overall, per_type, per_language}, version, sentences, tokens, languages}, scores 0-1
    as {p, r, f, support, accuracy}.

    Besides score_tags' layout {mode: {section: ...}} it reads {section: {mode: ...}} and a single
    mode ({section: ...}, taken as "default"); scores named precision/recall/f1(-score)/support or
    p/r/f/n; percentages are turned into fractions.
    """
    lowered = {str(key).lower(): val for key, val in data.items()}
    modes = {mode: lowered[mode] for mode in SEQEVAL_MODES if isinstance(lowered.get(mode), dict)}
    if modes:
        result = {mode: _one_mode(value) for mode, value in modes.items()}
    else:
        # Sections first, each split by mode?
        by_mode: Dict[str, Dict[str, Any]] = {}
        for name in _SECTION_KEYS:
            section = _section(data, name)
            if isinstance(section, dict) and any(mode in section for mode in SEQEVAL_MODES):
                for mode in SEQEVAL_MODES:
                    if mode in section:
                        by_mode.setdefault(mode, {})[name] = section[mode]
        result = {mode: _one_mode(value) for mode, value in by_mode.items()} if by_mode else {"default": _one_mode(data)}
    # Percentages -> fractions, so that every figure in meta.json is 0-1 as spaCy's are.
    values = [m[k] for res in result.values() for m in _all_metrics(res) for k in ("p", "r", "f") if k in m]
    if values and max(values) > 1.0:
        for res in result.values():
            for metrics in _all_metrics(res):
                for key in ("p", "r", "f"):
                    if key in metrics:
                        metrics[key] = metrics[key] / 100.0
    extra: Dict[str, Any] = {}
    if isinstance(data.get("seqeval"), str):
        extra["version"] = data["seqeval"]
    for key in ("sentences", "tokens"):
        if isinstance(data.get(key), int):
            extra[key] = data[key]
    if isinstance(data.get("languages"), dict) and all(isinstance(v, dict) for v in data["languages"].values()):
        extra["languages"] = data["languages"]  # {lang: {sentences, tokens}}
    return {**result, **extra}


def seqeval_modes(seqeval: Dict[str, Any]) -> List[str]:
    """The scoring modes in a normalized seqeval block, default and strict first."""
    found = [key for key, value in seqeval.items() if isinstance(value, dict) and "overall" in value]
    return [mode for mode in SEQEVAL_MODES if mode in found] + [mode for mode in found if mode not in SEQEVAL_MODES]


def _all_metrics(mode: Dict[str, Any]) -> List[Dict[str, float]]:
    found = [mode["overall"]] if mode.get("overall") else []
    for name in ("per_type", "per_language"):
        found.extend(mode.get(name, {}).values())
    return found


def transformer_source(name: str) -> Dict[str, str]:
    """{name, url?, license} of the transformer the pipeline was fine-tuned from."""
    short = name.split("/")[-1] if name.startswith(("google-bert/", "FacebookAI/", "distilbert/")) else name
    if short in KNOWN_TRANSFORMER_LICENSES:
        return {"name": name, "url": f"https://huggingface.co/{name}", "license": KNOWN_TRANSFORMER_LICENSES[short]}
    path = Path(name)
    if path.is_dir():
        origin = _local_model_name(path)
        found = _license_in(path / "config.json", path / "README.md")
        if found == UNKNOWN_LICENSE and origin:
            found = KNOWN_TRANSFORMER_LICENSES.get(origin.split("/")[-1], found)
        return {"name": f"{origin} (local copy: {path})" if origin else name, "license": found}
    files = []
    try:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("config.json", "README.md"):
            cached = try_to_load_from_cache(name, filename)
            if isinstance(cached, str):
                files.append(Path(cached))
    except Exception:  # no hub client or an invalid id: the license stays unknown
        pass
    return {"name": name, "url": f"https://huggingface.co/{name}", "license": _license_in(*files)}


def _local_model_name(path: Path) -> Optional[str]:
    """The hub name a local copy was saved from, where its config records one."""
    config = read_json(path / "config.json") or {}
    origin = config.get("_name_or_path")
    if isinstance(origin, str) and origin and not Path(origin).is_absolute() and not origin.startswith("."):
        return origin
    return None


def _license_in(*files: Path) -> str:
    """A `license` in a config.json, or in a model card's YAML header; else UNKNOWN_LICENSE."""
    for file in files:
        if not file.is_file():
            continue
        text = file.read_text(encoding="utf8", errors="replace")
        if file.suffix == ".json":
            try:
                value = json.loads(text).get("license")
            except (ValueError, AttributeError):
                value = None
            if isinstance(value, str) and value.strip():
                return value.strip()
        else:
            header = re.match(r"---\s*\n(.*?)\n---", text, re.S)
            if header:
                found = re.search(r"^license:\s*['\"]?([^'\"\n]+?)['\"]?\s*$", header.group(1), re.M)
                if found:
                    return found.group(1).strip()
    return UNKNOWN_LICENSE


def model_transformer(model: Path) -> Optional[str]:
    """The transformer name or folder in the trained pipeline's config, if it has one."""
    config_path = model / "config.cfg"
    if not config_path.exists():
        return None
    from confection import Config

    config = Config().from_disk(config_path, interpolate=False)
    try:
        return config["components"]["transformer"]["model"]["name"]
    except KeyError:
        return None


# ---------------------------------------------------------------------------------------------
# meta.json


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
    meta = dict(model_meta)
    report = report or {}
    dataset = dataset or report.get("source") or "unknown"
    if langs is None:
        langs = ",".join(report["langs"]) if report.get("langs") else "all"
    languages = trained_languages(report, langs)
    pipeline = list(meta.get("pipeline") or [])
    uses_transformer = transformer is not None or "transformer" in pipeline
    if uses_transformer and not transformer:
        transformer = "unknown transformer"
    meta.update({"lang": "xx", "name": name, "version": version, "license": license})
    for key, value in (("author", author), ("email", email), ("url", url)):
        if value or key not in meta:
            meta[key] = value
    meta["description"] = describe(languages, dataset, config, transformer)
    sources = [dict(MULTINERD)]
    if is_bundled_sample(dataset):
        sources.append({
            "name": "xx_multinerd's bundled sample (hand-written, MultiNERD's format)",
            "url": "",
            "author": "The xx_multinerd developers",
            "license": "MIT",
        })
    if uses_transformer:
        sources.append(transformer_source(transformer))
    meta["sources"] = [{key: str(value) for key, value in source.items()} for source in sources]
    labels = dict(meta.get("labels") or {})
    labels.setdefault("ner", list(ENTITY_TYPES))
    meta["labels"] = labels
    dev_scores = {key: value for key, value in (meta.get("performance") or {}).items()
                  if key in ("ents_p", "ents_r", "ents_f")}
    performance: Dict[str, Any] = {}
    if scores:
        performance.update(spacy_performance(scores))
    if seqeval:
        performance["seqeval"] = seqeval_performance(seqeval)
    meta["performance"] = performance
    custom: Dict[str, Any] = {
        "dataset": dataset,
        "langs": langs,
        "languages": languages,
        "config": f"configs/{config}.cfg",
        "transformer": transformer if uses_transformer else None,
        "tokenization": "spaCy's xx rules, CJK characters cut into single tokens (xx_multinerd.CJKCharTokenizer.v1)",
        "evaluated_on": "test split" if (scores or seqeval) else None,
    }
    train = (report.get("splits") or {}).get("train") or {}
    if train:
        custom["train_sentences"] = train.get("sentences")
    if "seed" in report:
        custom["seed"] = report["seed"]
    if dev_scores:
        custom["dev_sample_scores"] = dev_scores
    meta["multinerd"] = custom
    return meta


def trained_languages(report: Dict[str, Any], langs: str) -> List[str]:
    found = list(((report.get("splits") or {}).get("train") or {}).get("languages") or {})
    if found:
        return sorted(found, key=lambda lang: (LANGUAGES + (lang,)).index(lang))
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
# Model card


def _pct(value: Any) -> str:
    return f"{value * 100:.2f}" if isinstance(value, (int, float)) else "–"


def _support(metrics: Optional[Dict[str, Any]]) -> str:
    value = (metrics or {}).get("support")
    return f"{int(value):,}" if isinstance(value, (int, float)) else "–"


def _table(header: Tuple[str, ...], rows: List[Tuple[str, ...]], aligns: str) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(":---" if align == "l" else "---:" for align in aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def build_readme(meta: Dict[str, Any]) -> str:
    package = f"{meta['lang']}_{meta['name']}"
    version = meta["version"]
    custom = meta.get("multinerd") or {}
    performance = meta.get("performance") or {}
    seqeval = performance.get("seqeval") or {}
    modes = seqeval_modes(seqeval)
    languages = custom.get("languages") or list(LANGUAGES)
    out: List[str] = [f"# {package}", "", meta.get("description", ""), ""]

    sources = meta.get("sources") or []
    source_text = "<br>".join(
        (f"[{s['name']}]({s['url']})" if s.get("url") else s["name"])
        + (f" ({s['author']})" if s.get("author") else "") + (f", license: {s['license']}" if s.get("license") else "")
        for s in sources
    )
    features = [
        ("**Name**", f"`{package}`"),
        ("**Version**", f"`{version}`"),
        ("**spaCy**", f"`{meta.get('spacy_version', '')}`"),
        ("**Pipeline**", ", ".join(f"`{p}`" for p in meta.get("pipeline", []))),
        ("**Languages**", ", ".join(f"`{lang}`" for lang in languages)),
        ("**Entity types**", ", ".join(f"`{label}`" for label in ENTITY_TYPES)),
        ("**Trained on**", f"`{custom.get('dataset', 'unknown')}` (languages: {custom.get('langs', 'all')})"),
        ("**Config**", f"`{custom.get('config', '')}`"),
    ]
    if custom.get("transformer"):
        features.append(("**Transformer**", f"`{custom['transformer']}`"))
    features += [("**Sources**", source_text or "n/a"), ("**License**", f"`{meta.get('license', '')}`")]
    if meta.get("author"):
        features.append(("**Author**", f"[{meta['author']}]({meta['url']})" if meta.get("url") else meta["author"]))
    out += [_table(("Feature", "Description"), features, "ll"), ""]

    out += ["## Usage", "",
            "Install the wheel that `spacy project run package` builds (the package needs spaCy"
            + (" and spacy-transformers" if "transformer" in meta.get("pipeline", []) else "")
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

    out += ["## Label scheme", "",
            _table(("Label", "Meaning"), [(f"`{label}`", TYPE_NAMES[label]) for label in ENTITY_TYPES], "ll"), ""]

    out += ["## Accuracy", ""]
    if not performance:
        out += ["No test scores were found when this package was built (run `spacy project run evaluate`).", ""]
    else:
        out += [f"Scores on the {custom.get('evaluated_on') or 'test split'} of `{custom.get('dataset', '')}`, in %. "
                "spaCy: exact entity spans (`spacy evaluate`). seqeval: word-level BIO tags "
                "(default mode, and strict mode, which counts an entity only when its tags are well formed).", ""]
        out += ["### Overall", ""]
        rows = []
        if "ents_f" in performance:
            rows.append(("spaCy", _pct(performance.get("ents_p")), _pct(performance.get("ents_r")),
                         _pct(performance.get("ents_f")), "–"))
        for mode in modes:
            overall = seqeval[mode].get("overall") or {}
            rows.append((f"seqeval ({mode})", _pct(overall.get("p")), _pct(overall.get("r")), _pct(overall.get("f")),
                         _support(overall)))
        out += [_table(("Scorer", "P", "R", "F", "Support"), rows, "lrrrr"), ""]

        out += ["### Per entity type", ""]
        per_type = performance.get("ents_per_type") or {}
        header: Tuple[str, ...] = ("Type",)
        if per_type:
            header += ("spaCy P", "spaCy R", "spaCy F")
        header += tuple(f"seqeval F ({mode})" for mode in modes)
        if modes:
            header += ("Support",)
        rows = []
        for label in ENTITY_TYPES:
            row: Tuple[str, ...] = (f"`{label}`",)
            if per_type:
                scores = per_type.get(label) or {}
                row += (_pct(scores.get("p")), _pct(scores.get("r")), _pct(scores.get("f")))
            row += tuple(_pct((seqeval[mode]["per_type"].get(label) or {}).get("f")) for mode in modes)
            if modes:
                row += (_support(seqeval[modes[0]]["per_type"].get(label)),)
            rows.append(row)
        out += [_table(header, rows, "l" + "r" * (len(header) - 1)), ""]

        out += ["### Per language", ""]
        if modes:
            counts = seqeval.get("languages") or {}
            header = ("Language", "Sentences", "Support", "P", "R") + tuple(f"F ({mode})" for mode in modes)
            rows = []
            seen = seqeval[modes[0]].get("per_language") or {}
            order = [lang for lang in LANGUAGES if lang in seen] + [lang for lang in seen if lang not in LANGUAGES]
            for lang in order:
                first = seen[lang]
                sentences = (counts.get(lang) or {}).get("sentences")
                row = (f"{LANGUAGE_NAMES.get(lang, lang)} (`{lang}`)",
                       f"{sentences:,}" if isinstance(sentences, int) else "–", _support(first),
                       _pct(first.get("p")), _pct(first.get("r")))
                row += tuple(_pct((seqeval[mode].get("per_language", {}).get(lang) or {}).get("f")) for mode in modes)
                rows.append(row)
            out += [f"seqeval, word-level; P and R in the {modes[0]} mode; support: gold entities.", "",
                    _table(header, rows, "l" + "r" * (len(header) - 1)), ""]
        else:
            out += ["No per-language scores were found (scripts/evaluate.py writes them to seqeval.json).", ""]

    out += ["## License", "",
            f"The pipeline's weights are licensed under **{meta.get('license', '')}**"
            + (f" ({MODEL_LICENSE_URL})" if meta.get("license") == MODEL_LICENSE else "")
            + ": pipelines trained on MultiNERD (Babelscape) derive from it, and MultiNERD is "
            "CC BY-NC-SA 4.0 — attribution, non-commercial use only, derivatives under the same license.", ""]
    if is_bundled_sample(str(custom.get("dataset", ""))):
        out += ["This build was trained on the project's hand-written sample (MIT), not on MultiNERD; it "
                "carries the same license as the builds trained on MultiNERD, so that the terms don't depend on "
                "the build.", ""]
    if custom.get("transformer"):
        transformer = next((s for s in sources if s["name"] != MULTINERD["name"] and "bundled" not in s["name"]), None)
        if transformer:
            found = transformer.get("license") or UNKNOWN_LICENSE
            out += [f"The transformer it was fine-tuned from, `{transformer['name']}`, "
                    + (f"is licensed under {found}." if found != UNKNOWN_LICENSE else f"has its own license: {found}."), ""]
    out += ["The code that builds it (the xx_multinerd spaCy project) is MIT-licensed.", ""]
    out += ["## Sources", ""]
    for source in sources:
        line = f"- [{source['name']}]({source['url']})" if source.get("url") else f"- {source['name']}"
        if source.get("author"):
            line += f", {source['author']}"
        line += f" — license: {source.get('license') or UNKNOWN_LICENSE}"
        out.append(line)
    out.append("")
    out += ["## Training", "",
            f"- Dataset: `{custom.get('dataset', 'unknown')}`; languages: {custom.get('langs', 'all')}"
            + (f"; {custom['train_sentences']:,} training sentences" if isinstance(custom.get("train_sentences"), int) else ""),
            f"- Config: `{custom.get('config', '')}`" + (f", transformer `{custom['transformer']}`" if custom.get("transformer") else ""),
            f"- Tokenization: {custom.get('tokenization', '')}", ""]
    return "\n".join(out)


def license_text(meta: Dict[str, Any]) -> str:
    return (
        f"{meta['lang']}_{meta['name']} {meta['version']}: the trained pipeline (weights and data files)\n\n"
        f"License: {meta.get('license', '')}\n"
        + (f"{MODEL_LICENSE_URL}\n" if meta.get("license") == MODEL_LICENSE else "")
        + "\nxx_multinerd pipelines are trained on MultiNERD (Babelscape,\n"
        "https://huggingface.co/datasets/Babelscape/multinerd), licensed CC BY-NC-SA 4.0: use them with\n"
        "attribution, for non-commercial purposes only, and share derivatives under the same license.\n"
        "The sources of this build and their licenses are listed in LICENSES_SOURCES.\n"
    )


def sources_text(meta: Dict[str, Any]) -> str:
    blocks = []
    for source in meta.get("sources") or []:
        lines = [source["name"]]
        for key in ("author", "url", "license"):
            if source.get(key):
                lines.append(f"{key}: {source[key]}")
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
        msg.fail(f"{model} has no meta.json: is it a trained spaCy pipeline?", exits=1)
    if config is None:
        config = "trf" if "transformer" in (model_meta.get("pipeline") or []) else "cnn"
    metrics = metrics or Path("metrics") / config
    scores = read_json(metrics / "scores.json")
    seqeval = read_json(metrics / "seqeval.json")
    if scores is None:
        msg.warn(f"No {metrics / 'scores.json'} (spacy evaluate): the meta and card will lack spaCy's test scores.")
    if seqeval is None:
        msg.warn(f"No {metrics / 'seqeval.json'} (scripts/evaluate.py): the meta and card will lack seqeval's scores.")
    report = read_json(corpus / "report.json")
    if report is None:
        msg.warn(f"No {corpus / 'report.json'}: dataset and languages come from the options only.")
    if "transformer" in (model_meta.get("pipeline") or []):
        transformer = transformer or model_transformer(model)
    elif transformer:
        transformer = None  # a cnn pipeline: the project's transformer variable doesn't apply
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
        msg.fail(f"OUTPUT ({output}) must not be MODEL or inside it: the trained pipeline stays untouched.", exits=1)
    if output.exists():
        if any(output.iterdir()) and not (output / MARKER).exists():
            msg.fail(f"{output} exists and was not written by this script: remove it or choose another OUTPUT.", exits=1)
        shutil.rmtree(output)
    shutil.copytree(model, output)
    (output / MARKER).write_text("written by scripts/package_meta.py; replaced on every run\n", encoding="utf8")


if __name__ == "__main__":
    app()
