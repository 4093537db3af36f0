"""MultiNERD's label scheme: integer ids as the dataset and the Hugging Face recipe use them."""

ENTITY_TYPES = (
    "PER", "ORG", "LOC", "ANIM", "BIO", "CEL", "DIS", "EVE",
    "FOOD", "INST", "MEDIA", "MYTH", "PLANT", "TIME", "VEHI",
)  # fmt: skip
# O=0, then B-/I- pairs in ENTITY_TYPES order: 1/2 PER, 3/4 ORG, ..., 29/30 VEHI.
MULTINERD_TAGS = ("O",) + tuple(f"{prefix}-{label}" for label in ENTITY_TYPES for prefix in "BI")
TAG_IDS = {tag: i for i, tag in enumerate(MULTINERD_TAGS)}
LANGUAGES = ("de", "en", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh")
# The three-letter codes of those languages (ISO 639-2/B, 639-2/T and 639-3, Mandarin's), as their two-letter ones.
LANGUAGE_ALIASES = {
    "deu": "de", "ger": "de", "eng": "en", "spa": "es", "fra": "fr", "fre": "fr", "ita": "it", "nld": "nl",
    "dut": "nl", "pol": "pl", "por": "pt", "rus": "ru", "zho": "zh", "chi": "zh", "cmn": "zh",
}  # fmt: skip
# Languages written without spaces between words: tokens become characters, docs get no spaces.
SPACELESS_LANGUAGES = frozenset({"zh"})
# A sentence in each language: what the install step's demo and the visualizer's page start with.
SENTENCES = {
    "de": "Angela Merkel besuchte im Mai 2019 das Brandenburger Tor in Berlin.",
    "en": "Barack Obama visited the Louvre in Paris with his dog Bo.",
    "es": "Gabriel García Márquez nació en Aracataca, Colombia, en 1927.",
    "fr": "Marie Curie a reçu le prix Nobel à Stockholm en 1911.",
    "it": "Leonardo da Vinci dipinse la Gioconda a Firenze.",
    "nl": "Vincent van Gogh werd geboren in Zundert, in Nederland.",
    "pl": "Maria Skłodowska-Curie urodziła się w Warszawie.",
    "pt": "Pedro Álvares Cabral chegou ao Brasil em 1500.",
    "ru": "Юрий Гагарин полетел в космос на корабле «Восток-1» в 1961 году.",
    "zh": "北京是中国的首都。",
}
