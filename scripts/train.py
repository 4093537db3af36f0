"""Train a pipeline on a converted corpus: `spacy train`, with the training length set from the
corpus size (the corpus streams) and the transformer checked before anything else starts."""
from pathlib import Path
from typing import Optional

import typer
from spacy.cli.train import train
from spacy.util import load_config
from wasabi import msg

import multinerd.tokenizer  # noqa: F401  registers the tokenizer the configs name
from multinerd.cli import fail
from multinerd.training import TransformerUnavailable, check_transformer, train_sentences, training_overrides

app = typer.Typer(add_completion=False)


@app.command()
def main(
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="configs/cnn.cfg or configs/trf.cfg"),
    output: Path = typer.Argument(..., help="Where model-best and model-last go"),
    corpus: Path = typer.Option(Path("corpus"), help="Folder written by scripts/convert.py"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
    max_steps: int = typer.Option(0, help="Training steps; 0: [multinerd] epochs over the training split"),
    transformer: Optional[str] = typer.Option(None, help="Transformer name or local folder (trf config)"),
):
    n_train = train_sentences(corpus)
    if not n_train:
        fail(f"No training sentences in {corpus}: run `spacy project run convert` first "
                 "(or check that the dataset has a train split for the chosen languages).")
    config = load_config(config_path)
    overrides = training_overrides(config, n_train, max_steps, gpu_id)
    if "transformer" in config["components"]:
        name = transformer or config["components"]["transformer"]["model"]["name"]
        try:
            check_transformer(name)
        except TransformerUnavailable as err:
            fail(str(err))
        overrides["components.transformer.model.name"] = name
    overrides.update({
        "paths.train": str(corpus / "train"),
        "paths.dev": str(corpus / "dev_sample"),
        "paths.labels": str(corpus / "labels" / "ner.json"),
    })
    msg.info(f"{n_train:,} training sentences: {overrides['training.max_steps']:,} steps")
    train(config_path, output, use_gpu=gpu_id, overrides=overrides)


if __name__ == "__main__":
    app()
