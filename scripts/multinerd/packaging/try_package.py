"""Run by the install step in the fresh environment's python, in isolated mode (`python -I`,
so that nothing of this repository is on the path): `spacy.load(NAME)` on one sentence per
language (a JSON object of language -> text), and what the package carries. Prints one JSON
object on stdout. Imports nothing from the project: the fresh environment has only the package.

    python -I try_package.py xx_multinerd '{"en": "..."}'
"""

import json
import sys

import spacy


def main(name: str, sentences: dict) -> dict:
    nlp = spacy.load(name)
    result = {
        "version": nlp.meta.get("version"),
        "pipeline": nlp.pipe_names,
        "tokenizer": type(nlp.tokenizer).__module__ + "." + type(nlp.tokenizer).__name__,
        "labels": list(nlp.get_pipe("ner").labels) if "ner" in nlp.pipe_names else [],
        "test_scores": {},
        "trained_on": nlp.meta.get("multinerd", {}),
        "docs": {},
    }
    # The overall test F1 scores multinerd.packaging.meta put in the meta, those there are.
    performance = nlp.meta.get("performance", {})
    for mode in ("default", "strict"):
        if mode in performance.get("seqeval", {}):
            result["test_scores"][f"seqeval_f_{mode}"] = performance["seqeval"][mode]["overall"]["f"]
    if "ents_f" in performance:
        result["test_scores"]["ents_f"] = performance["ents_f"]
    for lang, text in sentences.items():
        doc = nlp(text)
        result["docs"][lang] = {
            "text": doc.text,
            "tokens": [token.text for token in doc],
            # The entity's probability (ent._.score) where the package has entity scores.
            "ents": [
                [
                    ent.text,
                    ent.label_,
                    ent.start_char,
                    ent.end_char,
                    ent._.get("score") if ent.has_extension("score") else None,
                ]
                for ent in doc.ents
            ],
        }
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], json.loads(sys.argv[2])), ensure_ascii=False))
