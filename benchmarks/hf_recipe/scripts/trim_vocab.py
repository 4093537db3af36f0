"""An encoder cut down to the word pieces a dataset uses: the same model on that data, faster to train.

A multilingual encoder's embedding matrix dominates its optimizer step on a CPU (multilingual-e5-small:
250,002 pieces x 384 = 96M of its 118M weights; AdamW reads and writes all of them every step, about
1.2 of 2.1 s a step of 16 sentences here), although a benchmark's sentences use a few tens of thousands
of pieces. This keeps only the pieces that the data's texts are tokenized into (both ways the benchmark
tokenizes: each sentence's text, and its words one by one) plus the special tokens, renumbers them in
their old order and keeps their embedding rows. Both sides of the benchmark then see the same
encoder computing the same function on every benchmark sentence, and the rows dropped get no gradient
there anyway. It checks exactly that before writing anything: every text's ids through the cut
tokenizer equal the old ids renumbered, and the hidden states of a few sentences match.

Works for fast tokenizers whose model is Unigram (XLM-R, e5) or WordPiece (BERT, mBERT): removing
pieces a text does not use can't change how Unigram's best path or WordPiece's longest match cuts it.
"""

import json
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import typer
from recipe import SourceError, read_sentences, resolve_encoder, text_of

from multinerd.data.corpus import Sentence
from multinerd.data.staging import commit, staged

app = typer.Typer(add_completion=False)


class TrimError(Exception):
    """The encoder can't be cut down safely; the message says why and what to do."""


def encodings(tokenizer, sentences: Sequence[Sentence]) -> List[List[List[int]]]:
    """The sentences' ids both ways the benchmark tokenizes: as text (the spaCy side) and as pre-split words (the recipe)."""
    texts = [text_of(s.words, s.lang) for s in sentences]
    words = [list(s.words) for s in sentences]
    return [tokenizer(texts)["input_ids"], tokenizer(words, is_split_into_words=True)["input_ids"]]


def used_ids(tokenizer, sentences: Sequence[Sentence]) -> List[int]:
    """Every piece id the sentences are tokenized into, and every special token's."""
    ids = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    for rows in encodings(tokenizer, sentences):
        for row in rows:
            ids.update(row)
    return sorted(ids)


def trimmed_tokenizer_json(spec: Dict, new_id: Dict[int, int]) -> Dict:
    """tokenizer.json with only the pieces in `new_id` (old id -> new id), renumbered."""
    model = spec["model"]
    if model["type"] == "Unigram":
        model["vocab"] = [model["vocab"][old] for old in sorted(new_id)]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    elif model["type"] == "WordPiece":
        model["vocab"] = {piece: new_id[old] for piece, old in model["vocab"].items() if old in new_id}
    else:
        raise TrimError(f"the tokenizer's model is {model['type']}; only Unigram and WordPiece are supported")
    for token in spec.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    processor = spec.get("post_processor") or {}
    for processors in [processor] + processor.get("processors", []):
        for special in (processors.get("special_tokens") or {}).values():
            special["ids"] = [new_id[old] for old in special["ids"]]
        for key in ("cls", "sep"):  # BertProcessing / RobertaProcessing: [piece, id]
            if key in processors:
                processors[key] = [processors[key][0], new_id[processors[key][1]]]
    return spec


def check_same(old_tok, new_tok, new_id: Dict[int, int], sentences: Sequence[Sentence]) -> None:
    for old_rows, new_rows in zip(encodings(old_tok, sentences), encodings(new_tok, sentences)):
        for i, (old, new) in enumerate(zip(old_rows, new_rows)):
            if [new_id.get(piece, -1) for piece in old] != new:
                raise TrimError(
                    f"sentence {i + 1} is tokenized differently once cut ({text_of(sentences[i].words, sentences[i].lang)[:60]!r})"
                )


