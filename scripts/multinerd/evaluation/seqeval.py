"""Entity scores with seqeval, word by word, as the Hugging Face token-classification recipe
computes them: BIO tag sequences of the gold and the predicted words go to seqeval's
`classification_report` (precision, recall, F1 per type and micro-averaged over all entities)
and `accuracy_score` (the share of words whose tag is right).

Everything is computed twice: in seqeval's default mode (conlleval's lenient chunking: an `I-X`
after `O` or after another type starts an entity) and in strict mode with the IOB2 scheme (an
entity must start with `B-X`). Tags taken from spaCy docs are always well-formed IOB2 (spaCy
refuses an `I` without a `B`), so the two modes agree on them; they differ on raw sequences.

Pure functions, no I/O. Scores are plain floats in [0, 1]; supports are gold entity counts.
With no entity at all in gold or prediction, precision, recall and F1 are 0 (seqeval's
`zero_division`), as in the recipe.
"""

import sys
import warnings
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

from seqeval.metrics import accuracy_score, classification_report
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support as default_prfs
from seqeval.metrics.v1 import precision_recall_fscore_support as strict_prfs
from seqeval.scheme import IOB2
from spacy.tokens import Doc
from wasabi import MarkdownRenderer

# Settings passed to seqeval for each mode, by the name used in the scores.
MODES: Dict[str, dict] = {
    "default": {},
    "strict": {"mode": "strict", "scheme": IOB2},
}
_AVERAGES = ("micro avg", "macro avg", "weighted avg")

Tags = List[str]
# Gold and predicted tag sequences of one language: (gold sentences, predicted sentences).
Sequences = Tuple[List[Tags], List[Tags]]


def doc_tags(doc: Doc) -> Tags:
    """The IOB2 tags of a doc's words from `doc.ents` ("B-PER", "I-PER", "O"); words whose
    entity annotation is missing count as "O". The tag strings are interned, so millions of
    tags cost a pointer each."""
    tags = ["O"] * len(doc)
    for ent in doc.ents:
        inside = sys.intern("I-" + ent.label_)
        tags[ent.start] = sys.intern("B-" + ent.label_)
        tags[ent.start + 1 : ent.end] = [inside] * (len(ent) - 1)
    return tags


def unannotated(vocab, gold: Doc) -> Doc:
    """A Doc of the gold doc's words and spaces and nothing else, for a pipeline to annotate: both
    sides then have the same tokens."""
    return Doc(vocab, words=[t.text for t in gold], spaces=[bool(t.whitespace_) for t in gold])


def pair_tags(gold: Doc, predicted: Doc) -> Tuple[Tags, Tags]:
    """The gold and predicted tags of one sentence; the two docs must have the same words."""
    if len(gold) != len(predicted) or gold.text != predicted.text:
        raise ValueError(
            f"Gold and predicted docs differ in their words ({len(gold)} vs {len(predicted)} tokens): "
            f"{gold.text[:60]!r} vs {predicted.text[:60]!r}"
        )
    return doc_tags(gold), doc_tags(predicted)


def collect(examples: Iterable[Tuple[str, Doc, Doc]]) -> Dict[str, Sequences]:
    """(language, gold doc, predicted doc) triples -> per language, the gold and predicted
    tag sequences. Only the tags are kept, not the docs, so the examples may stream."""
    by_lang: Dict[str, Sequences] = {}
    for lang, gold, predicted in examples:
        add_tags(by_lang, lang, *pair_tags(gold, predicted))
    return by_lang


def add_tags(by_lang: Dict[str, Sequences], lang: str, gold: Sequence[str], predicted: Sequence[str]) -> None:
    """Add one sentence's gold and predicted tags to `by_lang` (see `collect`)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold tags but {len(predicted)} predicted tags ({lang})")
    if lang not in by_lang:
        by_lang[lang] = ([], [])
    by_lang[lang][0].append(list(gold))  # seqeval's default mode only splits lists of *lists*
    by_lang[lang][1].append(list(predicted))


def _report(gold: List[Tags], predicted: List[Tags], settings: dict) -> Dict[str, dict]:
    """seqeval's classification report, with Python numbers and "f1" for "f1-score"."""
    with warnings.catch_warnings():
        # No entities at all: seqeval's macro average takes the mean of an empty array.
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(gold, predicted, output_dict=True, zero_division=0, **settings)
    return {
        name: _row(scores["precision"], scores["recall"], scores["f1-score"], scores["support"])
        for name, scores in report.items()
    }


def _row(precision, recall, f1, support) -> dict:
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(support)}


def micro_scores(gold: List[Tags], predicted: List[Tags], mode: str = "default") -> dict:
    """Micro-averaged precision, recall, F1, support and accuracy of tag sequences in one of
    MODES: the "micro avg" row of seqeval's classification report, from the function the report
    computes it with, at a fraction of the report's cost."""
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("Gold and predicted tag sequences differ in length")
    settings = MODES[mode]
    if settings.get("mode") == "strict":
        prfs = partial(strict_prfs, scheme=settings["scheme"])
    else:
        prfs = default_prfs
    return {
        **_row(*prfs(gold, predicted, average="micro", zero_division=0)),
        "accuracy": float(accuracy_score(gold, predicted)),
    }


