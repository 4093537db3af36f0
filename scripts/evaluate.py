"""Score a trained pipeline on the test split with seqeval, word by word, as the Hugging Face
token-classification recipe scores MultiNERD: precision, recall, F1 and accuracy overall, per
entity type and per language, in seqeval's default and strict (IOB2) modes.

The pipeline tags Docs built from the gold words, so its tokenization is the gold's. Docs
stream shard by shard and only their tag sequences are kept. Writes OUTPUT_DIR/seqeval.json
(schema: `multinerd.scoring.score_tags`, plus "model" and "corpus") and OUTPUT_DIR/seqeval.md;
then, in the same process, spaCy's own evaluation (`spacy evaluate`'s function, exact entity
spans on the raw text) into OUTPUT_DIR/scores.json, as `spacy evaluate --output` writes it.
"""

import sys
import time
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import spacy
import srsly
import typer
from spacy.cli.evaluate import evaluate as spacy_evaluate
from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm
from wasabi import msg

from multinerd.cli import fail
from multinerd.corpus import read_docs
from multinerd.gpu import require_gpu, use_gpu_annotation_settings
from multinerd.scoring import MODES, Sequences, Tags, add_tags, doc_tags, render_markdown, score_tags

app = typer.Typer(add_completion=False)

ENTITY_FACTORIES = ("ner", "beam_ner", "entity_ruler")


def language_folders(test_dir: Path) -> List[Tuple[str, Path]]:
    """(language, folder) of each subfolder holding shards; a folder of shards without
    language subfolders is one group named after the folder."""
    folders = [
        (path.name, path)
        for path in sorted(test_dir.iterdir())
        if path.is_dir() and next(path.rglob("*.spacy"), None) is not None
    ]
    if not folders and next(test_dir.glob("*.spacy"), None) is not None:
        folders = [(test_dir.name, test_dir)]
    return folders


def predict_tags(
    nlp: Language, gold_docs: Iterable[Doc], batch_size: Optional[int] = None
) -> Iterator[Tuple[Tags, Tags]]:
    """(gold tags, predicted tags) of each gold doc, streaming: the pipeline tags a Doc made
    of the gold words and spaces, so both sides have the same tokens."""
    inputs = (
        (Doc(nlp.vocab, words=[t.text for t in gold], spaces=[bool(t.whitespace_) for t in gold]), doc_tags(gold))
        for gold in gold_docs
    )
    for predicted, gold_tags in nlp.pipe(inputs, batch_size=batch_size, as_tuples=True):
        yield gold_tags, doc_tags(predicted)


def evaluate(nlp: Language, test_dir: Path, batch_size: Optional[int] = None, progress: bool = True) -> Dict:
    """Scores of `nlp` on the language folders under `test_dir` (see `multinerd.scoring`).
    Raises ValueError if there is nothing to score."""
    by_lang: Dict[str, Sequences] = {}
    for lang, folder in language_folders(test_dir):
        scored = predict_tags(nlp, read_docs(folder, nlp.vocab), batch_size)
        if progress:  # counts sentences as they are scored, and shows each language's total when done
            scored = tqdm(scored, desc=f"evaluating {lang}", unit=" sent", mininterval=1.0, file=sys.stderr)
        for gold_tags, predicted_tags in scored:
            add_tags(by_lang, lang, gold_tags, predicted_tags)
    return score_tags(by_lang)


def load_pipeline(model: str, gpu_id: int) -> Language:
    if not (Path(model).exists() or spacy.util.is_package(model)):
        fail(
            f"No pipeline at {model}: run `spacy project run train` first "
            "(or pass a trained pipeline folder such as training/cnn/model-best)."
        )
    if Path(model).is_dir() and not (Path(model) / "config.cfg").exists():
        fail(
            f"{model} is not a spaCy pipeline (no config.cfg): pass a folder such as "
            "training/cnn/model-best, written by `spacy project run train`."
        )
    if gpu_id >= 0:
        try:
            require_gpu(gpu_id)
        except Exception as err:  # no cupy, no such device
            fail(f"Can't use GPU {gpu_id}: {err}. Pass --gpu-id -1 for the CPU.")
    try:
        nlp = spacy.load(model)
    except Exception as err:
        fail(f"Can't load the pipeline {model}: {err}")
    if gpu_id >= 0:
        use_gpu_annotation_settings(nlp)
    factories = {nlp.get_pipe_meta(name).factory for name in nlp.pipe_names}
    if not factories & set(ENTITY_FACTORIES):
        msg.warn(
            f"{model} has no entity recognizer (pipes: {', '.join(nlp.pipe_names) or 'none'}): "
            "every word will be predicted O."
        )
    return nlp


@app.command()
def main(
    model: str = typer.Argument(
        ..., help="Trained pipeline: a folder such as training/cnn/model-best, or a package name"
    ),
    test_dir: Path = typer.Argument(..., help="Gold corpus: corpus/test (one folder of .spacy shards per language)"),
    output_dir: Path = typer.Argument(..., help="Where seqeval.json and seqeval.md go"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
    batch_size: int = typer.Option(0, min=0, help="Docs per batch; 0: the pipeline's own batch size"),
    spacy_scores: bool = typer.Option(True, help="Also write scores.json with spacy evaluate's scores"),
):
    if not test_dir.is_dir():
        fail(f"No test corpus at {test_dir}: run `spacy project run convert` first.")
    if not language_folders(test_dir):
        fail(
            f"No .spacy shards under {test_dir}: run `spacy project run convert` first "
            "(or check that the dataset has a test split for the chosen languages)."
        )
    nlp = load_pipeline(model, gpu_id)
    start = time.perf_counter()
    try:
        scores = evaluate(nlp, test_dir, batch_size or None)
    except ValueError as err:
        fail(
            f"Nothing scored in {test_dir} ({err}): run `spacy project run convert` first "
            "(or check that the dataset has a test split for the chosen languages)."
        )
    seconds = time.perf_counter() - start
    scores = {"model": model, "corpus": str(test_dir), **scores}
    output_dir.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output_dir / "seqeval.json", scores)
    markdown = render_markdown(scores)
    (output_dir / "seqeval.md").write_text(markdown, encoding="utf8")
    print(markdown)
    f1s = ", ".join(f"{mode} {100 * scores[mode]['overall']['f1']:.2f}" for mode in MODES)
    msg.good(
        f"F1 {f1s} on {scores['sentences']:,} sentences ({scores['tokens'] / max(seconds, 1e-9):,.0f} words/s); "
        f"wrote {output_dir / 'seqeval.json'} and {output_dir / 'seqeval.md'}"
    )
    if spacy_scores:
        del nlp  # spacy evaluate loads its own copy: one at a time in memory
        spacy_evaluate(model, test_dir, output=output_dir / "scores.json", use_gpu=gpu_id, silent=False)


if __name__ == "__main__":
    app()
