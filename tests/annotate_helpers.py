"""What the annotation tests share: a small NER pipeline (the cnn config, initialised on the
sample, untrained: its seeded random weights still find entities, and any change in how texts
are batched would change them), texts (the sample's test texts and generated ones), the output
read back by id, and plain `nlp.pipe` over the same texts as the reference."""

import random
from pathlib import Path
from typing import Dict, List

import numpy
import srsly

from multinerd.annotation.engine import read_part
from multinerd.data.docbins import read_docs

ROOT = Path(__file__).resolve().parents[1]


def initialised_pipeline(config: str, sample_corpus: Path, path: Path, **overrides) -> Path:
    """configs/<config>.cfg (with config overrides) initialised on the sample's training split
    (untrained: seeded random weights), saved at `path`."""
    from spacy import util
    from spacy.training import Example

    nlp = util.load_model_from_config(util.load_config(ROOT / "configs" / config, overrides=overrides), auto_fill=True)
    docs = list(read_docs(sample_corpus / "train", nlp.vocab))
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc) for doc in docs])
    # A softmax output layer starts at zero (the trf config's tagger): every tag equally likely,
    # so no entity at all. Seeded random weights instead, so that the pipeline finds some.
    rng = numpy.random.default_rng(0)
    for _, pipe in nlp.pipeline:
        for node in pipe.model.walk() if hasattr(pipe, "model") else ():
            if node.name == "softmax":
                node.set_param("W", rng.normal(size=node.get_param("W").shape).astype("float32"))
    nlp.to_disk(path)
    return path


def build_annotate_model(tmp_path_factory, sample_corpus) -> Path:
    """configs/cnn.cfg initialised on the sample, saved; built once a session (each test
    module's fixture calls this)."""
    path = tmp_path_factory.getbasetemp() / "annotate-model"
    if not (path / "config.cfg").exists():
        initialised_pipeline("cnn.cfg", sample_corpus, path)
    return path


def sample_test_texts(sample_corpus: Path) -> List[str]:
    from spacy.vocab import Vocab

    return [doc.text for doc in read_docs(sample_corpus / "test", Vocab())]


def generated_texts(sample_corpus: Path, n: int, seed: int = 0) -> List[str]:
    """`n` texts of 3-30 words drawn from the sample's words (seeded)."""
    from spacy.vocab import Vocab

    words = [token.text for doc in read_docs(sample_corpus / "train", Vocab()) for token in doc]
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(3, 30))) for _ in range(n)]


def write_jsonl_texts(path: Path, texts: List[str], **fields) -> Path:
    """Texts as JSONL rows {"id": "t<i>", "text": ..., **fields}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_jsonl(path, ({"id": f"t{i}", "text": text, **fields} for i, text in enumerate(texts)))
    return path


def output_rows(output: Path) -> List[Dict]:
    """Every row of every part file, in part-file order (each file must read whole)."""
    parts = sorted(path for path in output.glob("part-*") if path.suffix in (".parquet", ".jsonl"))
    return [row for path in parts for row in read_part(path).to_pylist()]


def entities_by_id(output: Path) -> Dict:
    """id -> entities as (start, end, label, text); every id exactly once."""
    rows = output_rows(output)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "an id appears more than once"
    return {row["id"]: [(e["start"], e["end"], e["label"], e["text"]) for e in row["entities"]] for row in rows}


def pipe_entities(model: Path, texts: List[str]) -> List[List[tuple]]:
    """Plain nlp.pipe over the texts: the reference every engine must match."""
    import spacy

    nlp = spacy.load(model)
    return [[(e.start_char, e.end_char, e.label_, e.text) for e in doc.ents] for doc in nlp.pipe(texts)]
