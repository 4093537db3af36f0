"""The pipeline's tokenizer (multinerd.pipeline.tokenizer, `xx_multinerd.CJKCharTokenizer.v1`): spaCy's xx
rules, with CJK text cut into characters."""

import json
import pickle
import re
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, DocBin
from spacy.util import load_config

from multinerd.labels import LANGUAGES, MULTINERD_TAGS, SPACELESS_LANGUAGES
from multinerd.pipeline.tokenizer import CJK_CHAR, CJKCharTokenizer, split_cjk

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "multinerd_sample"
TOKENIZER = {"nlp": {"tokenizer": {"@tokenizers": "xx_multinerd.CJKCharTokenizer.v1"}}}


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("xx", config=TOKENIZER)


@pytest.fixture(scope="module")
def blank_xx():
    return spacy.blank("xx")


def words(doc: Doc):
    return [token.text for token in doc]


def test_configs_name_the_tokenizer():
    for name in ("cnn", "trf"):
        config = load_config(ROOT / "configs" / f"{name}.cfg", interpolate=False)
        assert config["nlp"]["tokenizer"]["@tokenizers"] == "xx_multinerd.CJKCharTokenizer.v1"
        pipeline = spacy.blank(config["nlp"]["lang"], config={"nlp": {"tokenizer": config["nlp"]["tokenizer"]}})
        assert isinstance(pipeline.tokenizer, CJKCharTokenizer)
        assert words(pipeline("北京是中国的首都。"))[:2] == ["北", "京"]


def test_chinese_becomes_characters(nlp):
    text = "北京是中国的首都。"
    doc = nlp(text)
    assert words(doc) == list(text)
    assert doc.text == text
    assert not any(token.whitespace_ for token in doc)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("iPhone 15在2023年发布", ["iPhone", "15", "在", "2023", "年", "发", "布"]),
        ("我用iPhone拍照", ["我", "用", "iPhone", "拍", "照"]),
        ("“北京”很大。", ["“", "北", "京", "”", "很", "大", "。"]),
        ("COVID-19疫情", ["COVID-19", "疫", "情"]),
        ("他说: Hello world!", ["他", "说", ":", "Hello", "world", "!"]),
    ],
)
def test_mixed_text(nlp, text, expected):
    doc = nlp(text)
    assert words(doc) == expected
    assert doc.text == text


def test_mixed_text_keeps_whitespace(nlp):
    text = "iPhone 15在2023年发布  了 。\n北京"
    doc = nlp(text)
    assert doc.text == text
    assert [(token.text, token.whitespace_) for token in doc][:2] == [("iPhone", " "), ("15", "")]


def test_split_cjk():
    assert split_cjk("2008年") == ["2008", "年"]
    assert split_cjk("Paris") == ["Paris"]
    assert split_cjk("北京") == ["北", "京"]
    assert split_cjk("a北b") == ["a", "北", "b"]


NON_CJK = [
    "Angela Merkel besuchte am 3. Oktober 2019 das Brandenburger Tor (Berlin).",
    "Dr. Smith doesn't live in the U.S.A. anymore, does she?",
    "El Real Madrid ganó la Liga en 2022-2023; ¡increíble!",
    "L'équipe de France a gagné à Saint-Étienne l'an dernier.",
    "Nell'estate del '68 andò a Roma con l'amico.",
    "Het is 's avonds koud in 's-Hertogenbosch.",
    "Maria Skłodowska-Curie urodziła się w Warszawie w 1867 r.",
    "Ele chegou ao Brasil às 10h30 — com 2,5 kg de café.",
    "Юрий Гагарин полетел в космос на корабле «Восток-1» в 1961 году.",
    "Mail me at someone@example.com or see https://example.com/a?b=c :-) 😀",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\n\nhere",
    "",
]


@pytest.mark.parametrize("text", NON_CJK)
def test_non_cjk_text_is_tokenized_as_blank_xx(nlp, blank_xx, text):
    ours, theirs = nlp(text), blank_xx(text)
    assert [(t.text, t.whitespace_, t.norm_) for t in ours] == [(t.text, t.whitespace_, t.norm_) for t in theirs]


def _sample_rows():
    for path in sorted(SAMPLE.glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf8").splitlines():
            if line.strip():
                yield json.loads(line)


def test_non_cjk_sample_text_is_tokenized_as_blank_xx(nlp, blank_xx):
    texts = [" ".join(row["tokens"]) for row in _sample_rows() if row["lang"] not in SPACELESS_LANGUAGES]
    assert len(texts) > 500
    for ours, theirs in zip(nlp.pipe(texts), blank_xx.pipe(texts)):
        assert [(t.text, t.whitespace_) for t in ours] == [(t.text, t.whitespace_) for t in theirs]


# Everything below the first CJK block (U+2E80): Latin, Greek, Cyrillic, punctuation, symbols, spaces.
NON_CJK_TEXT = st.text(st.characters(max_codepoint=0x2E7F, categories=("L", "N", "P", "S", "Zs")), max_size=40)
MIXED = st.lists(
    st.sampled_from(list("ab1 .,-'北京是中国的年“”。\u3000\n") + ["xyz", "2023", "U.S.", "  "]), max_size=30
).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=NON_CJK_TEXT)
def test_property_non_cjk_as_blank_xx(nlp, blank_xx, text):
    assert [(t.text, t.whitespace_) for t in nlp(text)] == [(t.text, t.whitespace_) for t in blank_xx(text)]


