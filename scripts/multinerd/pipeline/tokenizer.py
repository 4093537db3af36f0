"""Tokenization shared by the converter and the packaged pipeline.

spaCy's `xx` rules leave a run of Chinese characters as one token, so both sides cut every
CJK character into a token of its own. This file is shipped inside the `xx_multinerd` package
(`spacy package --code`), so it must import nothing from this repository.
"""

import re
from typing import Callable, Iterable, Iterator, List

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import registry

# Scripts written without spaces between words: Han ideographs, CJK punctuation, kana,
# bopomofo, compatibility and full-width forms. Not Hangul: Korean puts spaces between words.
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f"
)
CJK_CHAR = re.compile(f"[{_CJK}]")
_PIECE = re.compile(f"[{_CJK}]|[^{_CJK}]+")


def split_cjk(token: str) -> List[str]:
    """Cut a token into CJK characters, keeping runs of other characters whole ("2008年" -> "2008", "年")."""
    if not CJK_CHAR.search(token):
        return [token]
    return _PIECE.findall(token)


class CJKCharTokenizer:
    """Wraps a spaCy tokenizer and cuts every token containing CJK characters into pieces.

    It is customised as spaCy's own: attributes read and written (`infix_finditer`,
    `prefix_search`, `suffix_search`, `token_match`, `url_match`, `rules`, ...) and methods
    (`add_special_case`, `explain`, ...) are the wrapped tokenizer's. A special case's NORM is kept
    when the text is cut; a special case for a string containing CJK characters is cut like any
    other token, as the training data is.
    """

    def __init__(self, base):
        object.__setattr__(self, "base", base)

    @property
    def vocab(self):
        return self.base.vocab

    def __call__(self, text: str) -> Doc:
        doc = self.base(text)
        if not CJK_CHAR.search(text):
            return doc
        words, spaces, norms = [], [], {}
        for token in doc:
            pieces = split_cjk(token.text)
            if len(pieces) == 1 and token.norm != token.lex.norm:
                norms[len(words)] = token.norm_  # a special case's NORM, which a new Doc would lose
            words.extend(pieces)
            spaces.extend([False] * (len(pieces) - 1) + [bool(token.whitespace_)])
        cut = Doc(self.vocab, words=words, spaces=spaces)
        for i, norm in norms.items():
            cut[i].norm_ = norm
        return cut

    def __getattr__(self, name):
        # The wrapped tokenizer's API (explain, add_special_case, rules, ...) stays reachable.
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def __setattr__(self, name, value):
        # spaCy's documented customisation (`nlp.tokenizer.infix_finditer = ...`) must reach the
        # tokenizer that does the work, not stop on this wrapper.
        setattr(self.base, name, value)

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Doc]:
        for text in texts:
            yield self(text)

    def to_bytes(self, **kwargs):
        return self.base.to_bytes(**kwargs)

    def from_bytes(self, data, **kwargs):
        self.base.from_bytes(data, **kwargs)
        return self

    def to_disk(self, path, **kwargs):
        self.base.to_disk(path, **kwargs)

    def from_disk(self, path, **kwargs):
        self.base.from_disk(path, **kwargs)
        return self


@registry.tokenizers("xx_multinerd.CJKCharTokenizer.v1")
def create_cjk_char_tokenizer() -> Callable[[Language], CJKCharTokenizer]:
    make_base = registry.tokenizers.get("spacy.Tokenizer.v1")()

    def make_tokenizer(nlp: Language) -> CJKCharTokenizer:
        return CJKCharTokenizer(make_base(nlp))

    return make_tokenizer
