"""The benchmark's child processes, one role each (scripts/benchmark.py starts them and measures
them with `multinerd_dev.measure.run_measured`):

    python scripts/children.py ROLE SPEC.json

reads its settings from SPEC.json and writes its result to the file the spec names. Roles:
spacy-train (this project's training entry, with the loop timed), spacy-infer (nlp.pipe),
spacy-tags (tuning: word tags of the dev and test sets, untimed), spacy-calibration (the entity
scores' calibration fitted at fp32 and their ECE on test at each precision, untimed),
hf-train (the recipe as the MultiNERD notebook writes it: Trainer), hf-pipeline
(transformers.pipeline) and hf-forward (a plain batched forward pass of the recipe's model).

The inference roles run at the spec's "precision": fp32, or int8, where the spaCy side loads
with the product's setting (`spacy.load(model, config=...)`, multinerd.pipeline.precision) and
the peer's model gets the same dynamic quantization of its linear layers before it is used.
"""

import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import srsly
from recipe import (
    align_labels,
    text_of,
    word_tags_from_first_subtokens,
    word_tags_from_spans,
    word_tags_from_token_offsets,
)


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def read_test_texts(spec: Dict):
    """The test rows and their texts (recipe.text_of), as every inference child reads them."""
    rows = list(srsly.read_jsonl(spec["test"]))
    return rows, [text_of(row["tokens"], row["lang"]) for row in rows]


def timed_annotation(annotate_all: Callable[[List[str]], Any], texts: List[str], batch: int) -> Tuple[Any, Dict]:
    """The same timing for every side: one untimed warm-up batch, then one timed pass over all texts."""
    annotate_all(texts[:batch])
    start, start_cpu = time.perf_counter(), time.process_time()
    outputs = annotate_all(texts)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    return outputs, {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "texts": len(texts),
        "torch_threads": torch_threads(),
    }


def load_spacy(model: str, precision: str):
    """The trained pipeline at `precision`, as a user loads it (README, "Faster on a CPU: int8")."""
    import spacy

    if precision == "fp32":
        return spacy.load(model)
    return spacy.load(model, config={"nlp": {"after_pipeline_creation": {"precision": precision}}})


def load_peer(model: str, precision: str):
    """The recipe's fine-tuned model at `precision`: int8 is the product's own quantization
    (multinerd.pipeline.precision.quantize_module: per-channel int8 linear layers, those with
    outlier inputs left fp32), applied to the peer."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from multinerd.pipeline.precision import quantize_module

    loaded = AutoModelForTokenClassification.from_pretrained(model).eval()
    if precision == "int8":
        quantize_module(loaded, AutoTokenizer.from_pretrained(model))
    return loaded


def int8_layers(module) -> int:
    """How many of a torch module's linear layers are int8 (the report's proof of the precision)."""
    from torch.ao.nn.quantized.dynamic import Linear

    return sum(isinstance(layer, Linear) for layer in module.modules())


def text_scores(rows: List[Dict], from_text: List[List[str]]) -> Dict:
    """The score of the tags an annotator gave the test texts' words, against the gold tags."""
    from multinerd.evaluation.seqeval import micro_scores

    return micro_scores([row["tags"] for row in rows], from_text)


def spacy_train(spec: Dict) -> Dict:
    """The project's training entry (multinerd.training.run.train_pipeline), in this process, with the
    training loop and the evaluations timed."""
    set_threads(spec["threads"])
    import multinerd.training.loop as loop  # the project's resumable copy of spaCy's loop
    from multinerd.training.run import train_pipeline

    times = {"loop": 0.0, "eval": 0.0, "loop_cpu": 0.0, "eval_cpu": 0.0, "steps": 0, "words": 0}
    original_loop, original_eval = loop.train_while_improving, loop.create_evaluation_callback

    def timed_loop(*args, **kwargs):
        steps = original_loop(*args, **kwargs)
        while True:
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                item = next(steps)
            except StopIteration:
                times["loop"] += time.perf_counter() - start
                times["loop_cpu"] += time.process_time() - start_cpu
                return
            times["loop"] += time.perf_counter() - start
            times["loop_cpu"] += time.process_time() - start_cpu
            times["steps"] += 1
            times["words"] = item[1]["words"]
            yield item

    def timed_eval_callback(*args, **kwargs):
        evaluate = original_eval(*args, **kwargs)

        def timed_evaluate():
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                return evaluate()
            finally:
                times["eval"] += time.perf_counter() - start
                times["eval_cpu"] += time.process_time() - start_cpu

        return timed_evaluate

    loop.train_while_improving, loop.create_evaluation_callback = timed_loop, timed_eval_callback
    corpus = Path(spec["corpus"])
    paths = {
        "paths.train": str(corpus / "train"),
        "paths.dev": str(corpus / "dev_sample"),
        "paths.labels": str(corpus / "labels" / "ner.json"),
    }
    train_pipeline(
        Path(spec["config"]),
        Path(spec["output"]),
        corpus / "report.json",
        overrides=paths,
        max_steps=spec["max_steps"],
        transformer=spec["transformer"],
    )
    return {
        "train_seconds": times["loop"] - times["eval"],
        "train_cpu_seconds": times["loop_cpu"] - times["eval_cpu"],
        "eval_seconds": times["eval"],
        "steps": times["steps"],
        "words_seen": times["words"],
        "torch_threads": torch_threads(),
    }


