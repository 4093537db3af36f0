"""scripts/annotate.py with the local engine: inputs cut into blocks and read back exactly
(every format, ids, carried fields, bad rows), the same entities as a plain nlp.pipe in this
process (worker processes and Ray: benchmarks/annotate/tests/test_annotate_engines.py, to keep
this suite fast), and the output folder: atomic part files, resume, --overwrite,
runs that must not mix."""

import fcntl

import pyarrow
import pyarrow.parquet
import pytest
import srsly
from annotate import app
from annotate_helpers import (
    build_annotate_model,
    entities_by_id,
    generated_texts,
    output_rows,
    pipe_entities,
    sample_test_texts,
    write_jsonl_texts,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from multinerd.annotation.engine import LOCK, MANIFEST, BlockAnnotator, Options
from multinerd.annotation.inputs import InputError, ReadSettings, find_sources, plan_input, read_block


@pytest.fixture(scope="module")
def annotate_model(tmp_path_factory, sample_corpus):
    return build_annotate_model(tmp_path_factory, sample_corpus)


def read_all(input, block_size=3, **settings):
    """Every block of an input read: (rows, skipped, problems)."""
    plan = plan_input(find_sources(str(input)), block_size, settings.get("skip_invalid", False))
    rows, skipped, problems = [], 0, []
    for block in plan.blocks:
        read = read_block(block, ReadSettings(**settings))
        skipped += read.skipped
        if read.problem:
            problems.append(read.problem)
        else:
            rows.extend(read.table.to_pylist())
    return rows, skipped, problems


def run(*args):
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result


def one_line_error(result) -> str:
    """The message of a failed run: exit status 1, one line, the last on stderr (a progress bar
    may have been drawn before it)."""
    assert result.exit_code == 1, result.output
    messages = [line for line in result.stderr.splitlines() if line.startswith("✘")]
    assert len(messages) == 1 and result.stderr.rstrip().endswith(messages[0]), result.stderr
    return messages[0]


# --- inputs ------------------------------------------------------------------------------------

lines = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=8), max_size=12
)


@settings(max_examples=60, deadline=None)
@given(lines=lines, block_size=st.integers(1, 5), ending=st.sampled_from(["\n", "\r\n"]), last=st.booleans())
def test_text_blocks_hold_every_line_once_with_its_number(tmp_path_factory, lines, block_size, ending, last):
    path = tmp_path_factory.mktemp("text") / "texts.txt"
    path.write_bytes((ending.join(lines) + (ending if last and lines else "")).encode("utf8"))
    if not lines or not path.read_bytes():
        with pytest.raises(InputError, match="empty file"):
            read_all(path, block_size)
        return
    rows, skipped, problems = read_all(path, block_size)
    expected = [{"id": f"texts.txt:{i}", "text": line} for i, line in enumerate(lines, 1) if line.strip()]
    assert (rows, skipped, problems) == (expected, 0, [])
    plan = plan_input(find_sources(str(path)), block_size)
    assert [block.size for block in plan.blocks][:-1] == [block_size] * (len(plan.blocks) - 1)
    assert plan.blocks[-1].end == path.stat().st_size


def test_jsonl_ids_carried_fields_and_a_named_text_field(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        '\ufeff{"body": "Paris", "id": 7, "lang": "fr"}\n\n{"body": "Rome", "lang": "it", "meta": {"n": 1}}\n', "utf8"
    )
    rows, _, _ = read_all(path, text_field="body")
    assert rows == [
        {"id": "7", "text": "Paris", "lang": "fr", "meta": None},
        {"id": "in.jsonl:3", "text": "Rome", "lang": "it", "meta": {"n": 1}},
    ]


@pytest.mark.parametrize(
    "content,where,gist",
    [
        (b'{"text": "a"}\n{"txt": "b"}\n', ":2", '"text"'),
        (b'{"text": "a"}\n{"text": 3}\n', ":2", "int"),
        (b'{"text": "a"}\n{"text": "b"\n', ":2", "JSON"),
        (b'{"text": "a"}\n{"text": "\xff"}\n', ":2", "UTF-8"),
        (b'["a"]\n', ":1", "object"),
    ],
)
def test_a_bad_jsonl_row_names_file_and_line_or_is_skipped_and_counted(tmp_path, content, where, gist):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content + b'{"text": "c"}\n')
    _, _, problems = read_all(path, block_size=10)
    assert len(problems) == 1 and problems[0].startswith(f"{path}{where}:") and gist in problems[0]
    rows, skipped, problems = read_all(path, block_size=10, skip_invalid=True)
    assert problems == [] and skipped == 1 and len(rows) + skipped == content.count(b"\n") + 1


