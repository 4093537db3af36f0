"""The mBERT-shape encoder's builder, at a tiny shape (mBERT's takes a minute and 700 MB)."""

import sys

from conftest import PROJECT, SAMPLE

sys.path.insert(0, str(PROJECT / "scripts"))

from make_encoder import build  # noqa: E402


def test_the_encoder_has_the_shape_asked_and_a_wordpiece_of_the_data(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    tiny = {"vocab_size": 3_000, "hidden_size": 16, "layers": 1, "heads": 2, "intermediate_size": 32}
    assert build(SAMPLE, tmp_path / "encoder", tiny) > 0
    config = AutoConfig.from_pretrained(tmp_path / "encoder")
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (3_000, 16, 1)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "encoder")
    assert len(tokenizer) == 3_000  # padded to the shape's vocabulary
    assert "[UNK]" not in tokenizer.tokenize("Paris")  # a word of the data is in its WordPiece