def spacy_word_tags(nlp, rows: List[Dict], batch: int) -> List[List[str]]:
    """The pipeline run on the rows' words themselves (as the recipe is scored on them), with the
    spaces the product's converter gives them (none in Chinese): a tag per word."""
    from spacy.tokens import Doc

    from multinerd.data.corpus import Sentence, spaces_of

    docs = (
        Doc(nlp.vocab, words=row["tokens"], spaces=spaces_of(Sentence(row["tokens"], row["tags"], row["lang"], 0)))
        for row in rows
    )
    return [
        [(t.ent_iob_ + "-" + t.ent_type_) if t.ent_iob_ in ("B", "I") else "O" for t in doc]
        for doc in nlp.pipe(docs, batch_size=batch)
    ]


def spacy_tags(spec: Dict) -> Dict:
    """Tuning: the word tags of each evaluation set (spec["eval_sets"]: name -> JSONL), no timing."""
    set_threads(spec["threads"])
    import spacy

    nlp = spacy.load(spec["model"])
    return {
        "tags": {name: spacy_word_tags(nlp, list(srsly.read_jsonl(path)), spec["batch_size"])
                 for name, path in spec["eval_sets"].items()}
    }  # fmt: skip


def spacy_infer(spec: Dict) -> Dict:
    set_threads(spec["threads"])
    from multinerd.evaluation.seqeval import micro_scores

    rows, texts = read_test_texts(spec)
    batch = spec["batch_size"]
    nlp = load_spacy(spec["model"], spec.get("precision", "fp32"))
    docs, result = timed_annotation(lambda some: list(nlp.pipe(some, batch_size=batch)), texts, batch)
    result["int8_layers"] = int8_layers(nlp.get_pipe("transformer").model.transformer)
    if not spec.get("score", True):
        return result
    from_text = [
        word_tags_from_spans(row["tokens"], row["lang"], [(e.start_char, e.end_char, e.label_) for e in doc.ents])
        for row, doc in zip(rows, docs)
    ]
    # The score: the pipeline run on the test words themselves, as the recipe is scored on them.
    predicted = spacy_word_tags(nlp, rows, batch)
    gold = [row["tags"] for row in rows]
    return {
        **result,
        "scores": micro_scores(gold, predicted),
        "scores_from_text": text_scores(rows, from_text),
        "tags": {"test": predicted},
    }


def gold_docs(vocab, rows: List[Dict]):
    """The rows as gold Docs (their words, BIO tags as entities), as the product's corpus holds them."""
    from spacy.tokens import Doc

    return [Doc(vocab, words=row["tokens"], ents=row["tags"]) for row in rows]


def spacy_calibration(spec: Dict) -> Dict:
    """The product's calibration (multinerd.evaluation.calibration.calibrate) fitted at fp32 on the
    spec's calibration sentences, then the product's evaluation on the test corpus at each
    precision with that calibration: the ECE of the calibrated scores (untimed)."""
    set_threads(spec["threads"])
    from multinerd.evaluation.calibration import calibrate
    from multinerd.evaluation.evaluate import evaluate
    from multinerd.pipeline.entity_scores import entity_scores_name

    fp32 = load_spacy(spec["model"], "fp32")
    fitted = calibrate(fp32, gold_docs(fp32.vocab, list(srsly.read_jsonl(spec["calibration"]))))
    result = {"fitted": fitted}
    for precision in spec["precisions"]:
        nlp = fp32 if precision == "fp32" else load_spacy(spec["model"], precision)
        nlp.get_pipe(entity_scores_name(nlp)).set_calibration(fitted["calibration"])
        _, confidence = evaluate(nlp, Path(spec["test_dir"]), spec["batch_size"], progress=False)
        result[precision] = {key: confidence[key] for key in ("ece", "entities", "gold")}
    return result


