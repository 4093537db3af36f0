"""Generate a synthetic MultiNERD-shaped corpus for scale tests (not for training: the text is noise).

Writes hub-layout JSONL (`train/train_<lang>.jsonl`, `val/val_<lang>.jsonl`, `test/test_<lang>.jsonl`,
rows `{"tokens": [...], "ner_tags": [ids], "lang": ...}`) with statistics taken from the bundled
sample (the project's assets/multinerd_sample), seeded:

- per-language proportions of each split: the sample's;
- sentence lengths and tag sequences (entity types, entity lengths, their positions): each sentence
  copies the tag sequence of a random sample sentence of its language;
- vocabulary: per language, a Zipf-distributed vocabulary for `O` tokens and one per entity type;
  the most frequent words are the sample's own (by their frequency there), the long tail is made of
  syllables cut from the sample's words (Chinese: words of 1-3 Han characters), so the number of
  distinct strings grows with the corpus as in real text (`--vocab-size` words per language).

    python scripts/generate_corpus.py /tmp/multinerd-synth --train 2680000 --eval-fraction 0.1

Default size: MultiNERD's 2,680,000 training sentences, plus 10% of that each for val and test.
A manifest (counts, settings, time) is written beside the output folder, not in it.
"""

import json
import multiprocessing
import os
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy
import srsly
import typer

REPO = Path(__file__).resolve().parents[3]  # the xx_multinerd project: benchmarks/conversion/scripts -> ../../..
SAMPLE = REPO / "assets" / "multinerd_sample"  # the product's bundled sample
SPLIT_FOLDERS = ("train", "val", "test")
N_TYPES = 15  # MultiNERD's entity types: ids 2k+1 (B) and 2k+2 (I) are type k

app = typer.Typer(add_completion=False)


def read_sample(sample: Path) -> Dict[Tuple[str, str], List[dict]]:
    """(split folder, lang) -> rows."""
    data = {}
    for folder in SPLIT_FOLDERS:
        for path in sorted((sample / folder).glob(f"{folder}_*.jsonl")):
            lang = path.stem.split("_", 1)[1]
            data[folder, lang] = list(srsly.read_jsonl(path))
    return data


def allocate(total: int, weights: Dict[str, int]) -> Dict[str, int]:
    """Split `total` in proportion to `weights` (largest remainder), so the parts sum to `total`."""
    whole = sum(weights.values())
    exact = {key: total * w / whole for key, w in weights.items()}
    counts = {key: int(x) for key, x in exact.items()}
    for key in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def zipf_cdf(n: int, exponent: float) -> numpy.ndarray:
    weights = 1.0 / numpy.arange(1, n + 1, dtype=numpy.float64) ** exponent
    cdf = numpy.cumsum(weights)
    return cdf / cdf[-1]


def kind_of(tag: int) -> int:
    """0 for O, 1 + type index for B-/I- of a type."""
    return 0 if tag == 0 else (tag - 1) // 2 + 1