def trim(encoder: str, sentences: Sequence[Sentence], output: Path, check_sentences: int = 8) -> Dict:
    """Write the cut-down encoder to `output` (a model folder AutoModel and AutoTokenizer load): {pieces before, after}."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    old_tok = AutoTokenizer.from_pretrained(encoder)
    if not old_tok.is_fast:
        raise TrimError(f"{encoder}: no fast tokenizer (tokenizer.json); only fast tokenizers can be cut down")
    kept = used_ids(old_tok, sentences)
    new_id = {old: new for new, old in enumerate(kept)}
    spec = trimmed_tokenizer_json(json.loads(old_tok.backend_tokenizer.to_str()), new_id)
    model = AutoModel.from_pretrained(encoder)
    model.eval()
    # Built in a work folder beside `output`, which it replaces only once checked (the product's staging).
    with staged(output.parent, [output.name]) as stage:
        work = stage / output.name
        old_tok.save_pretrained(work)
        # The slow tokenizer's files (sentencepiece model, vocab.txt) describe the old vocabulary: gone, or rewritten.
        for name in ("sentencepiece.bpe.model", "spiece.model", "tokenizer.model"):
            (work / name).unlink(missing_ok=True)
        (work / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf8")
        if (work / "vocab.txt").exists():
            order = sorted(spec["model"]["vocab"].items(), key=lambda item: item[1])
            (work / "vocab.txt").write_text("".join(piece + "\n" for piece, _ in order), encoding="utf8")
        config_path = work / "tokenizer_config.json"
        tok_config = json.loads(config_path.read_text(encoding="utf8"))
        decoder = tok_config.get("added_tokens_decoder", {})
        tok_config["added_tokens_decoder"] = {str(new_id[int(old)]): token for old, token in decoder.items()}
        config_path.write_text(json.dumps(tok_config, ensure_ascii=False, indent=2), encoding="utf8")
        new_tok = AutoTokenizer.from_pretrained(work)
        check_same(old_tok, new_tok, new_id, sentences)

        old_embeddings = model.get_input_embeddings().weight.detach()
        sample = [text_of(s.words, s.lang) for s in sentences[:check_sentences]]
        with torch.no_grad():
            before = model(**old_tok(sample, return_tensors="pt", padding=True)).last_hidden_state
            embeddings = torch.nn.Embedding(len(kept), old_embeddings.shape[1], padding_idx=None)
            embeddings.weight.copy_(old_embeddings[kept])
            model.set_input_embeddings(embeddings)
            model.config.vocab_size = len(kept)
            for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
                if getattr(model.config, key, None) is not None:
                    setattr(model.config, key, new_id[getattr(model.config, key)])
            after = model(**new_tok(sample, return_tensors="pt", padding=True)).last_hidden_state
        if not torch.allclose(before, after, atol=1e-5):
            raise TrimError("the cut-down encoder's hidden states differ from the original's")
        model.save_pretrained(work)
        commit(stage, output.parent, [output.name])
    return {"pieces_before": len(old_tok), "pieces_after": len(kept)}


def all_sentences(data: Path) -> List[Sentence]:
    return read_sentences(data)[0]


@app.command()
def main(
    transformer: str = typer.Argument(..., help="Encoder: a local folder or an installed model package"),
    data: Path = typer.Argument(..., exists=True, help="The data file or folder the benchmark will read"),
    output: Path = typer.Argument(..., help="Folder for the cut-down encoder (replaced if it exists)"),
):
    """Cut an encoder down to the word pieces of a dataset (same outputs on it, faster to train)."""
    encoder = resolve_encoder(transformer)
    if not Path(encoder).is_dir():
        print(f"{transformer}: no such model folder. Pass a local encoder folder or an installed model package.")
        raise typer.Exit(1)
    if output.resolve() == Path(encoder).resolve():
        print(f"{output} is the encoder being read: pass another output folder.")
        raise typer.Exit(1)
    try:
        sentences = all_sentences(data)
        counts = trim(encoder, sentences, output)
    except (TrimError, SourceError) as err:
        print(f"{err}. Nothing was written.")
        raise typer.Exit(1)
    print(
        f"{output}: {counts['pieces_after']:,} of {counts['pieces_before']:,} word pieces ({len(sentences):,} sentences checked)"
    )


if __name__ == "__main__":
    sys.exit(app())