def hf_train(spec: Dict) -> Dict:
    """The recipe, as the notebook writes it."""
    set_threads(spec["threads"])
    import numpy as np
    from datasets import Dataset
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from multinerd.evaluation.seqeval import micro_scores

    set_seed(spec["seed"])
    label_names = spec["labels"]
    label2id = {label: i for i, label in enumerate(label_names)}
    id2label = dict(enumerate(label_names))

    def load(path):
        rows = list(srsly.read_jsonl(path))
        return Dataset.from_dict(
            {"tokens": [r["tokens"] for r in rows], "ner_tags": [[label2id[t] for t in r["tags"]] for r in rows]}
        )

    tokenizer = AutoTokenizer.from_pretrained(spec["encoder"])

    def tokenize_and_align_labels(examples):
        tokenized_inputs = tokenizer(examples["tokens"], truncation=True, is_split_into_words=True)
        tokenized_inputs["labels"] = [
            align_labels(tokenized_inputs.word_ids(batch_index=i), label)
            for i, label in enumerate(examples["ner_tags"])
        ]
        return tokenized_inputs

    def compute_metrics(p):  # the notebook's, names and all (E741: its `l`)
        predictions, labels = p
        predictions = np.argmax(predictions, axis=2)
        true_predictions = [
            [label_names[p] for (p, l) in zip(prediction, label) if l != -100]  # noqa: E741
            for prediction, label in zip(predictions, labels)
        ]
        true_labels = [
            [label_names[l] for (p, l) in zip(prediction, label) if l != -100]  # noqa: E741
            for prediction, label in zip(predictions, labels)
        ]
        return micro_scores(true_labels, true_predictions)  # precision, recall, f1, accuracy (and support)

    start = time.perf_counter()
    train_ds = load(spec["train"]).map(tokenize_and_align_labels, batched=True)
    eval_sets = {name: load(path) for name, path in (spec.get("eval_sets") or {"test": spec["test"]}).items()}
    prepare_seconds = time.perf_counter() - start
    model = AutoModelForTokenClassification.from_pretrained(
        spec["encoder"], num_labels=len(label_names), id2label=id2label, label2id=label2id
    )
    args = TrainingArguments(
        output_dir=spec["output"],
        learning_rate=spec["learning_rate"],
        per_device_train_batch_size=spec["train_batch"],
        per_device_eval_batch_size=spec["train_batch"],
        num_train_epochs=spec["epochs"],
        max_steps=spec["steps"],
        weight_decay=spec["weight_decay"],
        lr_scheduler_type="linear",
        warmup_steps=spec["warmup_steps"],
        max_grad_norm=spec.get("grad_clip", 1.0),
        seed=spec["seed"],
        # Not timed in either side: no evaluation or checkpoints during training.
        eval_strategy="no",
        save_strategy="no",
        logging_steps=max(1, spec["steps"] // 10),
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    head_rate = spec.get("head_learning_rate")
    trainer = Trainer(
        model,
        args,
        train_dataset=train_ds,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        # The recipe: one rate; tuning may give the classifier a rate of its own (the Trainer's
        # schedule scales both groups alike).
        optimizers=(None, None) if head_rate is None else (head_rate_adamw(model, spec, head_rate), None),
    )
    start, start_cpu = time.perf_counter(), time.process_time()
    train_output = trainer.train()
    train_seconds, train_cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    # The recipe's evaluation (its compute_metrics over the first sub-tokens), and the benchmark's
    # score: the same predictions as one tag per word (a word with no sub-token left is O).
    tags, recipe_scores = {}, {}
    for name, raw in eval_sets.items():
        prediction = trainer.predict(raw.map(tokenize_and_align_labels, batched=True))
        recipe_scores[name] = {
            k.split("_", 1)[1]: v
            for k, v in prediction.metrics.items()
            if k.split("_", 1)[-1] in ("precision", "recall", "f1", "accuracy")
        }
        predicted_ids = np.argmax(prediction.predictions, axis=2)
        tags[name] = []
        for i, row in enumerate(raw):
            word_ids = tokenizer(row["tokens"], truncation=True, is_split_into_words=True).word_ids()
            tags[name].append(
                word_tags_from_first_subtokens(
                    word_ids, predicted_ids[i][: len(word_ids)], id2label, len(row["tokens"])
                )
            )
    test_gold = [[label_names[t] for t in row["ner_tags"]] for row in eval_sets["test"]]
    trainer.save_model(spec["output"])
    return {
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "prepare_seconds": prepare_seconds,
        "torch_threads": torch_threads(),
        "steps": train_output.global_step,
        "train_loss": train_output.training_loss,
        "scores": micro_scores(test_gold, tags["test"]),
        "recipe_compute_metrics": recipe_scores["test"],
        "tags": tags,
    }


def head_rate_adamw(model, spec: Dict, head_rate: float):
    """The Trainer's AdamW (weight decay on all but biases and LayerNorm weights), with the
    classifier's parameters at `head_rate` and the encoder's at the spec's learning rate."""
    import torch
    from transformers.pytorch_utils import ALL_LAYERNORM_LAYERS
    from transformers.trainer_pt_utils import get_parameter_names

    decay = {name for name in get_parameter_names(model, ALL_LAYERNORM_LAYERS) if "bias" not in name}
    groups = {}
    for name, parameter in model.named_parameters():
        head = name.startswith("classifier.")
        key = (head, name in decay)
        groups.setdefault(key, []).append(parameter)
    return torch.optim.AdamW(
        [
            {"params": params, "lr": head_rate if head else spec["learning_rate"],
             "weight_decay": spec["weight_decay"] if decayed else 0.0}
            for (head, decayed), params in groups.items()
        ],
        lr=spec["learning_rate"], betas=(0.9, 0.999), eps=1e-8,
    )  # fmt: skip


def hf_pipeline(spec: Dict) -> Dict:
    set_threads(spec["threads"])
    from transformers import AutoTokenizer, pipeline

    rows, texts = read_test_texts(spec)
    batch = spec["batch_size"]
    model = load_peer(spec["model"], spec.get("precision", "fp32"))
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    ner = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="first", device=-1)
    outputs, result = timed_annotation(lambda some: ner(some, batch_size=batch), texts, batch)
    result["int8_layers"] = int8_layers(model)
    from_text = [
        word_tags_from_spans(row["tokens"], row["lang"], [(e["start"], e["end"], e["entity_group"]) for e in entities])
        for row, entities in zip(rows, outputs)
    ]
    return {**result, "scores_from_text": text_scores(rows, from_text), "tags": {"test": from_text}}


def hf_forward(spec: Dict) -> Dict:
    set_threads(spec["threads"])
    import torch
    from transformers import AutoTokenizer

    rows, texts = read_test_texts(spec)
    batch = spec["batch_size"]
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = load_peer(spec["model"], spec.get("precision", "fp32"))

    def annotate(batch_texts):
        encoding = tokenizer(
            batch_texts, padding=True, truncation=True, return_offsets_mapping=True, return_tensors="pt"
        )
        offsets = encoding.pop("offset_mapping")
        with torch.inference_mode():
            predicted = model(**encoding).logits.argmax(-1)
        return offsets, predicted

    results, result = timed_annotation(
        lambda some: [annotate(some[i : i + batch]) for i in range(0, len(some), batch)], texts, batch
    )
    result["int8_layers"] = int8_layers(model)
    id2label = model.config.id2label
    from_text = []
    for b, (offsets, predicted) in enumerate(results):
        for j in range(offsets.shape[0]):
            row = rows[b * batch + j]
            from_text.append(
                word_tags_from_token_offsets(
                    row["tokens"], row["lang"], offsets[j].tolist(), predicted[j].tolist(), id2label
                )
            )
    return {**result, "scores_from_text": text_scores(rows, from_text)}


ROLES = {
    "spacy-train": spacy_train,
    "spacy-infer": spacy_infer,
    "spacy-tags": spacy_tags,
    "spacy-calibration": spacy_calibration,
    "hf-train": hf_train,
    "hf-pipeline": hf_pipeline,
    "hf-forward": hf_forward,
}


def main(role: str, spec_path: Path) -> None:
    spec = srsly.read_json(spec_path)
    srsly.write_json(spec["result"], ROLES[role](spec))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ROLES:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(ROLES)}}} SPEC.json")
    main(sys.argv[1], Path(sys.argv[2]))