@settings(max_examples=200, deadline=None)
@given(text=MIXED)
def test_property_text_is_preserved(nlp, text):
    doc = nlp(text)
    assert doc.text == text
    assert all(token.text for token in doc)
    for token in doc:  # a CJK character is always a token of its own
        if CJK_CHAR.search(token.text):
            assert len(token.text) == 1, words(doc)


# One sentence per language with its entities (surface text, label), in order.
ENTITIES = {
    "de": (
        "Angela Merkel besuchte im Mai 2019 das Brandenburger Tor in Berlin.",
        [("Angela Merkel", "PER"), ("Mai 2019", "TIME"), ("Brandenburger Tor", "LOC"), ("Berlin", "LOC")],
    ),
    "en": (
        "Barack Obama visited the Louvre in Paris with his dog Bo.",
        [("Barack Obama", "PER"), ("Louvre", "LOC"), ("Paris", "LOC"), ("dog", "ANIM"), ("Bo", "ANIM")],
    ),
    "es": (
        "Gabriel García Márquez nació en Aracataca, Colombia, en 1927.",
        [("Gabriel García Márquez", "PER"), ("Aracataca", "LOC"), ("Colombia", "LOC")],
    ),
    "fr": (
        "L'équipe de Marie Curie a reçu le prix Nobel à Stockholm en 1911.",
        [("Marie Curie", "PER"), ("prix Nobel", "EVE"), ("Stockholm", "LOC")],
    ),
    "it": (
        "Leonardo da Vinci dipinse la Gioconda a Firenze.",
        [("Leonardo da Vinci", "PER"), ("Gioconda", "MEDIA"), ("Firenze", "LOC")],
    ),
    "nl": (
        "Vincent van Gogh werd geboren in Zundert, in Nederland.",
        [("Vincent van Gogh", "PER"), ("Zundert", "LOC"), ("Nederland", "LOC")],
    ),
    "pl": (
        "Maria Skłodowska-Curie urodziła się w Warszawie.",
        [("Maria Skłodowska-Curie", "PER"), ("Warszawie", "LOC")],
    ),
    "pt": ("Pedro Álvares Cabral chegou ao Brasil em 1500.", [("Pedro Álvares Cabral", "PER"), ("Brasil", "LOC")]),
    "ru": (
        "Юрий Гагарин полетел в космос на корабле «Восток-1» в 1961 году.",
        [("Юрий Гагарин", "PER"), ("Восток-1", "VEHI"), ("1961 году", "TIME")],
    ),
    "zh": (
        "北京是中国的首都，iPhone 15在2023年发布。",
        [("北京", "LOC"), ("中国", "LOC"), ("iPhone 15", "INST"), ("2023年", "TIME")],
    ),
}


