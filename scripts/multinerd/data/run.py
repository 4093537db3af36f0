"""The convert command's run: read the source (local files or a dataset), write the corpus under
a progress bar, and turn what can go wrong into one line (ConvertError)."""

import errno
import sys
from pathlib import Path
from typing import Dict, List, Optional

import srsly
from spacy.cli._util import string_to_list
from tqdm import tqdm

from multinerd.cli import Loader
from multinerd.data.corpus import InvalidRow, NoTrainingSentences, convert
from multinerd.data.readers import FORMATS, SourceError, read_files, read_hub
from multinerd.data.staging import OutputError
from multinerd.sources import is_local


class ConvertError(Exception):
    """Why a conversion stopped, as the one line to show (nothing in the output was replaced)."""


def parse_langs(langs: str) -> Optional[List[str]]:
    """`all` -> None (no filter); `de,en` -> ["de", "en"]."""
    if langs.strip().lower() in ("", "all"):
        return None
    return string_to_list(langs)


def parse_labels(labels: Optional[str]) -> Optional[List[str]]:
    """--labels: a file (a JSON list, `labels/ner.json` as `spacy init labels` writes it, or one
    label a line), else a list such as `PER,ORG,LOC,MISC`; None if not given."""
    if labels is None:
        return None
    path = Path(labels)
    if not path.is_file():
        return string_to_list(labels)
    if path.suffix.lower() == ".json":
        data = srsly.read_json(path)
        return sorted(data["1"]) if isinstance(data, dict) else list(data)  # "1": the BEGIN action's labels
    return [line.strip() for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


def os_error_message(err: OSError, output: Path) -> str:
    """One line for a file system error: which file, what, and what to do."""
    where = err.filename or output
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        what = f"free some space there, or pass an output folder on another disk (nothing in {output} was replaced)"
    elif Path(where).resolve().is_relative_to(output.resolve()):
        what = "pass an output folder you can write to"
    else:
        what = "check that it exists and can be read"
    return f"{where}: {err.strerror or err}: {what}."


def build_corpus(
    source: str,
    output: Path,
    *,
    loader: Loader,
    langs: str,
    lang: Optional[str],
    shard_size: int,
    seed: int,
    dev_sample: int,
    skip_invalid: bool,
    labels: Optional[str],
    dedupe: bool,
    allow_no_train: bool,
) -> Dict:
    """Convert SOURCE into the corpus folder OUTPUT (see multinerd.data.corpus) and return the
    report; raise ConvertError with the line to show."""
    use_files = loader == Loader.files or (loader == Loader.auto and is_local(source, FORMATS))
    rows = read_files(Path(source), lang) if use_files else read_hub(source, lang)
    # A local folder read through datasets is an input too.
    inputs = [Path(source)] if use_files or Path(source).exists() else []
    # delay: none at all for a run that stops at once, so that a failure is the one line it prints
    progress = tqdm(unit=" sent", unit_scale=True, desc="converting", mininterval=1.0, delay=1.0, file=sys.stderr)
    try:
        return convert(
            rows,
            output,
            langs=parse_langs(langs),
            shard_size=shard_size,
            seed=seed,
            skip_invalid=skip_invalid,
            dev_sample_size=dev_sample,
            on_row=progress.update,
            source=source,
            labels=parse_labels(labels),
            dedupe=dedupe,
            require_train=not allow_no_train,
            inputs=inputs,
        )
    except InvalidRow as err:
        raise ConvertError(f"{err}. Fix the data, or pass --skip-invalid to skip bad rows and count them.") from err
    except (SourceError, OutputError, NoTrainingSentences) as err:
        raise ConvertError(str(err)) from err
    except OSError as err:
        raise ConvertError(os_error_message(err, output)) from err
    finally:
        progress.close()
