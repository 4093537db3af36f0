"""The private parts of spaCy, spacy-transformers, thinc and PyTorch this project relies on: what
to check first when upgrading them (requirements.txt pins the versions).

Checked against spacy 3.8.18, spacy-transformers 1.4.0, thinc 8.3.x, torch 2.13 and ray 2.60.0
(Ray through its public API, ray.init, ray.data, DataContext and ActorPoolStrategy, and the text
of one of its log lines).
Each entry of INTERNALS names the internal, where it is used, why, and the test that fails if it
changes. Nothing imports this module: it is the list, kept beside the code.
"""

from typing import NamedTuple, Tuple


class Internal(NamedTuple):
    name: str
    used_in: str
    why: str
    caught_by: str


INTERNALS: Tuple[Internal, ...] = (
    Internal(
        "spacy.pipeline._parser_internals.ner.BiluoPushDown.get_actions",
        "multinerd/data/corpus.py (ner_label_data)",
        "corpus/labels/ner.json holds the NER moves exactly as spaCy's initialisation derives them",
        "tests/test_convert.py::test_labels_file_initialises_ner_as_the_data_would",
    ),
    Internal(
        "spacy.tokens._dict_proxies.SpanGroups._EMPTY_BYTES and DocBin's lists (tokens, spaces, flags, "
        "cats, span_groups, strings)",
        "multinerd/data/corpus.py (the shard writer)",
        "sentences are written into DocBins as columns, without building a Doc each (the conversion's speed)",
        "tests/test_roundtrip.py::test_shard_writer_writes_what_docbin_add_writes",
    ),
    Internal(
        "spacy.training.loop's helpers (create_train_batches, subdivide_batch, create_evaluation_callback, "
        "create_before_to_disk_callback, update_meta) and the body of train / train_while_improving",
        "multinerd/training/loop.py (a copy of spaCy's loop that can stop and resume)",
        "a resumed run must take the same steps as spaCy's uninterrupted one",
        "tests/test_resume.py::test_the_rerun_resumes_and_ends_as_an_uninterrupted_run",
    ),
    Internal(
        "thinc Optimizer's tables (mom1, mom2, averages, nr_update, last_seen), keyed by model node id",
        "multinerd/training/checkpoint.py (save_optimizer, load_optimizer)",
        "a checkpoint holds Adam's moments, which thinc's Optimizer does not serialise",
        "tests/test_resume.py::test_the_rerun_resumes_and_ends_as_an_uninterrupted_run",
    ),
    Internal(
        "thinc PyTorchShim._grad_scaler (torch GradScaler's _scale and _growth_tracker)",
        "multinerd/training/checkpoint.py (grad_scaler_states)",
        "fp16 training on a GPU resumes with the loss scale it had",
        "benchmarks/gpu rehearse-resume (on a GPU only; CPU runs have no scaler to restore)",
    ),
    Internal(
        "spacy-transformers' shim serialisation (the msgpack layout of a transformer component's model "
        "file and HFShim's weights as a torch zip)",
        "multinerd/annotation/mapped_loading.py (re-implements the load without copies)",
        "annotation maps the transformer's weights instead of holding ~5 copies in memory",
        "tests/test_annotate_loading.py::test_mapped_weights_annotate_exactly_as_spacy_load",
    ),
    Internal(
        "Ray's core worker log line 'core_worker.cc:N: Actor with class name: ... has constructor arguments "
        "in the object store' (its text, matched by ACTOR_ARGUMENTS_ERROR)",
        "multinerd/annotation/ray_engine.py (_without: the driver's stderr less that line)",
        "a successful Ray run shows no error-level line; Ray Data always puts actor arguments in the store",
        "benchmarks/annotate/tests/test_annotate_engines.py::"
        "test_a_killed_driver_leaves_no_process_and_the_rerun_completes_exactly_once (assert_quiet)",
    ),
    Internal(
        "spacy.cli._util (parse_config_overrides, string_to_list, import_code)",
        "scripts/train.py, scripts/convert.py, multinerd/annotation/engine.py",
        "the scripts take spaCy's own option syntax (--paths.train, comma lists, --code)",
        "tests/test_resume.py, tests/test_convert_cli.py, tests/test_annotate.py",
    ),
)
