"""What the command-line scripts share."""

import sys
from enum import Enum
from pathlib import Path
from typing import NoReturn, Optional


def fail(message: str) -> NoReturn:
    """Say on one line what went wrong and what to do (stderr), and exit with status 1.

    (wasabi's msg.fail wraps long messages over several lines.)
    """
    print(f"✘ {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def config_problem(configs: Path, config: str) -> Optional[str]:
    """Why CONFIGS/<config>.cfg can't be trained (it is not there), as the line to show; None if it can."""
    if (configs / f"{config}.cfg").is_file():
        return None
    choices = ", ".join(sorted(path.stem for path in configs.glob("*.cfg")))
    return f"No {configs / config}.cfg: choose --vars.config from the configs in {configs}/ ({choices})."


class Loader(str, Enum):
    """How convert and annotate read their source: local files, a dataset through
    datasets.load_dataset, or auto (files if the source exists or looks like a path, else datasets)."""

    auto = "auto"
    files = "files"
    datasets = "datasets"


def parse_loader(value: str) -> Loader:
    """The Loader `--loader VALUE` names; else exit with one line naming the choices."""
    try:
        return Loader(value)
    except ValueError:
        hint = " (spelled as the library is: datasets)" if value == "dataset" else ""
        fail(f"--loader {value}: choose auto, files or datasets{hint}.")
