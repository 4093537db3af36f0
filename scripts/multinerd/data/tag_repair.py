"""BIO tag sequences: validation and repair."""

import re
from typing import List, Tuple

TAG_PATTERN = re.compile(r"^(?:O|[BI]-\S+)$")


def repair_bio(tags: List[str]) -> Tuple[List[str], int]:
    """Make a BIO sequence well formed the usual (CoNLL) way and count the repairs.

    An `I-X` that follows `O`, the start of the sentence or a tag of another type starts a
    new entity: it becomes `B-X`. Returns the repaired tags and how many were changed.
    """
    if not any(tag[0] == "I" for tag in tags):
        return tags, 0  # most sentences: nothing to check
    repaired = list(tags)
    repairs = 0
    previous = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            repaired[i] = "B-" + tag[2:]
            repairs += 1
        previous = tag
    return repaired, repairs


def spread_tag(tag: str, n_pieces: int) -> List[str]:
    """Tags for a token cut into pieces: a `B-X` stays on the first piece, the rest get `I-X`."""
    if tag == "O":
        return ["O"] * n_pieces
    return [tag] + ["I-" + tag[2:]] * (n_pieces - 1)