def score_tags(by_lang: Mapping[str, Sequences]) -> Dict:
    """Scores of per-language gold and predicted tag sequences (see `collect`):

        {"seqeval": version, "sentences": n, "tokens": n,
         "languages": {lang: {"sentences": n, "tokens": n}},
         "default": {"overall": {"precision", "recall", "f1", "accuracy", "support"},
                     "per_type": {type: {"precision", "recall", "f1", "support"}},
                     "per_language": {lang: {"precision", "recall", "f1", "accuracy", "support"}}},
         "strict": {same keys as "default"}}

    "overall" pools the sentences of all languages (micro average over all entities).
    """
    langs = sorted(lang for lang, (gold, _) in by_lang.items() if gold)
    if not langs:
        raise ValueError("No sentences to score")
    for lang in langs:
        gold, predicted = by_lang[lang]
        if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
            raise ValueError(f"Gold and predicted tag sequences of {lang} differ in length")
    all_gold = [tags for lang in langs for tags in by_lang[lang][0]]
    all_predicted = [tags for lang in langs for tags in by_lang[lang][1]]
    languages = {
        lang: {"sentences": len(by_lang[lang][0]), "tokens": sum(map(len, by_lang[lang][0]))} for lang in langs
    }
    scores: Dict = {
        "seqeval": _seqeval_version(),
        "sentences": len(all_gold),
        "tokens": sum(counts["tokens"] for counts in languages.values()),
        "languages": languages,
    }
    for mode, settings in MODES.items():
        report = _report(all_gold, all_predicted, settings)
        overall = {**report["micro avg"], "accuracy": float(accuracy_score(all_gold, all_predicted))}
        per_type = {name: row for name, row in sorted(report.items()) if name not in _AVERAGES}
        per_language = {lang: micro_scores(*by_lang[lang], mode) for lang in langs}
        scores[mode] = {"overall": overall, "per_type": per_type, "per_language": per_language}
    return scores


def score_docs(examples: Iterable[Tuple[str, Doc, Doc]]) -> Dict:
    """Scores of (language, gold doc, predicted doc) triples: `score_tags(collect(examples))`."""
    return score_tags(collect(examples))


def _seqeval_version() -> str:
    try:
        return version("seqeval")
    except PackageNotFoundError:  # pragma: no cover - installed without metadata
        return "unknown"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _support(default: dict, strict: dict) -> str:
    """Gold entities; strict mode can count fewer on ill-formed gold (an I-X without B-X)."""
    if default["support"] == strict["support"]:
        return str(default["support"])
    return f"{default['support']} / {strict['support']}"


def render_markdown(scores: Dict, level: int = 1) -> str:
    """The scores as Markdown (wasabi's MarkdownRenderer): overall by mode, per entity type, per
    language, in %; the title at heading `level`, its sections one level below."""
    default, strict = scores["default"], scores["strict"]
    md = MarkdownRenderer()
    md.add(md.title(level, "seqeval scores"))
    md.add(
        f"{scores['sentences']:,} sentences, {scores['tokens']:,} words, {len(scores['languages'])} languages; "
        f"seqeval {scores['seqeval']}, word-level BIO tags. Scores in %. *default*: seqeval's default "
        '(conlleval) mode; *strict*: `mode="strict", scheme=IOB2`. Support: gold entities '
        "(default / strict where they differ). Accuracy is per word and the same in both modes."
    )
    md.add(md.title(level + 1, "Overall"))
    rows = [
        (mode, _pct(o["precision"]), _pct(o["recall"]), _pct(o["f1"]), _pct(o["accuracy"]), str(o["support"]))
        for mode, o in ((mode, scores[mode]["overall"]) for mode in MODES)
    ]
    md.add(md.table(rows, ("mode", "precision", "recall", "F1", "accuracy", "support"), "lrrrrr"))
    md.add(md.title(level + 1, "Per entity type"))
    empty = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    rows = []
    for name in sorted(set(default["per_type"]) | set(strict["per_type"])):
        d, s = default["per_type"].get(name, empty), strict["per_type"].get(name, empty)
        rows.append((name, _support(d, s), *_prf(d), *_prf(s)))
    md.add(md.table(rows, ("type", "support", "P", "R", "F1", "P strict", "R strict", "F1 strict"), "lrrrrrrr"))
    md.add(md.title(level + 1, "Per language"))
    rows = []
    for lang, counts in scores["languages"].items():
        d, s = default["per_language"][lang], strict["per_language"][lang]
        rows.append(
            (
                lang,
                f"{counts['sentences']:,}",
                f"{counts['tokens']:,}",
                _support(d, s),
                *_prf(d),
                *_prf(s),
                _pct(d["accuracy"]),
            )
        )
    header = ("lang", "sentences", "words", "support", "P", "R", "F1", "P strict", "R strict", "F1 strict", "accuracy")
    md.add(md.table(rows, header, "lrrrrrrrrrr"))
    return md.text + "\n"


def _prf(row: dict) -> Tuple[str, str, str]:
    return _pct(row["precision"]), _pct(row["recall"]), _pct(row["f1"])
