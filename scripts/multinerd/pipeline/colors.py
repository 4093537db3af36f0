"""displaCy colours for MultiNERD's 15 entity types.

spaCy's defaults colour only ORG, LOC and TIME of these; every other type would render grey.
This file is shipped inside the `xx_multinerd` package (`spacy package --code`), so it imports
nothing from this repository, and registers itself there; in the project, pyproject.toml's
`spacy_displacy_colors` entry point names the same function.
"""

from typing import Dict

from spacy.util import registry

ENTITY_COLORS = {
    "PER": "#aa9cfc",
    "ORG": "#7aecec",
    "LOC": "#ff9561",
    "ANIM": "#c5e17a",
    "BIO": "#9fd8c8",
    "CEL": "#b8c4ff",
    "DIS": "#ff8197",
    "EVE": "#ffeb80",
    "FOOD": "#f9c89b",
    "INST": "#d5c3a1",
    "MEDIA": "#f0d0ff",
    "MYTH": "#e2b6e8",
    "PLANT": "#8fd694",
    "TIME": "#bfe1d9",
    "VEHI": "#c9d6df",
}


@registry.displacy_colors("xx_multinerd")
def entity_colors() -> Dict[str, str]:
    return dict(ENTITY_COLORS)
