"""Reading a converted corpus back: the docs of a folder of .spacy shards (what calibrate,
evaluate and the tests read, without importing the converter)."""

from pathlib import Path
from typing import Iterator

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab


def read_docs(folder: Path, vocab: Vocab) -> Iterator[Doc]:
    """The docs of every shard under `folder`, in the order they were written."""
    for path in sorted(folder.rglob("*.spacy")):
        yield from DocBin().from_disk(path).get_docs(vocab)
