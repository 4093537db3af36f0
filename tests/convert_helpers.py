"""Helpers shared by the converter's tests (test_readers, test_convert, test_convert_cli, test_roundtrip)."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from spacy.vocab import Vocab
from typer.testing import CliRunner

from multinerd.data.corpus import convert
from multinerd.data.docbins import read_docs
from multinerd.data.readers import read_files

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "multinerd_sample"
CONVERT = ROOT / "scripts" / "convert.py"


def write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_tsv(
    path: Path, sentences: Iterable[Tuple[Sequence[str], Sequence[str]]], extra: Sequence[str] = (), newline: str = "\n"
) -> Path:
    """MultiNERD/WikiNEuRal TSV: `<index>\\t<token>\\t<tag>[\\t<extra>...]`, a blank line between sentences."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = []
    for tokens, tags in sentences:
        blocks.append(
            newline.join("\t".join([str(i), token, tag, *extra]) for i, (token, tag) in enumerate(zip(tokens, tags)))
        )
    path.write_text((newline * 2).join(blocks) + newline, encoding="utf8", newline="")
    return path


def jsonl_rows(path: Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


def sample_rows(split_folder: str, lang: str) -> List[dict]:
    """Rows of one bundled sample file, e.g. ("train", "en") -> train/train_en.jsonl."""
    return jsonl_rows(SAMPLE / split_folder / f"{split_folder}_{lang}.jsonl")


def convert_source(src: Path, output: Path, lang: Optional[str] = None, **kwargs) -> dict:
    """Convert a file or folder in-process, as scripts/convert.py does with --loader files."""
    return convert(read_files(src, lang), output, **kwargs)


def docs(folder: Path) -> list:
    return list(read_docs(folder, Vocab()))


def summary(doc) -> Tuple[List[str], List[Tuple[int, int, str]]]:
    """A doc as (words, entity spans (start, end, label))."""
    return [t.text for t in doc], [(e.start, e.end, e.label_) for e in doc.ents]


def spans_of(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
    """Entity spans of a well-formed BIO sequence."""
    spans, start, label = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        if start is not None and not tag.startswith("I-"):
            spans.append((start, i, label))
            start = None
        if tag.startswith("B-"):
            start, label = i, tag[2:]
    return spans


def cli_env(tmp: Optional[Path] = None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONIOENCODING": "utf8"}
    if tmp is not None:  # keep datasets' cache out of ~/.cache
        env["HF_DATASETS_CACHE"] = str(tmp / "hf_datasets_cache")
        env["HF_HOME"] = str(tmp / "hf_home")
    return env


def run_cli_all(jobs: dict, tmp: Path, parallel: int = 4) -> dict:
    """Run `python scripts/convert.py ARGS` for each name -> args, `parallel` at a time (spaCy's start-up
    is slow, so the CLI tests run their processes side by side); name -> (exit status, stdout + stderr)."""
    pending, running, results = list(enumerate(jobs.items())), {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            index, (name, args) = pending.pop(0)
            log = tmp / "logs" / f"{index:02d}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w", encoding="utf8") as out:
                proc = subprocess.Popen(
                    [sys.executable, str(CONVERT), *map(str, args)],
                    cwd=ROOT,
                    env=cli_env(tmp),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            running[name] = (proc, log, time.monotonic())
        for name, (proc, log, started) in list(running.items()):
            if proc.poll() is not None:
                results[name] = (proc.returncode, log.read_text(encoding="utf8"))
                del running[name]
            elif time.monotonic() - started > 300:
                proc.kill()
                raise TimeoutError(f"convert.py {jobs[name]} ran over 300 s")
        time.sleep(0.05)
    return results


def flat(text: str) -> str:
    """Output with line breaks folded into spaces: wasabi wraps long messages at 80 columns."""
    return " ".join(text.split())


def tree_digest(path: Path) -> str:
    """A digest of a file, or of a folder's every path and every file's bytes ("" if missing):
    equal digests, byte-identical trees."""
    if not path.exists():
        return ""
    digest = hashlib.sha256()
    for item in [path] if path.is_file() else sorted(path.rglob("*")):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        if item.is_file():
            digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()


def convert_in_process(*args) -> Tuple[int, str, str]:
    """scripts/convert.py's command line, run in this process (no start-up cost): (exit code,
    stdout, stderr). An exception other than the exit is re-raised: a user would see a traceback."""
    import convert as convert_script

    result = CliRunner().invoke(convert_script.app, [str(arg) for arg in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def failure_line(stderr: str) -> str:
    """The one line a failed run printed (stderr must hold nothing else)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("✘"), stderr
    return lines[0]