def test_undecodable_text_line_names_its_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"good\nbad \xc3\x28\ngood too\n")
    assert read_all(path)[2][0].startswith(f"{path}:2: bytes that are not UTF-8")
    assert read_all(path, skip_invalid=True)[:2] == (
        [{"id": "t.txt:1", "text": "good"}, {"id": "t.txt:3", "text": "good too"}],
        1,
    )


def test_parquet_blocks_across_row_groups_keep_columns_and_types(tmp_path):
    path = tmp_path / "in.parquet"
    table = pyarrow.table({"text": [f"text {i}" for i in range(10)], "n": list(range(10)), "doc": ["d"] * 10})
    pyarrow.parquet.write_table(table, path, row_group_size=3)
    rows, _, _ = read_all(path, block_size=4)
    assert rows == [{"id": f"in.parquet:{i}", "text": f"text {i}", "n": i, "doc": "d"} for i in range(10)]


def test_parquet_without_the_text_column_or_with_a_null_text(tmp_path):
    path = tmp_path / "in.parquet"
    pyarrow.parquet.write_table(pyarrow.table({"body": ["a"]}), path)
    (problem,) = read_all(path)[2]
    assert str(path) in problem and '"text"' in problem and "--text-field" in problem
    pyarrow.parquet.write_table(pyarrow.table({"text": ["a", None, "c"]}), path)
    (problem,) = read_all(path)[2]
    assert problem.startswith(f"{path}: row 1:") and "null" in problem
    assert read_all(path, skip_invalid=True)[:2] == (
        [{"id": "in.parquet:0", "text": "a"}, {"id": "in.parquet:2", "text": "c"}],
        1,
    )


def test_docbin_folder_reads_each_docs_text(sample_corpus):
    texts = sample_test_texts(sample_corpus)
    rows, _, _ = read_all(sample_corpus / "test", block_size=5)
    assert [row["text"] for row in rows] == texts
    assert rows[0]["id"].endswith(".spacy:0") and len({row["id"] for row in rows}) == len(texts)


