"""Check that the chosen config exists before a workflow runs any step, so that a typo such as
`--vars.config=bert` gets one line naming the configs there, not weasel's missing-dependency
message ("Maybe you forgot to run the 'weasel assets' command?") after the conversion.

    python scripts/check_config.py configs cnn
"""

from pathlib import Path

import typer
from wasabi import msg

from multinerd.cli import config_problem, fail

app = typer.Typer(add_completion=False)


@app.command()
def main(
    configs: Path = typer.Argument(..., help="The folder of configs, e.g. configs"),
    config: str = typer.Argument(..., help="The config's name without .cfg, e.g. cnn"),
):
    problem = config_problem(configs, config)
    if problem:
        fail(problem)
    msg.good(f"Config {configs / config}.cfg")


if __name__ == "__main__":
    app()