def test_entity_sentences_cover_every_language():
    assert set(ENTITIES) == set(LANGUAGES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_entity_offsets(nlp, lang):
    text, entities = ENTITIES[lang]
    doc = nlp(text)
    assert doc.text == text
    expected, spans, position = [], [], 0
    for surface, label in entities:
        start = text.index(surface, position)
        end = position = start + len(surface)
        span = doc.char_span(start, end, label=label)
        assert span is not None, f"{surface!r} does not start and end on token boundaries: {words(doc)}"
        spans.append(span)
        expected.append((surface, label, start, end))
    doc.ents = spans
    assert [(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents] == expected
    assert all(text[start:end] == surface for surface, _, start, end in expected)
    # The same after a round trip through the format the corpus is stored in.
    again = next(DocBin(docs=[doc], store_user_data=False).get_docs(nlp.vocab))
    assert again.text == text
    assert [(e.text, e.label_, e.start_char, e.end_char) for e in again.ents] == expected


def test_sample_entities_fall_on_token_boundaries(nlp):
    """Every gold entity of the bundled sample, in the text a user would write (words joined by
    spaces, Chinese without), starts and ends on a token boundary of the pipeline's tokenizer."""
    checked = 0
    for row in _sample_rows():
        spaceless = row["lang"] in SPACELESS_LANGUAGES
        starts, position = [], 0
        for token in row["tokens"]:
            starts.append(position)
            position += len(token) + (0 if spaceless else 1)
        text = ("" if spaceless else " ").join(row["tokens"])
        doc = nlp(text)
        tags = [MULTINERD_TAGS[tag] for tag in row["ner_tags"]]
        for i, tag in enumerate(tags):
            if not tag.startswith("B-"):
                continue
            j = i + 1
            while j < len(tags) and tags[j] == "I-" + tag[2:]:
                j += 1
            start, end = starts[i], starts[j - 1] + len(row["tokens"][j - 1])
            span = doc.char_span(start, end, label=tag[2:])
            assert span is not None, (row["lang"], text[start:end], words(doc))
            assert (span.start_char, span.end_char, span.text) == (start, end, text[start:end])
            checked += 1
    assert checked > 1000


def test_to_disk_round_trip(nlp, tmp_path):
    original = spacy.blank("xx", config=TOKENIZER)
    original.tokenizer.base.add_special_case("N.Y.C.", [{"ORTH": "N.Y.C."}])
    original.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert isinstance(loaded.tokenizer, CJKCharTokenizer)
    texts = [ENTITIES[lang][0] for lang in LANGUAGES] + NON_CJK + ["iPhone 15在2023年发布", "N.Y.C.是城市"]
    for text in texts:
        assert words(loaded(text)) == words(original(text))
    assert words(loaded("N.Y.C.是城市")) == ["N.Y.C.", "是", "城", "市"]


def test_to_bytes_round_trip():
    original = spacy.blank("xx", config=TOKENIZER)
    original.tokenizer.base.add_special_case("N.Y.C.", [{"ORTH": "N.Y.C."}])
    copy = spacy.blank("xx", config=TOKENIZER).from_bytes(original.to_bytes())
    assert isinstance(copy.tokenizer, CJKCharTokenizer)
    assert words(copy("N.Y.C.是城市")) == ["N.Y.C.", "是", "城", "市"]
    tokenizer_only = CJKCharTokenizer(spacy.blank("xx").tokenizer).from_bytes(original.tokenizer.to_bytes())
    assert words(tokenizer_only("N.Y.C.是城市")) == ["N.Y.C.", "是", "城", "市"]


# --- customised as spaCy's own tokenizer is ---------------------------------------------------------

NEVER = re.compile(r"(?!)")  # matches nothing
CUSTOMISATIONS = {
    "infix_finditer": (NEVER.finditer, "well-known 北京"),
    "prefix_search": (NEVER.search, "(well 北京"),
    "suffix_search": (NEVER.search, "wow! 北京"),
    "token_match": (re.compile(r"^foo~bar$").match, "foo~bar 北京"),
    "url_match": (re.compile(r"^[a-z]+://\S+$").match, "see x://y.z/a-b 北京"),
    "rules": ({"lol": [{"ORTH": "l"}, {"ORTH": "ol"}]}, "lol 北京"),
}


@pytest.mark.parametrize("name", CUSTOMISATIONS)
def test_attribute_writes_take_effect_as_on_spacys_own_tokenizer(name):
    value, text = CUSTOMISATIONS[name]
    ours, theirs = spacy.blank("xx", config=TOKENIZER), spacy.blank("xx")
    default = words(ours(text))
    for nlp in (ours, theirs):
        setattr(nlp.tokenizer, name, value)
    assert getattr(ours.tokenizer, name) == getattr(ours.tokenizer.base, name)  # it reached the wrapped tokenizer
    cut = [piece for word in words(theirs(text)) for piece in split_cjk(word)]  # spaCy's own, then CJK cut
    assert words(ours(text)) == cut != default
    # and it is saved with the pipeline (spaCy saves a function's regular expression)
    again = spacy.blank("xx", config=TOKENIZER)
    again.tokenizer.from_bytes(ours.tokenizer.to_bytes())
    assert words(again(text)) == cut


def test_special_cases_keep_their_norms_on_cjk_text():
    ours, theirs = spacy.blank("xx", config=TOKENIZER), spacy.blank("xx")
    for nlp in (ours, theirs):
        nlp.tokenizer.add_special_case("NYC", [{"ORTH": "NYC", "NORM": "New York City"}])
    for text in ("NYC is big", "NYC 很大", "我在 NYC 住"):
        doc = ours(text)
        assert [t.norm_ for t in doc if t.text == "NYC"] == ["New York City"], text
        assert doc.text == text
    # the other tokens' norms are as spaCy's own
    assert [(t.text, t.norm_) for t in ours("Hello NYC 你好")] == [
        ("Hello", "hello"),
        ("NYC", "New York City"),
        ("你", "你"),
        ("好", "好"),
    ]
    assert theirs("NYC 很大")[0].norm_ == "New York City"


def test_the_wrapper_pickles_with_its_customisations(tmp_path):
    nlp = spacy.blank("xx", config=TOKENIZER)
    nlp.tokenizer.add_special_case("NYC", [{"ORTH": "NYC", "NORM": "New York City"}])
    copy = pickle.loads(pickle.dumps(nlp.tokenizer))
    assert isinstance(copy, CJKCharTokenizer) and [(t.text, t.norm_) for t in copy("NYC 北京")][:2] == [
        ("NYC", "New York City"),
        ("北", "北"),
    ]
    nlp.to_disk(tmp_path / "pipeline")
    assert spacy.load(tmp_path / "pipeline")("NYC 北京")[0].norm_ == "New York City"
