"""spaCy's training loop (`spacy.training.loop.train` and `train_while_improving`, same steps,
evaluations, outputs and logger) made resumable: it writes a checkpoint (multinerd.training.checkpoint)
every `checkpoint_every` steps and at each evaluation, and a run started where a checkpoint
exists continues from it, as the uninterrupted run would have. It also writes a JSONL log of
each step's losses and each evaluation's scores (LOG), which scripts/evaluate.py plots.

spaCy can't resume (its loop keeps the optimizer, the schedules and the data position in local
variables), hence this copy; the parts that need no state are spaCy's own functions.
"""

import shutil
import time
from itertools import islice
from pathlib import Path
from typing import IO, Dict, Iterator, List, Optional, Tuple

import srsly
from confection import Config
from spacy.schemas import ConfigSchemaTraining
from spacy.tokens import DocBin
from spacy.training.augment import dont_augment
from spacy.training.corpus import FILE_TYPE, Corpus, walk_corpus
from spacy.training.initialize import init_nlp
from spacy.training.loop import (
    DIR_MODEL_BEST,
    DIR_MODEL_LAST,
    create_before_to_disk_callback,
    create_evaluation_callback,
    create_train_batches,
    subdivide_batch,
    update_meta,
)
from spacy.util import registry, resolve_dot_names
from thinc.api import constant, fix_random_seed, set_gpu_allocator
from wasabi import Printer

from multinerd.data.staging import commit, recover, staged
from multinerd.training.checkpoint import (
    CHECKPOINT,
    ResumeRefused,
    fingerprint,
    load_pipeline,
    read_fingerprint,
    reseed_gpu,
    restore_state,
    save_checkpoint,
    what_changed,
)

LOG = "log.jsonl"
COST = "cost.json"
# Replaced together: model-best is the best evaluation up to the checkpoint's step.
CHECKPOINT_OUTPUTS = (CHECKPOINT, DIR_MODEL_BEST)


def corpus_paths(config: Config) -> Tuple[Path, ...]:
    """The training and dev corpora's paths: what the run reads."""
    return tuple(Path(config["paths"][name]) for name in ("train", "dev") if config["paths"].get(name))


def _duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m {int(seconds) % 60:02d}s"


def _truncate_log(log: Path, last_step: int) -> None:
    """Keep the log's rows up to `last_step` (the checkpoint's): the steps after it run again."""
    rows = [row for row in srsly.read_jsonl(log) if row["step"] <= last_step] if log.exists() else []
    tmp = log.with_name(log.name + ".tmp")
    srsly.write_jsonl(tmp, rows)
    tmp.replace(log)


