"""A tiny, randomly initialised BERT (seeded, so identical every run) with a WordPiece vocabulary
trained on a dataset's tokens, saved as a transformers model folder.

For offline tests and for trying the trf config without the hub (scripts/make_tiny_bert.py).
It learns nothing useful: it only exercises the real code path.
"""

from pathlib import Path
from typing import Iterable, List

from .readers import read_files
from .tokenizer import split_cjk


def training_words(source: Path) -> Iterable[List[str]]:
    for row in read_files(source):
        if not row.problem:
            yield [piece for token in row.tokens for piece in split_cjk(str(token))]


def make_tiny_bert(
    source: Path, output: Path, hidden_size: int = 32, layers: int = 2, vocab_size: int = 2000, seed: int = 0
) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=False)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    wordpiece.train_from_iterator((" ".join(words) for words in training_words(source)), trainer=trainer)
    output.mkdir(parents=True, exist_ok=True)
    vocab = sorted(wordpiece.get_vocab().items(), key=lambda item: item[1])
    (output / "vocab.txt").write_text("".join(token + "\n" for token, _ in vocab), encoding="utf8")
    BertTokenizerFast(vocab_file=str(output / "vocab.txt"), do_lower_case=False).save_pretrained(output)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(output)
    return output