class LanguageModel:
    """Templates (tag sequences) and per-kind Zipf vocabularies of one language."""

    def __init__(self, rows: List[dict], lang: str, vocab_size: int, exponent: float, seed: int):
        rng = numpy.random.default_rng([seed, zlib.crc32(lang.encode())])
        self.lang = lang
        self.templates = [row["ner_tags"] for row in rows]
        self.template_kinds = [numpy.array([kind_of(t) for t in tags], dtype=numpy.int8) for tags in self.templates]
        self.template_json = [json.dumps(tags) for tags in self.templates]
        heads = [Counter() for _ in range(N_TYPES + 1)]
        for row in rows:
            for token, tag in zip(row["tokens"], row["ner_tags"]):
                heads[kind_of(tag)][token] += 1
        words = [token for row in rows for token in row["tokens"]]
        make_tail = self._han_words if lang == "zh" else self._syllable_words
        self.vocab, self.cdf = [], []
        for kind, head in enumerate(heads):
            size = vocab_size if kind == 0 else max(1, vocab_size // 10)
            ranked = [token for token, _ in head.most_common()]
            tail = make_tail(words, max(0, size - len(ranked)), set(ranked), rng, capitalize=kind > 0)
            vocab = numpy.array(ranked + tail, dtype=object)
            self.vocab.append(vocab)
            self.cdf.append(zipf_cdf(len(vocab), exponent) if len(vocab) else None)

    @staticmethod
    def _syllable_words(words, n, taken, rng, capitalize):
        letters = [w.lower() for w in words if w.isalpha() and len(w) > 1]
        syllables = sorted({w[i : i + k] for w in letters for k in (2, 3) for i in range(0, len(w) - k + 1, k)})
        syllables = numpy.array(syllables, dtype=object)
        out, seen = [], set(taken)
        while len(out) < n:
            m = int((n - len(out)) * 1.3) + 16
            parts = rng.integers(len(syllables), size=(m, 4))
            lengths = rng.choice([1, 2, 3, 4], size=m, p=[0.1, 0.4, 0.35, 0.15])
            for row, k in zip(syllables[parts].tolist(), lengths.tolist()):
                word = "".join(row[:k])
                if capitalize:
                    word = word[:1].upper() + word[1:]
                if word not in seen:
                    seen.add(word)
                    out.append(word)
        return out[:n]

    @staticmethod
    def _han_words(words, n, taken, rng, capitalize):
        chars = sorted({c for w in words for c in w if "\u4e00" <= c <= "\u9fff"})
        chars = numpy.array(
            sorted(set(chars) | {chr(c) for c in rng.integers(0x4E00, 0x9FA6, size=3000).tolist()}), dtype=object
        )
        out, seen = [], set(taken)
        while len(out) < n:
            m = int((n - len(out)) * 1.3) + 16
            parts = rng.integers(len(chars), size=(m, 3))
            lengths = rng.choice([1, 2, 3], size=m, p=[0.2, 0.6, 0.2])
            for row, k in zip(chars[parts].tolist(), lengths.tolist()):
                word = "".join(row[:k])
                if word not in seen:
                    seen.add(word)
                    out.append(word)
        return out[:n]

    def write(self, path: Path, n: int, seed: int, chunk: int = 50_000) -> Tuple[int, int]:
        """Write n sentences to path; returns (sentences, tokens)."""
        rng = numpy.random.default_rng([seed, zlib.crc32(self.lang.encode()), zlib.crc32(path.name.encode())])
        path.parent.mkdir(parents=True, exist_ok=True)
        tokens_written = 0
        tail = f', "lang": "{self.lang}"}}\n'
        with path.open("w", encoding="utf8") as f:
            for start in range(0, n, chunk):
                size = min(chunk, n - start)
                choice = rng.integers(len(self.templates), size=size)
                kinds = numpy.concatenate([self.template_kinds[t] for t in choice])
                tokens = numpy.empty(len(kinds), dtype=object)
                for kind in numpy.unique(kinds).tolist():
                    where = kinds == kind
                    ids = numpy.searchsorted(self.cdf[kind], rng.random(int(where.sum())), side="right")
                    tokens[where] = self.vocab[kind][numpy.minimum(ids, len(self.vocab[kind]) - 1)]
                tokens = tokens.tolist()
                offset, lines = 0, []
                # Rows assembled as text for speed, with the stdlib's json (UTF-8 kept as it is, not
                # \u-escaped as srsly's ujson writes it), so the corpus's bytes stay those published.
                for t in choice.tolist():
                    end = offset + len(self.templates[t])
                    lines.append(
                        '{"tokens": '
                        + json.dumps(tokens[offset:end], ensure_ascii=False)
                        + ', "ner_tags": '
                        + self.template_json[t]
                        + tail
                    )
                    offset = end
                f.write("".join(lines))
                tokens_written += len(tokens)
        return n, tokens_written


def _write_language(job) -> List[Tuple[str, str, int, int]]:
    """Build one language's model once, then write its file of each split."""
    lang, sizes, rows, output, vocab_size, exponent, seed = job
    model = LanguageModel(rows, lang, vocab_size, exponent, seed)
    done = []
    for folder, n in sizes.items():
        sentences, tokens = model.write(output / folder / f"{folder}_{lang}.jsonl", n, seed)
        done.append((folder, lang, sentences, tokens))
    return done


@app.command()
def main(
    output: Path = typer.Argument(..., help="Folder to write (train/, val/, test/); use /tmp or an ignored folder"),
    train: int = typer.Option(2_680_000, min=0, help="Training sentences (MultiNERD: about 2.68M)"),
    eval_fraction: float = typer.Option(0.1, min=0.0, help="val and test sentences, each, as a fraction of --train"),
    vocab_size: int = typer.Option(300_000, min=1, help="Words per language for O tokens (each entity type: a tenth)"),
    zipf: float = typer.Option(1.0, help="Zipf exponent of word frequencies"),
    seed: int = typer.Option(0),
    workers: int = typer.Option(os.cpu_count() or 1, min=1),
    sample: Path = typer.Option(SAMPLE, help="MultiNERD-format sample whose statistics to copy"),
    manifest: Optional[Path] = typer.Option(
        None, help="Manifest JSON (default: <output>.manifest.json beside the folder)"
    ),
):
    start = time.perf_counter()
    data = read_sample(sample)
    langs = sorted({lang for _, lang in data})
    rows_by_lang = {lang: [row for folder in SPLIT_FOLDERS for row in data.get((folder, lang), [])] for lang in langs}
    totals = {"train": train, "val": round(train * eval_fraction), "test": round(train * eval_fraction)}
    sizes = {lang: {} for lang in langs}
    for folder in SPLIT_FOLDERS:
        for lang, n in allocate(totals[folder], {lang: len(data.get((folder, lang), [])) for lang in langs}).items():
            if n:
                sizes[lang][folder] = n
    jobs = [(lang, sizes[lang], rows_by_lang[lang], output, vocab_size, zipf, seed) for lang in langs if sizes[lang]]
    jobs.sort(key=lambda job: -sum(job[1].values()))  # big languages first, for an even spread over the workers
    output.mkdir(parents=True, exist_ok=True)
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            done = [item for items in pool.map(_write_language, jobs, chunksize=1) for item in items]
    else:
        done = [item for job in jobs for item in _write_language(job)]
    seconds = time.perf_counter() - start
    counts = {folder: {lang: n for f, lang, n, _ in done if f == folder} for folder in SPLIT_FOLDERS}
    result = {
        "output": str(output),
        "seed": seed,
        "vocab_size": vocab_size,
        "zipf": zipf,
        "sample": str(sample),
        "sentences": {folder: sum(c.values()) for folder, c in counts.items()},
        "sentences_by_lang": counts,
        "tokens": sum(t for *_, t in done),
        "bytes": sum(p.stat().st_size for p in output.rglob("*.jsonl")),
        "seconds": round(seconds, 1),
    }
    manifest = manifest or output.parent / f"{output.name}.manifest.json"
    srsly.write_json(manifest, result)
    print(
        f"Wrote {output}: "
        + ", ".join(f"{n:,} {folder}" for folder, n in result["sentences"].items())
        + f" sentences, {result['tokens']:,} tokens, {result['bytes'] / 2**20:,.0f} MiB in {seconds:.0f} s; "
        + f"manifest {manifest}"
    )


if __name__ == "__main__":
    app()
