"""Outputs that are either the previous ones or complete new ones, whatever happens.

A run builds its outputs in a work folder inside the output folder, `.convert-XXXXXXXX`, which
it holds a lock on (`flock`) for as long as it lives. It then marks the folder complete and
moves each output into place (a rename each), moving the outputs it replaces into the work
folder, which it removes. A run killed at any point leaves its work folder behind, unlocked:
the next run into the same output folder removes it, or, if it was marked complete (killed
while moving), first finishes moving its outputs into place, so the outputs are never left
half old, half new. Runs in the same output folder take turns (a lock on the output folder) to
clean up and to move outputs into place, and never touch the work folder of a run alive.
"""

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

WORK_PREFIX = ".convert-"
COMPLETE = "complete"  # in a work folder: its outputs are finished and are being moved into place
REPLACED = "replaced"  # in a work folder: the previous outputs it has moved out of the way


class OutputError(Exception):
    """An output folder that can't be used: a file, or part of the data being read."""


def check_output(output: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output folder that is a file, or that is, contains or lies inside an input: a
    run replaces folders such as train/ and test/ in its output folder, and must never touch
    the data it reads."""
    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} is a file, not a folder: pass a folder for the corpus (made if missing).")
    out = output.resolve()
    for source in inputs:
        src = source.resolve()
        if out == src:
            relation = "is the data being read"
        elif src in out.parents:
            relation = f"lies inside the data being read ({source})"
        elif out in src.parents:
            relation = f"contains the data being read ({source})"
        else:
            continue
        raise OutputError(
            f"{output} {relation}, and converting would replace folders in it: "
            "pass an output folder outside the data, such as corpus/."
        )


@contextmanager
def _locked(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive lock on a folder while the block runs; with blocking=False, whether it was free."""
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _move_outputs(work: Path, output: Path, names: Sequence[str]) -> None:
    """Move the outputs `names` from `work` into `output`, the ones there into work/replaced.
    Safe to repeat after an interruption: an output already moved is skipped."""
    replaced = work / REPLACED
    replaced.mkdir(exist_ok=True)
    for name in names:
        new, target = work / name, output / name
        if not (new.exists() or new.is_symlink()):
            continue
        if target.exists() or target.is_symlink():
            os.replace(target, replaced / name)
        os.replace(new, target)


def _recover(output: Path, names: Sequence[str]) -> None:
    """Deal with the work folders of runs that died (unlocked ones): finish moving the outputs of
    a complete one into place, then remove it. Call with the output folder locked."""
    for work in sorted(output.glob(WORK_PREFIX + "*")):
        if not work.is_dir():
            continue
        with _locked(work, blocking=False) as free:
            if not free:
                continue  # a run alive
            if (work / COMPLETE).exists():
                _move_outputs(work, output, names)
            shutil.rmtree(work)


def recover(output: Path, names: Sequence[str]) -> None:
    """Deal with the work folders that runs into `output` left when they died (`_recover`)."""
    if output.is_dir():
        with _locked(output):
            _recover(output, names)


@contextmanager
def staged(output: Path, names: Sequence[str]) -> Iterator[Path]:
    """A fresh work folder in `output` (made if missing), locked while the block runs and removed
    after it. The outputs `names` the block writes into it replace those in `output` only when
    `commit` is called; left-overs of runs that died are dealt with first (`_recover`)."""
    output.mkdir(parents=True, exist_ok=True)
    with _locked(output):
        _recover(output, names)
        work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=output))
        hold = os.open(work, os.O_RDONLY)
        fcntl.flock(hold, fcntl.LOCK_EX)  # taken before the output folder's lock is let go: never unowned
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.close(hold)


def commit(work: Path, output: Path, names: Sequence[str]) -> None:
    """Move the finished outputs `names` of the work folder into `output` (see the module)."""
    with _locked(output):
        _recover(output, names)  # a run that died while moving is finished first, not later over ours
        (work / COMPLETE).touch()
        _move_outputs(work, output, names)
