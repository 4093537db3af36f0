"""Try a pipeline in a browser: a page served on 127.0.0.1 (multinerd.visualize.page).

    python scripts/visualize.py xx_multinerd --port 8501

MODEL: an installed package (xx_multinerd, after `spacy project run all`) or a pipeline folder.
The page shows a text's entities in colour with their scores, a threshold slider, a table of the
entities and the alternatives the pipeline considered, and the model's card (test scores per
type and per language, the reliability plot). Ctrl+C stops it.
"""

import typer

from multinerd.cli import fail
from multinerd.visualize.page import HOST, VisualizeError, serve

app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: str = typer.Argument(..., help="Installed package (xx_multinerd) or pipeline folder"),
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port on 127.0.0.1"),
    host: str = typer.Option(HOST, "--host", help="Interface to serve on (127.0.0.1: this machine only)"),
) -> None:
    try:
        serve(model, port, host)
    except VisualizeError as error:
        fail(str(error))


if __name__ == "__main__":
    app()
