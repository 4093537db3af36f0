"""Randomly initialised BERTs (seeded, so identical every run) with a WordPiece vocabulary
trained on a dataset's tokens, saved as a transformers model folder: a tiny one, for offline tests
and for trying the trf config without the hub (scripts/make_tiny_bert.py), and any other shape
(benchmarks/gpu builds one of mBERT's shape).

It learns nothing useful: it only exercises the real code path, at the real size if asked.
"""

from pathlib import Path
from typing import Iterable, List

from multinerd.data.readers import read_files
from multinerd.pipeline.tokenizer import split_cjk

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# bert-base-multilingual-cased's shape (its config.json): the real model's cost with random weights.
MBERT_SHAPE = {"vocab_size": 119_547, "hidden_size": 768, "layers": 12, "heads": 12, "intermediate_size": 3_072}


def training_words(source: Path) -> Iterable[List[str]]:
    for row in read_files(source):
        if not row.problem:
            yield [piece for token in row.tokens for piece in split_cjk(str(token))]


def make_tiny_bert(
    source: Path, output: Path, hidden_size: int = 32, layers: int = 2, vocab_size: int = 2000, seed: int = 0
) -> Path:
    return make_random_bert(
        training_words(source),
        output,
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        layers=layers,
        heads=2,
        intermediate_size=hidden_size * 2,
        seed=seed,
    )


def make_random_bert(
    sentences: Iterable[List[str]],
    output: Path,
    *,
    vocab_size: int,
    hidden_size: int,
    layers: int,
    heads: int,
    intermediate_size: int,
    seed: int = 0,
    pad_vocab: bool = False,
) -> Path:
    """A BERT of this shape with random weights and a WordPiece vocabulary of at most `vocab_size`
    pieces trained on `sentences` (lists of words); `pad_vocab`: exactly `vocab_size`, the
    trained vocabulary followed by unused entries where the data can't fill it."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=False)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    wordpiece.train_from_iterator((" ".join(words) for words in sentences), trainer=trainer)
    output.mkdir(parents=True, exist_ok=True)
    vocab = [token for token, _ in sorted(wordpiece.get_vocab().items(), key=lambda item: item[1])]
    if pad_vocab:
        vocab += [f"[unused{i}]" for i in range(vocab_size - len(vocab))]
    (output / "vocab.txt").write_text("".join(token + "\n" for token in vocab), encoding="utf8")
    BertTokenizerFast(vocab_file=str(output / "vocab.txt"), do_lower_case=False).save_pretrained(output)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(output)
    return output