def test_folders_and_globs_name_files_below_their_root(tmp_path):
    for name in ("a/x.txt", "a/b/y.jsonl", "a/.hidden/z.txt", "a/_tmp.txt", "a/notes.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text('{"text": "t"}\n' if name.endswith("jsonl") else "t\n", "utf8")
    assert [source.key for source in find_sources(str(tmp_path / "a"))] == ["b/y.jsonl", "x.txt"]
    # a glob gives what it matches (the shell's rule: no hidden files)
    assert [source.key for source in find_sources(str(tmp_path / "a" / "**" / "*.txt"))] == ["_tmp.txt", "x.txt"]
    with pytest.raises(InputError, match="notes.md.*Rename it"):
        find_sources(str(tmp_path / "a" / "*"))
    with pytest.raises(InputError, match="does not exist"):
        find_sources(str(tmp_path / "missing.txt"))


def test_an_empty_file_stops_unless_skipped(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.txt").write_bytes(b"")
    (tmp_path / "in" / "full.txt").write_text("a\n", "utf8")
    with pytest.raises(InputError, match="empty.txt: empty file.*--skip-invalid"):
        plan_input(find_sources(str(tmp_path / "in")), 10)
    plan = plan_input(find_sources(str(tmp_path / "in")), 10, skip_invalid=True)
    assert plan.empty_files == [str(tmp_path / "in" / "empty.txt")] and len(plan.blocks) == 1


def test_a_dataset_split_through_datasets(tmp_path):
    write_jsonl_texts(tmp_path / "ds" / "train.jsonl", ["Paris", "Rome", "Oslo"], lang="x")
    sources = find_sources(str(tmp_path / "ds"), dataset=True, split="train")
    rows = [
        row for block in plan_input(sources, 2).blocks for row in read_block(block, ReadSettings()).table.to_pylist()
    ]
    assert rows == [{"id": f"t{i}", "text": text, "lang": "x"} for i, text in enumerate(["Paris", "Rome", "Oslo"])]


def test_a_field_of_mixed_types_is_named(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a", "n": 1}\n{"text": "b", "n": "one"}\n', "utf8")
    (problem,) = read_all(path)[2]
    assert problem.startswith(f"{path}:1-2:") and '"n"' in problem and "int" in problem and "str" in problem


# --- annotation: the same as nlp.pipe ----------------------------------------------------------


@pytest.fixture(scope="module")
def texts(sample_corpus):
    """The sample's test texts and 2,000 generated ones."""
    return sample_test_texts(sample_corpus) + generated_texts(sample_corpus, 2000)


@pytest.fixture(scope="module")
def expected(annotate_model, texts):
    return {f"t{i}": entities for i, entities in enumerate(pipe_entities(annotate_model, texts))}


def test_local_engine_gives_nlp_pipes_entities_for_every_id(annotate_model, texts, expected, tmp_path):
    assert sum(map(len, expected.values())) > len(texts) // 4  # the model finds entities
    write_jsonl_texts(tmp_path / "in" / "a.jsonl", texts[:1000])
    srsly.write_jsonl(
        tmp_path / "in" / "b.jsonl", ({"id": f"t{i}", "text": t} for i, t in enumerate(texts) if i >= 1000)
    )
    result = run(tmp_path / "in", tmp_path / "out", "--model", annotate_model, "--block-size", 700, "--docbin")
    assert result.exit_code == 0, result.output
    assert entities_by_id(tmp_path / "out") == expected
    summary = srsly.read_json(tmp_path / "out" / MANIFEST)["last_run"]
    counts = (summary["texts_in"], summary["rows_out"], summary["skipped"], summary["blocks"])
    assert counts == (len(texts), len(texts), 0, 4)
    assert summary["entities"] == sum(map(len, expected.values()))
    # The DocBin shards hold the same docs, in the part files' order.
    import spacy
    from spacy.tokens import DocBin

    vocab = spacy.blank("xx").vocab
    docs = [
        doc
        for path in sorted((tmp_path / "out").glob("part-*.spacy"))
        for doc in DocBin().from_disk(path).get_docs(vocab)
    ]
    ids = [row["id"] for row in output_rows(tmp_path / "out")]
    assert [[(e.start_char, e.end_char, e.label_, e.text) for e in doc.ents] for doc in docs] == [
        expected[i] for i in ids
    ]


def test_a_worker_s_vocab_does_not_grow_with_the_corpus(annotate_model, tmp_path):
    """Blocks of words the pipeline has never seen leave its vocab as it was (each block in a
    memory zone) and still give nlp.pipe's entities."""
    import random

    rng = random.Random(0)
    texts = [" ".join("".join(rng.choices("abcdefghij", k=9)) for _ in range(12)) + " in Berlin ." for _ in range(300)]
    path = write_jsonl_texts(tmp_path / "unseen.jsonl", texts)
    annotator = BlockAnnotator(Options(model=str(annotate_model), output=str(tmp_path / "out")))
    (tmp_path / "out").mkdir()
    strings = len(annotator.nlp.vocab.strings)
    blocks = plan_input(find_sources(str(path)), 100).blocks
    results = [annotator.annotate(block) for block in blocks]
    assert len(annotator.nlp.vocab.strings) == strings  # 3,600 new words went through it
    assert sum(result.rows for result in results) == len(texts) == 3 * 100
    expected = {f"t{i}": entities for i, entities in enumerate(pipe_entities(annotate_model, texts))}
    assert entities_by_id(tmp_path / "out") == expected
    assert sum(map(len, expected.values())) > 0


# --- the output folder -------------------------------------------------------------------------


@pytest.fixture
def small_input(tmp_path, texts):
    return write_jsonl_texts(tmp_path / "in.jsonl", texts[:40])


def part_mtimes(output):
    return {path.name: path.stat().st_mtime_ns for path in output.glob("part-*")}


def test_a_rerun_resumes_where_the_last_run_stopped_and_overwrite_starts_again(annotate_model, small_input, tmp_path):
    output = tmp_path / "out"
    args = [small_input, output, "--model", annotate_model, "--block-size", 10]
    assert run(*args).exit_code == 0
    before = part_mtimes(output)
    gone = sorted(before)[1]
    (output / gone).unlink()
    (output / f".{gone}.0123.partial").write_bytes(b"half a file")  # as a crash leaves it
    result = run(*args)
    assert result.exit_code == 0, result.output
    after = part_mtimes(output)
    assert {name for name in after if after[name] != before.get(name)} == {gone}
    assert not list(output.glob(".*.partial"))
    summary = srsly.read_json(output / MANIFEST)["last_run"]
    assert (summary["blocks"], summary["blocks_already_done"], summary["texts_in"]) == (1, 3, 10)
    assert run(*args, "--overwrite").exit_code == 0
    assert all(part_mtimes(output)[name] > after[name] for name in after)
    assert len(entities_by_id(output)) == 40


def test_a_rerun_with_other_settings_stops_and_leaves_the_output(annotate_model, small_input, tmp_path):
    output = tmp_path / "out"
    assert run(small_input, output, "--model", annotate_model, "--block-size", 10).exit_code == 0
    before = part_mtimes(output)
    line = one_line_error(run(small_input, output, "--model", annotate_model, "--block-size", 20))
    assert "block_size" in line and "--overwrite" in line and str(output) in line
    with small_input.open("a") as f:
        f.write('{"text": "one more"}\n')
    line = one_line_error(run(small_input, output, "--model", annotate_model, "--block-size", 10))
    assert "in.jsonl" in line and "changed" in line and "--overwrite" in line
    assert part_mtimes(output) == before


def test_a_bad_row_stops_the_run_in_one_line_unless_skipped(annotate_model, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "Paris"}\n{"body": "Rome"}\n{"text": "Oslo"}\n', "utf8")
    line = one_line_error(run(path, tmp_path / "out", "--model", annotate_model))
    assert f"{path}:2" in line and '"text"' in line and "--skip-invalid" in line
    assert not list((tmp_path / "out").glob("part-*"))
    assert run(path, tmp_path / "out", "--model", annotate_model, "--skip-invalid").exit_code == 0
    summary = srsly.read_json(tmp_path / "out" / MANIFEST)["last_run"]
    assert (summary["texts_in"], summary["rows_out"], summary["skipped"]) == (3, 2, 1)
    assert [row["id"] for row in output_rows(tmp_path / "out")] == ["in.jsonl:1", "in.jsonl:3"]


def test_an_output_of_something_else_or_in_use_is_refused(annotate_model, small_input, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine", "utf8")
    line = one_line_error(run(small_input, tmp_path / "other", "--model", annotate_model))
    assert "did not write" in line and (tmp_path / "other" / "notes.txt").read_text("utf8") == "mine"
    (tmp_path / "busy").mkdir()
    with open(tmp_path / "busy" / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        line = one_line_error(run(small_input, tmp_path / "busy", "--model", annotate_model))
    assert "Another annotate run" in line


@pytest.mark.parametrize(
    "args,gist",
    [
        (["--model", "no-such-model"], "No pipeline"),
        (["--engine", "local", "--address", "auto"], "--engine ray"),
        (["--gpu-id", "0"], "--gpu-id -1"),
        (["--engine", "ray", "--address", "ray://127.0.0.1:10001"], "Ray Job"),
        (["--loader", "dataset"], "choose auto, files or datasets"),  # convert's spelling, one for both
    ],
)
def test_a_wrong_option_fails_in_one_line_naming_the_remedy(annotate_model, small_input, tmp_path, args, gist):
    args = args if "--model" in args else ["--model", annotate_model, *args]
    assert gist in one_line_error(run(small_input, tmp_path / "out", *args))


def test_scores_come_from_a_span_categorizer(sample_corpus, small_input, tmp_path):
    import spacy
    from spacy.training import Example

    from multinerd.data.docbins import read_docs

    nlp = spacy.blank("xx")
    nlp.add_pipe("spancat", config={"spans_key": "sc"})
    docs = list(read_docs(sample_corpus / "train", nlp.vocab))
    for doc in docs:
        doc.spans["sc"] = list(doc.ents)
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc) for doc in docs])
    nlp.to_disk(tmp_path / "spancat")
    assert run(small_input, tmp_path / "out", "--model", tmp_path / "spancat").exit_code == 0
    entities = [entity for row in output_rows(tmp_path / "out") for entity in row["entities"]]
    assert entities and all(0.0 <= entity["score"] <= 1.0 for entity in entities)


def test_annotated_ids_keep_their_input_order_within_a_part(annotate_model, small_input, tmp_path):
    assert run(small_input, tmp_path / "out", "--model", annotate_model, "--block-size", 15).exit_code == 0
    assert [row["id"] for row in output_rows(tmp_path / "out")] == [f"t{i}" for i in range(40)]


# --- issue 25: the run as a user meets it ------------------------------------------------------


def retrain_in_place(model) -> None:
    """The pipeline at `model` with other weights, saved to the same path."""
    import spacy

    nlp = spacy.load(model)
    for node in nlp.get_pipe("ner").model.walk():
        for name in node.param_names:
            if node.has_param(name):
                node.set_param(name, node.get_param(name) * 1.5)
    nlp.to_disk(model)


def test_a_model_retrained_in_place_stops_the_resume_and_overwrite_redoes_it(annotate_model, small_input, tmp_path):
    """The output is keyed by the model's files, not its path: retraining to the same path (the
    normal loop) must not reuse the old model's parts; the same files elsewhere resume."""
    import shutil

    model, output = tmp_path / "model", tmp_path / "out"
    shutil.copytree(annotate_model, model)
    args = [small_input, output, "--model", model, "--block-size", 10]
    assert run(*args).exit_code == 0
    before = part_mtimes(output)
    shutil.copytree(annotate_model, tmp_path / "moved")
    result = run(small_input, output, "--model", tmp_path / "moved", "--block-size", 10)
    assert result.exit_code == 0 and srsly.read_json(output / MANIFEST)["last_run"]["blocks_already_done"] == 4
    retrain_in_place(model)
    line = one_line_error(run(*args))
    assert "model" in line and "--overwrite" in line and str(model) in line
    assert part_mtimes(output) == before
    assert run(*args, "--overwrite").exit_code == 0
    summary = srsly.read_json(output / MANIFEST)["last_run"]
    assert (summary["blocks"], summary["blocks_already_done"]) == (4, 0)


@pytest.fixture
def bars(monkeypatch):
    """Every progress bar the script draws, kept to be inspected after the run."""
    from tqdm import tqdm

    import multinerd.annotation.run

    drawn = []

    class Kept(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            drawn.append(self)

    monkeypatch.setattr(multinerd.annotation.run, "tqdm", Kept)
    return drawn


def test_the_bar_ends_full_and_starts_after_loading_and_the_summary_counts_rows(
    annotate_model, tmp_path, bars, monkeypatch
):
    import time

    import multinerd.annotation.engine

    loaded = []
    load = multinerd.annotation.engine.load_for_annotation
    monkeypatch.setattr(
        multinerd.annotation.engine,
        "load_for_annotation",
        lambda model, **kwargs: [load(model, **kwargs), loaded.append(time.time())][0],
    )
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "Paris"}\n\n{"body": "Rome"}\n   \n{"text": "Oslo"}\n', "utf8")
    result = run(path, tmp_path / "out", "--model", annotate_model, "--skip-invalid", "--block-size", 2)
    assert result.exit_code == 0, result.output
    (bar,) = bars
    assert bar.n == bar.total == 5  # every line, blank and skipped ones too
    assert bar.start_t >= loaded[0]  # the rate and ETA leave the loading out
    assert "Annotated 2 texts (1 skipped) into" in " ".join(result.output.split())  # however wasabi wraps it


def test_a_resume_with_nothing_to_do_loads_no_pipeline(annotate_model, small_input, tmp_path, monkeypatch):
    import multinerd.annotation.engine

    args = [small_input, tmp_path / "out", "--model", annotate_model, "--block-size", 10]
    assert run(*args).exit_code == 0

    def no_loading(options):
        raise AssertionError("loaded a pipeline with nothing to annotate")

    monkeypatch.setattr(multinerd.annotation.engine, "load_pipeline", no_loading)
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert srsly.read_json(tmp_path / "out" / MANIFEST)["last_run"]["blocks_already_done"] == 4


def test_part_files_are_named_part_block_and_keep_the_text_if_asked(annotate_model, small_input, tmp_path, texts):
    output = tmp_path / "out"
    assert run(small_input, output, "--model", annotate_model, "--block-size", 15, "--keep-text").exit_code == 0
    assert sorted(path.name for path in output.glob("part-*")) == [f"part-{i:05d}.parquet" for i in range(3)]
    rows = output_rows(output)
    assert [(row["id"], row["text"]) for row in rows] == [(f"t{i}", texts[i]) for i in range(40)]
    assert list(rows[0]) == ["id", "text", "entities"]
