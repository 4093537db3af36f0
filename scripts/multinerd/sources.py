"""Whether a source that convert or annotate reads names local files or a Hugging Face dataset
id; each command passes the file suffixes it reads, so that neither depends on the other's formats."""

from pathlib import Path
from typing import Iterable


def is_local(source: str, suffixes: Iterable[str]) -> bool:
    """Whether a source names local files rather than a hub id (`user/name`): it exists, starts
    with `.`, `/` or `~`, ends in one of the data file `suffixes`, or has a separator and its first
    part is a folder here (`assets/missing`). Such a source that does not exist is reported as
    missing at once, never sent to the hub (where it would fail after a minute of retries)."""
    path = Path(source)
    parts = path.parts
    return (
        path.exists()
        or source.startswith((".", "/", "~"))
        or path.suffix.lower() in suffixes
        or (len(parts) > 1 and Path(parts[0]).is_dir())
    )
