"""What both sides of the GPU benchmark run on: sentences shaped like MultiNERD's, generated, and
an encoder of a fixed shape with random weights and a WordPiece vocabulary trained on those
sentences, saved as one model folder that both sides load.

Speed and memory depend on the sentences' lengths, the word pieces per word and the model's
shape, not on the weights' values or on what the words mean. The sentences' lengths follow
MultiNERD's (a log-normal fitted to WikiNEuRal's validation sentences, whose Wikipedia
sentences MultiNERD shares); their words come from benchmarks/conversion's generator, which
builds each language's vocabulary from the product's bundled sample and grows it with syllables
as real text grows, so that a WordPiece trained on them splits the rarer words as mBERT's does.
"""

import math
from enum import Enum
from pathlib import Path
from typing import Dict, List

import numpy
import peers  # noqa: F401 (benchmarks/conversion's generator, imported below)
from generate_corpus import SAMPLE, SPLIT_FOLDERS, LanguageModel, allocate, read_sample

from multinerd_dev.tiny_bert import MBERT_SHAPE

# log(words per sentence) in WikiNEuRal's validation files (de, en, es, fr, it; 57,110 sentences:
# mean 23.2 words, median 21, 1% over 65, longest 210).
LOG_LENGTH_MEAN = 3.020
LOG_LENGTH_SD = 0.508
MAX_LENGTH = 210
TEMPLATES_PER_LANGUAGE = 2_000


class Shape(str, Enum):
    """The encoder's shape: mBERT's (bert-base-multilingual-cased), or a tiny one for CPU runs."""

    mbert = "mbert"
    tiny = "tiny"


SHAPES: Dict[Shape, Dict[str, int]] = {
    Shape.mbert: MBERT_SHAPE,
    Shape.tiny: {"vocab_size": 4_000, "hidden_size": 32, "layers": 2, "heads": 2, "intermediate_size": 64},
}


def sentence_lengths(n: int, rng: numpy.random.Generator) -> List[int]:
    """`n` sentence lengths in words, drawn as MultiNERD's are distributed."""
    lengths = numpy.rint(rng.lognormal(LOG_LENGTH_MEAN, LOG_LENGTH_SD, size=n))
    return numpy.clip(lengths, 1, MAX_LENGTH).astype(int).tolist()


def templates(rows: List[dict], lengths: List[int], rng: numpy.random.Generator) -> List[dict]:
    """Rows of the given lengths whose tag sequences are runs of the sample's own sentences,
    joined and cut to length (so entities keep the sample's types, lengths and density)."""
    out = []
    for length in lengths:
        tokens, tags = [], []
        while len(tokens) < length:
            row = rows[int(rng.integers(len(rows)))]
            tokens += row["tokens"]
            tags += row["ner_tags"]
        out.append({"tokens": tokens[:length], "ner_tags": tags[:length]})
    return out


def generate(output: Path, sentences: int, vocab_words: int, seed: int = 0, sample: Path = SAMPLE) -> Path:
    """About `sentences` generated sentences in MultiNERD's layout (output/train/train_<lang>.jsonl),
    shared among the sample's languages as the sample shares them; `vocab_words` words per
    language for O tokens (a tenth of that per entity type). Returns `output`."""
    data = read_sample(sample)
    langs = sorted({lang for _, lang in data})
    rows = {lang: [row for folder in SPLIT_FOLDERS for row in data.get((folder, lang), [])] for lang in langs}
    counts = allocate(sentences, {lang: len(rows[lang]) for lang in langs})
    rng = numpy.random.default_rng(seed)
    for lang in langs:
        if counts[lang]:
            shaped = templates(rows[lang], sentence_lengths(TEMPLATES_PER_LANGUAGE, rng), rng)
            model = LanguageModel(shaped, lang, vocab_words, 1.0, seed)
            model.write(output / "train" / f"train_{lang}.jsonl", counts[lang], seed)
    return output


def matrix_parameters(model: Path) -> int:
    """Parameters of the encoder's layers (`encoder.*`): the ones each word piece multiplies
    through. Embeddings are looked up, not multiplied; the pooler runs on one piece a sentence."""
    from safetensors import safe_open

    with safe_open(str(model / "model.safetensors"), "np") as weights:
        shapes = [weights.get_slice(key).get_shape() for key in weights.keys() if key.startswith("encoder.")]
    return sum(math.prod(shape) for shape in shapes)