def training_batches(
    nlp, corpus, batcher, batcher_config: Dict, max_epochs: int, first: int
) -> Iterator[Tuple[int, list]]:
    """spaCy's (epoch, batch) stream of training batches from the `first`-th on.

    A streamed spacy.Corpus (read in a fixed order) in batches of a fixed number of sentences
    (spacy.batch_by_sequence.v1, as both configs) is entered at its position directly: the
    epoch and the document follow from the corpus's size, which the DocBin files give without
    building their docs, and only the documents from there on are read. Any other reader or
    batcher is read from the start and its first batches dropped (minutes, at MultiNERD's size).
    """
    size = batcher_config.get("size")
    plain = (
        max_epochs < 0
        and isinstance(corpus, Corpus)
        and not (corpus.shuffle or corpus.limit or corpus.max_length or corpus.gold_preproc)
        and corpus.augmenter is dont_augment
        and batcher_config.get("@batchers") == "spacy.batch_by_sequence.v1"
        and isinstance(size, int)
        and batcher_config.get("get_length") is None
    )
    if first == 0 or not plain:
        return islice(create_train_batches(nlp, corpus, batcher, max_epochs), first, None)
    files = walk_corpus(corpus.path, FILE_TYPE)
    # Corpus yields each non-empty document once (no limit, no splitting): that is the epoch.
    counts = [sum(1 for tokens in DocBin().from_disk(path).tokens if len(tokens)) for path in files]
    epoch, within = divmod(first, -(-sum(counts) // size))  # the last batch of an epoch may be short

    def documents() -> Iterator:
        skip = within * size
        for path, count in zip(files, counts):
            if skip >= count:
                skip -= count
                continue
            docs = (doc for doc in DocBin().from_disk(path).get_docs(nlp.vocab) if len(doc))
            yield from islice(docs, skip, None)
            skip = 0

    def stream() -> Iterator[Tuple[int, list]]:
        yield from ((epoch, batch) for batch in batcher(corpus.make_examples(nlp, documents())))
        yield from ((epoch + 1 + later, batch) for later, batch in create_train_batches(nlp, corpus, batcher, -1))

    return stream()


def train_resumable(
    config: Config,
    output: Path,
    *,
    use_gpu: int = -1,
    checkpoint_every: int = 0,
    restart: bool = False,
    stdout: IO,
    stderr: IO,
) -> int:
    """Train the pipeline `config` describes into `output` (model-best, model-last, LOG), from
    its checkpoint if there is one (unless `restart`). Returns the last step.

    Raises ResumeRefused if the checkpoint was written by a run with a different config, corpus,
    code or libraries."""
    msg = Printer(no_print=True)
    output.mkdir(parents=True, exist_ok=True)
    recover(output, CHECKPOINT_OUTPUTS)  # a run killed while replacing its checkpoint: finish that first
    checkpoint, log = output / CHECKPOINT, output / LOG
    if restart and checkpoint.exists():
        shutil.rmtree(checkpoint)
        print(msg.info(f"Removed {checkpoint} (--restart): training starts at step 0"), file=stdout, flush=True)
    resume = checkpoint.exists()
    nlp = load_pipeline(checkpoint) if resume else init_nlp(config, use_gpu=use_gpu)
    # Taken once the pipeline is built, so that the code includes the modules that build it.
    this_run = fingerprint(config, corpus_paths(config.interpolate()))
    if resume:
        changed = what_changed(read_fingerprint(checkpoint), this_run)
        if changed:
            raise ResumeRefused(
                f"The checkpoint in {checkpoint} was written before a change to {changed}: undo the change to "
                "resume, or pass --restart (spacy project run: --vars.training_start=restart) to discard it."
            )
    resolved = nlp.config.interpolate()
    if use_gpu >= 0 and resolved["training"]["gpu_allocator"]:
        set_gpu_allocator(resolved["training"]["gpu_allocator"])
    if not resume and resolved["training"]["seed"] is not None:
        fix_random_seed(resolved["training"]["seed"])  # after initializing, as spacy train does
    T = registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
    optimizer = T["optimizer"]
    if resume:
        if T["max_epochs"] >= 0:
            raise ResumeRefused(
                f"Training resumes only on a streamed corpus (training.max_epochs = -1, not {T['max_epochs']}): "
                f"set it to -1, or pass --restart to discard {checkpoint}."
            )
        loop = restore_state(checkpoint, nlp, optimizer)
        for _ in range(loop["step"] + 1):  # the schedules' next(): once per step done
            optimizer.step_schedules()
        reseed_gpu(T["seed"] or 0, loop["step"])
        # One line (wasabi would wrap it): the step, the time kept.
        print(
            f"ℹ Resuming from the checkpoint at step {loop['step']:,} of {T['max_steps']:,}: "
            f"{_duration(loop['seconds'])} of training kept, last evaluated at step {loop['info']['step']:,} "
            "(--restart starts again)",
            file=stdout,
            flush=True,
        )
    else:
        loop = {"step": -1, "epoch": 0, "words": 0, "seconds": 0.0, "losses": {}, "results": [], "info": None}
    _truncate_log(log, loop["step"])
    return _run(nlp, optimizer, T, resolved, output, loop, this_run, checkpoint_every, stdout, stderr)


def _run(nlp, optimizer, T, config, output: Path, loop, this_run, checkpoint_every: int, stdout, stderr) -> int:
    """spaCy's train() from step loop["step"] + 1, with checkpoints and the log."""
    msg = Printer(no_print=True)
    train_corpus, dev_corpus = resolve_dot_names(config, [T["train_corpus"], T["dev_corpus"]])
    before_to_disk = create_before_to_disk_callback(T["before_to_disk"])
    exclude = T["frozen_components"]
    first = loop["step"] + 1
    batches = training_batches(nlp, train_corpus, T["batcher"], config["training"]["batcher"], T["max_epochs"], first)
    if loop["results"] and _stop(loop["results"], loop["step"], T["max_steps"], T["patience"]):
        batches = iter(())  # killed after its last step, before removing its checkpoint: only model-last is left
    print(msg.info(f"Pipeline: {nlp.pipe_names}"), file=stdout, flush=True)
    print(msg.info(f"Initial learn rate: {optimizer.learn_rate}"), file=stdout, flush=True)
    with nlp.select_pipes(disable=exclude):
        log_step, finalize_logger = T["logger"](nlp, stdout, stderr)
    if loop["info"] is not None:
        # The last evaluation's row again, at the checkpoint's step: the progress bar starts there.
        log_step(dict(loop["info"], step=loop["step"]))
    # Module globals, looked up when called: the benchmarks time the steps by replacing these two.
    evaluate = create_evaluation_callback(nlp, dev_corpus, T["score_weights"])
    steps = train_while_improving(nlp, optimizer, batches, evaluate, T, loop)
    step = loop["step"]
    with (output / LOG).open("a", encoding="utf8") as log_file:
        try:
            for _, info, is_best, row in steps:
                step = info["step"]
                if is_best is not None:
                    with nlp.select_pipes(disable=exclude):
                        update_meta(T, nlp, info)
                log_file.write(srsly.json_dumps(row) + "\n")
                log_file.flush()
                done = _stop(loop["results"], step, T["max_steps"], T["patience"])
                if is_best is not None or (checkpoint_every and not step % checkpoint_every) or done:
                    # The losses as the next step starts: spaCy empties them after an evaluation.
                    state = dict(
                        loop, step=step, epoch=info["epoch"], losses={} if is_best is not None else info["losses"]
                    )
                    _write_checkpoint(output, nlp, optimizer, state, this_run, before_to_disk, bool(is_best), T["seed"])
                log_step(info if is_best is not None else None)
        finally:
            finalize_logger()
    with staged(output, [DIR_MODEL_LAST]) as work:
        with nlp.use_params(optimizer.averages or {}):
            before_to_disk(nlp).to_disk(work / DIR_MODEL_LAST)
        commit(work, output, [DIR_MODEL_LAST])
    shutil.rmtree(output / CHECKPOINT, ignore_errors=True)  # training is over: nothing to resume
    print(msg.good("Saved pipeline to output directory", output / DIR_MODEL_LAST), file=stdout, flush=True)
    return step


def train_while_improving(
    nlp, optimizer, batches, evaluate, T, loop
) -> Iterator[Tuple[list, Dict, Optional[bool], Dict]]:
    """spaCy's train_while_improving from step loop["step"] + 1 (its schedules advanced to it),
    keeping its state in `loop`: yields (batch, info, is_best_checkpoint, the step's log row)."""
    exclude, annotating = T["frozen_components"], T["annotating_components"]
    dropouts = constant(T["dropout"]) if isinstance(T["dropout"], float) else T["dropout"]
    for _ in range(loop["step"] + 1):
        next(dropouts)
    losses: Dict[str, float] = loop["losses"]
    started = time.perf_counter() - loop["seconds"]
    for step, (epoch, batch) in enumerate(batches, start=loop["step"] + 1):
        if T["before_update"]:
            T["before_update"](nlp, {"step": step, "epoch": epoch})
        dropout = next(dropouts)
        before = dict(losses)
        for subbatch in subdivide_batch(batch, T["accumulate_gradient"]):
            nlp.update(subbatch, drop=dropout, losses=losses, sgd=False, exclude=exclude, annotates=annotating)
        for name, proc in nlp.pipeline:
            if name not in exclude and getattr(proc, "is_trainable", False) and proc.model not in (True, False, None):
                proc.finish_update(optimizer)
        learn_rate = optimizer.learn_rate
        optimizer.step_schedules()
        loop["words"] += sum(len(eg) for eg in batch)
        row = {"step": step, "epoch": epoch, "words": loop["words"], "learn_rate": learn_rate,
               "losses": {k: float(v - before.get(k, 0.0)) for k, v in losses.items()}}  # fmt: skip
        is_best = None
        if not step % T["eval_frequency"]:
            with nlp.use_params(optimizer.averages or {}):
                score, other_scores = evaluate()
            loop["results"].append((score, step))
            is_best = score == max(loop["results"])[0]
            row.update(score=score, scores=other_scores)
        loop["seconds"] = time.perf_counter() - started
        row["seconds"] = round(loop["seconds"], 3)
        info = {"epoch": epoch, "step": step, "score": row.get("score"), "other_scores": row.get("scores"),
                "losses": losses, "checkpoints": loop["results"], "seconds": int(loop["seconds"]),
                "words": loop["words"]}  # fmt: skip
        if is_best is not None:
            loop["info"] = dict(info, losses=dict(losses))
        yield batch, info, is_best, row
        if is_best is not None:
            losses = {}
        if _stop(loop["results"], step, T["max_steps"], T["patience"]):
            break


def _stop(results: List[Tuple[float, int]], step: int, max_steps: int, patience: int) -> bool:
    """spaCy's stopping rules: `patience` steps without a better evaluation, or the last step."""
    best_step = -max((score, -at) for score, at in results)[1]  # the earliest of equal scores
    return bool(patience and step - best_step >= patience) or bool(max_steps and step >= max_steps)


def _write_checkpoint(output: Path, nlp, optimizer, loop, this_run, before_to_disk, is_best: bool, seed) -> None:
    """Replace OUTPUT/checkpoint (and OUTPUT/model-best after a better evaluation), atomically."""
    with staged(output, CHECKPOINT_OUTPUTS) as work:
        started = time.perf_counter()
        save_checkpoint(work / CHECKPOINT, nlp, optimizer, loop, this_run)
        if is_best:
            with nlp.use_params(optimizer.averages or {}):
                before_to_disk(nlp).to_disk(work / DIR_MODEL_BEST)
        written = sum(path.stat().st_size for path in work.rglob("*") if path.is_file())
        # What this checkpoint cost, to weigh checkpoint_every against (benchmarks/gpu's rehearsal reads it).
        srsly.write_json(
            work / CHECKPOINT / COST, {"step": loop["step"], "bytes": written, "seconds": time.perf_counter() - started}
        )
        commit(work, output, CHECKPOINT_OUTPUTS)
    reseed_gpu(seed or 0, loop["step"])
