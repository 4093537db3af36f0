"""The memory benchmark's child processes, one role each (scripts/benchmark_memory.py starts and
measures them):

    python scripts/memory_children.py ROLE SPEC.json

Each reads the texts, loads its pipeline, annotates the texts in batches keeping only the
entities (as annotate does; `spacy-load-keep-docs` keeps the Docs, as a list(nlp.pipe(...))
does), and writes its result: the entities and its peak RSS (VmHWM) after loading and at the end. Roles: hf-pipeline (`transformers.pipeline("token-classification")` of an
AutoModelForTokenClassification of the encoder), spacy-load (`spacy.load`), spacy-load-keep-docs,
annotate-load (`multinerd.annotation.mapped_loading.load_for_annotation`, what annotate loads with).
"""

import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import srsly


def peak_rss_mib() -> float:
    """This process's peak RSS so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def spacy_entities(load: Callable[[str], object], keep_docs: bool) -> Callable[[Dict, List[str]], Tuple[float, List]]:
    def annotate(spec: Dict, texts: List[str]) -> Tuple[float, List]:
        nlp = load(spec["model"])
        loaded = peak_rss_mib()
        docs = nlp.pipe(texts, batch_size=spec["batch_size"])
        kept = list(docs) if keep_docs else docs
        return loaded, [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in kept]

    return annotate


def spacy_load(name: str):
    import spacy

    return spacy.load(name)


def annotate_load(name: str):
    from multinerd.annotation.mapped_loading import load_for_annotation

    return load_for_annotation(name)


def hf_pipeline(spec: Dict, texts: List[str]) -> Tuple[float, List]:
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    model = AutoModelForTokenClassification.from_pretrained(spec["encoder"], num_labels=spec["num_labels"])
    tokenizer = AutoTokenizer.from_pretrained(spec["encoder"])
    ner = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="first", device=-1)
    loaded = peak_rss_mib()
    found = ner(texts, batch_size=spec["batch_size"])
    return loaded, [[(e["start"], e["end"], e["entity_group"]) for e in entities] for entities in found]


ROLES = {
    "hf-pipeline": hf_pipeline,
    "spacy-load": spacy_entities(spacy_load, keep_docs=False),
    "spacy-load-keep-docs": spacy_entities(spacy_load, keep_docs=True),
    "annotate-load": spacy_entities(annotate_load, keep_docs=False),
}


def main(role: str, spec_path: Path) -> None:
    import torch

    spec = srsly.read_json(spec_path)
    torch.set_num_threads(spec["threads"])
    texts = srsly.read_json(spec["texts"])
    loaded, entities = ROLES[role](spec, texts)
    result = {"loaded_rss_mib": loaded, "final_rss_mib": peak_rss_mib(), "entities": entities}
    srsly.write_json(spec["result"], result)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ROLES:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(ROLES)}}} SPEC.json")
    main(sys.argv[1], Path(sys.argv[2]))
