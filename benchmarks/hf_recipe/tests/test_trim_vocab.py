"""The cut-down encoder: fewer pieces, the same ids (renumbered) and hidden states on the data it was cut for."""

import sys

import pytest
from conftest import PROJECT, SAMPLE

from multinerd.data.corpus import Sentence

sys.path.insert(0, str(PROJECT / "scripts"))

from trim_vocab import TrimError, all_sentences, check_same, trim, used_ids  # noqa: E402


def test_trim_keeps_the_data_s_tokenization(tiny_bert, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    sentences = all_sentences(SAMPLE)[:200]
    counts = trim(str(tiny_bert), sentences, tmp_path / "cut")
    old_tok, new_tok = AutoTokenizer.from_pretrained(tiny_bert), AutoTokenizer.from_pretrained(tmp_path / "cut")
    assert counts["pieces_after"] < counts["pieces_before"] == len(old_tok)
    assert len(new_tok) == counts["pieces_after"] == AutoModel.from_pretrained(tmp_path / "cut").config.vocab_size
    new_id = {old: new for new, old in enumerate(used_ids(old_tok, sentences))}
    check_same(old_tok, new_tok, new_id, sentences)  # raises where any sentence's ids differ
    # Other text may use pieces that were cut: then the check must say so.
    with pytest.raises(TrimError):
        odd = Sentence(["Zzyzx", "Quagmire", "Xylophone", "Jukebox"], ["O"] * 4, "en", 0)
        check_same(old_tok, new_tok, new_id, [odd] + sentences[:1])
