"""Every source format the converter reads: JSONL, Parquet, TSV (file and folder), and datasets' loader."""

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
from convert_helpers import SAMPLE, convert_source, docs, jsonl_rows, summary, write_jsonl, write_tsv
from hypothesis import given, settings
from hypothesis import strategies as st

from multinerd.data.corpus import convert
from multinerd.data.readers import SourceError, find_files, lang_of, read_files, read_hub, read_tsv, split_of
from multinerd.labels import LANGUAGES, MULTINERD_TAGS

SPLIT_FOLDERS = {"train": "train", "val": "dev", "test": "test"}

DE = [
    (["Angela", "Merkel", "besuchte", "Paris", "."], ["B-PER", "I-PER", "O", "B-LOC", "O"]),
    (["Die", "Deutsche", "Bahn", "streikt"], ["O", "B-ORG", "I-ORG", "O"]),
    (["Der", "Oscar", "2020"], ["O", "B-MISC", "O"]),
]


def sample_expected():
    """(split, lang) -> rows of the bundled sample, read straight from its JSONL files."""
    return {
        (SPLIT_FOLDERS[folder], lang): jsonl_rows(SAMPLE / folder / f"{folder}_{lang}.jsonl")
        for folder in SPLIT_FOLDERS
        for lang in LANGUAGES
    }


def as_tuples(rows):
    return [(list(r.tokens), list(r.tags), r.lang, r.split) for r in rows]


# --- JSONL -------------------------------------------------------------------------------------


def test_jsonl_hub_layout_reads_every_row_with_split_and_language():
    rows = list(read_files(SAMPLE))
    expected = sample_expected()
    assert len(rows) == sum(len(v) for v in expected.values()) == 755
    by_key = {}
    for row in rows:
        assert row.problem is None
        by_key.setdefault((row.split, row.lang), []).append((row.tokens, row.tags))
    assert set(by_key) == set(expected)
    for key, want in expected.items():
        assert by_key[key] == [(r["tokens"], r["ner_tags"]) for r in want], key
    # where: file and line, 1-based
    first = next(r for r in rows if r.split == "train" and r.lang == "en")
    assert first.where == f"{SAMPLE / 'train' / 'train_en.jsonl'}:1"


def test_jsonl_language_from_row_else_path_else_option(tmp_path):
    write_jsonl(
        tmp_path / "data" / "train_ru.jsonl",
        [
            {"tokens": ["Москва"], "ner_tags": [5], "lang": "de"},  # the row's own language wins
            {"tokens": ["Москва"], "ner_tags": [5]},  # none in the row: from the path (_ru)
        ],
    )
    write_jsonl(tmp_path / "data" / "test.jsonl", [{"tokens": ["x"], "ner_tags": [0]}])
    rows = list(read_files(tmp_path / "data"))
    assert [(r.split, r.lang) for r in rows] == [("test", None), ("train", "de"), ("train", "ru")]
    rows = list(read_files(tmp_path / "data", "pl"))
    assert [(r.split, r.lang) for r in rows] == [("test", "pl"), ("train", "de"), ("train", "pl")]


def test_jsonl_bad_json_and_bad_shape_become_problems_with_line_numbers(tmp_path):
    path = tmp_path / "dev_en.jsonl"
    path.write_text('{"tokens": ["a"], "ner_tags": [0]}\n\n{"tokens": [\n[1, 2]\n{"tokens": ["a"]}\n', encoding="utf8")
    rows = list(read_files(path))
    assert [r.where for r in rows] == [f"{path}:{n}" for n in (1, 3, 4, 5)]
    assert rows[0].problem is None
    assert "not valid JSON" in rows[1].problem
    assert "not a row" in rows[2].problem and "not a row" in rows[3].problem


# --- Parquet -----------------------------------------------------------------------------------


def test_parquet_reads_like_jsonl_and_converts_to_the_same_docs(tmp_path):
    jsonl_dir, parquet_dir = tmp_path / "jsonl", tmp_path / "parquet"
    for folder in ("train", "val", "test"):
        for lang in ("en", "zh", "ru"):
            name = f"{folder}/{folder}_{lang}"
            for folder_path in (jsonl_dir / folder, parquet_dir / folder):
                folder_path.mkdir(parents=True, exist_ok=True)
            shutil.copy(SAMPLE / f"{name}.jsonl", jsonl_dir / f"{name}.jsonl")
            table = pyarrow.Table.from_pylist(jsonl_rows(SAMPLE / f"{name}.jsonl"))
            assert table.schema.field("ner_tags").type == pyarrow.list_(pyarrow.int64())
            pyarrow.parquet.write_table(table, parquet_dir / f"{name}.parquet", row_group_size=7)
    from_jsonl, from_parquet = list(read_files(jsonl_dir)), list(read_files(parquet_dir))
    assert as_tuples(from_parquet) == as_tuples(from_jsonl)
    assert from_parquet[3].where == f"{parquet_dir / 'test' / 'test_en.parquet'}: row 3"
    convert_source(jsonl_dir, tmp_path / "a")
    convert_source(parquet_dir, tmp_path / "b")
    for part in ("train", "dev", "test", "dev_sample"):
        a, b = docs(tmp_path / "a" / part), docs(tmp_path / "b" / part)
        assert a and [summary(d) for d in a] == [summary(d) for d in b]


def test_parquet_with_string_tags_and_language_from_path(tmp_path):
    table = pyarrow.table({"tokens": [t for t, _ in DE], "ner_tags": [g for _, g in DE]})
    path = tmp_path / "wiki" / "de" / "validation.parquet"
    path.parent.mkdir(parents=True)
    pyarrow.parquet.write_table(table, path)
    rows = list(read_files(tmp_path / "wiki"))
    assert as_tuples(rows) == [(t, g, "de", "dev") for t, g in DE]


# --- TSV ---------------------------------------------------------------------------------------


def test_tsv_file_with_lang_option_extra_columns_comments_and_crlf(tmp_path):
    path = write_tsv(tmp_path / "corpus.train.tsv", DE, extra=["_", "x"], newline="\r\n")
    text = path.read_text(encoding="utf8")
    # CoNLL-U comments, and runs of blank lines (also at the end) make no empty sentences
    path.write_text(
        "# newdoc\r\n" + text.replace("\r\n\r\n", "\r\n\r\n\r\n# sent\r\n") + "\r\n\r\n", encoding="utf8", newline=""
    )
    rows = list(read_files(path, "de"))
    assert as_tuples(rows) == [(t, g, "de", "train") for t, g in DE]
    assert rows[0].where.startswith(f"{path}:")
    # without --lang and no language in the path, the row has none (the converter then stops on it)
    assert [r.lang for r in read_files(path)] == [None] * 3


@pytest.mark.parametrize("fmt", ["tsv", "jsonl"])
def test_an_undecodable_line_far_into_a_file_is_one_problem_and_the_rest_reads_normally(tmp_path, fmt):
    """Decoding falls back to line by line where bulk decoding fails: no line lost, doubled or misnumbered."""
    sentences = [([f"w{i}", "Москва", "x"], ["O", "B-LOC", "O"]) for i in range(1500)]
    path = tmp_path / f"train_ru.{fmt}"
    if fmt == "tsv":
        write_tsv(path, sentences[:1000])
        bad, line_of_bad = b"\n0\tcaf\xe9\tO\n\n", 4001  # 1000 sentences of 3 lines + a blank line each
        after = sentences[1000:]
        tail = "\n\n".join("\n".join(f"{i}\t{t}\t{g}" for i, (t, g) in enumerate(zip(*s))) for s in after) + "\n"
    else:
        write_jsonl(path, [{"tokens": t, "ner_tags": g} for t, g in sentences[:1000]])
        bad, line_of_bad = b'{"tokens": ["caf\xe9"], "ner_tags": ["O"]}\n', 1001
        after = sentences[1000:]
        tail = "".join(json.dumps({"tokens": t, "ner_tags": g}) + "\n" for t, g in after)
    with path.open("ab") as f:
        f.write(bad)
        f.write(tail.encode("utf8"))
    assert path.stat().st_size > 3 * 8192
    rows = list(read_files(path))
    assert len(rows) == 1501
    problems = [r for r in rows if r.problem]
    assert [(r.where, "not UTF-8" in r.problem) for r in problems] == [(f"{path}:{line_of_bad}", True)]
    good = [(list(r.tokens), list(r.tags)) for r in rows if not r.problem]
    assert good == [(t, g) for t, g in sentences]
    if fmt == "tsv":  # the bad byte in a later chunk than the first: same rows
        for chunk_size in (4096, 50_000):
            assert [tuple(r) for r in read_tsv(path, "train", "ru", chunk_size=chunk_size)] == [tuple(r) for r in rows]


TSV_TOKEN = st.text(st.characters(exclude_categories=("Z", "C")), min_size=1, max_size=6).filter(
    lambda t: t.strip() == t
)
# lines after a sentence: none (the next sentence goes on), blank ones, whitespace-only ones, comments
TSV_SEPARATOR = st.sampled_from(["", "\n", "\n\n", "\n\n\n", " \n", "\t\n", "\n \n", "# comment\n", "\n# comment\n"])


@settings(max_examples=80, deadline=None)
@given(
    sentences=st.lists(
        st.lists(st.tuples(TSV_TOKEN, st.sampled_from(["O", "B-PER", "I-PER", "B-MISC"])), min_size=1, max_size=6),
        min_size=1,
        max_size=8,
    ),
    separators=st.lists(TSV_SEPARATOR, min_size=8, max_size=8),
    lead=st.sampled_from(["", "\n", "# newdoc\n"]),
    crlf=st.booleans(),
    chunk_size=st.sampled_from([1, 2, 5, 17, 64, 1 << 22]),
)
def test_tsv_reader_gives_the_same_sentences_and_line_numbers_however_it_is_chunked(
    sentences, separators, lead, crlf, chunk_size
):
    """read_tsv reads big chunks cut at blank lines; whatever the cut points, separators (several
    blank lines, whitespace-only lines, comments) and line ends, it must find what was written, where it was."""
    text, starts, line = lead, [], 1 + lead.count("\n")
    for sentence, separator in zip(sentences, separators):
        starts.append(line)
        text += "".join(f"{i}\t{token}\t{tag}\t_\n" for i, (token, tag) in enumerate(sentence))
        text += separator
        line += len(sentence) + separator.count("\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.tsv"
        path.write_bytes(text.replace("\n", "\r\n" if crlf else "\n").encode("utf8"))
        rows = list(read_tsv(path, "train", "en", chunk_size=chunk_size))
    got = [([*r.tokens], [*r.tags], r.where) for r in rows]
    # a whitespace-only line ends a sentence like a blank one, but a comment line doesn't
    want, merged = [], None
    for sentence, separator, start in zip(sentences, separators, starts):
        tokens, tags = [t for t, _ in sentence], [g for _, g in sentence]
        if merged is not None:
            merged[0].extend(tokens), merged[1].extend(tags)
        else:
            merged = (tokens, tags, f"{path}:{start}")
        if any(not part.strip() for part in separator.splitlines()):
            want.append(merged)
            merged = None
    if merged is not None:
        want.append(merged)
    assert got == [(t, g, w) for t, g, w in want]
    assert all(r.problem is None for r in rows)


@pytest.mark.parametrize(
    "relative, split, lang",
    [
        ("ru/train.tsv", "train", "ru"),
        ("train_ru.tsv", "train", "ru"),
        ("data_ru/dev.conll", "dev", "ru"),
        ("pl/val.conllu", "dev", "pl"),
        ("validation_it.iob", "dev", "it"),
        ("zh/wiki-test.txt", "test", "zh"),
        ("nl-valid.tsv", "dev", "nl"),
    ],
)
def test_tsv_split_from_file_name_and_language_from_path(tmp_path, relative, split, lang):
    path = write_tsv(tmp_path / "src" / relative, DE[:1])
    assert split_of(path.relative_to(tmp_path)) == split
    assert lang_of(path.relative_to(tmp_path)) == lang
    # as a file
    assert as_tuples(read_files(path)) == [(DE[0][0], DE[0][1], lang, split)]
    # as part of a folder
    assert as_tuples(read_files(tmp_path / "src")) == [(DE[0][0], DE[0][1], lang, split)]
    # --lang wins over the path
    assert [r.lang for r in read_files(path, "es")] == ["es"]


def test_tsv_folder_like_wikineural(tmp_path):
    src = tmp_path / "wikineural"
    write_tsv(src / "de" / "train.conllu", DE)
    write_tsv(src / "de" / "val.conllu", DE[:2])
    write_tsv(src / "en" / "test.conllu", [(["London"], ["B-LOC"])])
    (src / "README.md").write_text("# not data\n")
    (src / "LICENSE").write_text("CC BY-NC-SA\n")
    (src / "notes.pdf").write_bytes(b"%PDF")
    found = [(p.relative_to(src).as_posix(), fmt, split, lang) for p, fmt, split, lang in find_files(src)]
    assert found == [
        ("de/train.conllu", "tsv", "train", "de"),
        ("de/val.conllu", "tsv", "dev", "de"),
        ("en/test.conllu", "tsv", "test", "en"),
    ]
    report = convert_source(src, tmp_path / "corpus")
    assert report["splits"]["train"]["languages"]["de"]["sentences"] == 3
    assert report["splits"]["dev"]["languages"]["de"]["sentences"] == 2
    assert report["splits"]["test"]["languages"]["en"]["entities"] == {"LOC": 1}
    assert report["splits"]["train"]["entities"] == {"LOC": 1, "MISC": 1, "ORG": 1, "PER": 1}
    assert [summary(d) for d in docs(tmp_path / "corpus" / "dev" / "de")] == [
        (["Angela", "Merkel", "besuchte", "Paris", "."], [(0, 2, "PER"), (3, 4, "LOC")]),
        (["Die", "Deutsche", "Bahn", "streikt"], [(1, 3, "ORG")]),
    ]


def test_file_without_split_word_and_folder_without_data_are_source_errors(tmp_path):
    write_tsv(tmp_path / "src" / "de" / "wiki.tsv", DE)
    with pytest.raises(SourceError, match="wiki.tsv: can't tell which split"):
        list(read_files(tmp_path / "src"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("x")
    with pytest.raises(SourceError, match="no data files"):
        list(read_files(tmp_path / "empty"))
    with pytest.raises(SourceError, match="does not exist"):
        list(read_files(tmp_path / "missing"))
    # a split word above the source's own folder doesn't count
    write_tsv(tmp_path / "test_run" / "data" / "de" / "wiki.tsv", DE)
    with pytest.raises(SourceError, match="can't tell which split"):
        list(read_files(tmp_path / "test_run" / "data"))


# --- datasets.load_dataset on a local folder laid out like the hub -------------------------------


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    """Point datasets' cache at a temporary folder, also when datasets was imported already."""
    import datasets.config

    cache = tmp_path / "hf_cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "DOWNLOADED_DATASETS_PATH", cache / "downloads")
    monkeypatch.setattr(datasets.config, "EXTRACTED_DATASETS_PATH", cache / "downloads" / "extracted")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    return cache


def test_read_hub_on_a_local_hub_layout_folder(tmp_path, datasets_cache):
    hub = tmp_path / "multinerd"
    langs = ("en", "zh", "de")
    for folder in ("train", "val", "test"):
        (hub / folder).mkdir(parents=True)
        for lang in langs:
            shutil.copy(SAMPLE / folder / f"{folder}_{lang}.jsonl", hub / folder)
    rows = list(read_hub(str(hub)))
    expected = read_files(hub)
    assert Counter(map(repr, as_tuples(rows))) == Counter(map(repr, as_tuples(expected)))
    assert {r.split for r in rows} == {"train", "dev", "test"}
    assert rows[0].where == f"{hub} [train] row 0"
    assert any(datasets_cache.iterdir())  # the cache went where we said
    report = convert(read_hub(str(hub)), tmp_path / "corpus")
    for folder, split in SPLIT_FOLDERS.items():
        assert report["splits"][split]["sentences"] == sum(
            len(jsonl_rows(SAMPLE / folder / f"{folder}_{lang}.jsonl")) for lang in langs
        )


def test_read_hub_maps_class_label_ids_to_their_names(tmp_path, datasets_cache):
    """A dataset whose ner_tags are a ClassLabel of another label set (WikiNEuRal's) gets its names, not MultiNERD's."""
    import datasets

    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    features = datasets.Features(
        {
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=names)),
            "lang": datasets.Value("string"),
        }
    )
    rows = {
        "tokens": [t for t, _ in DE],
        "ner_tags": [[names.index(g) for g in tags] for _, tags in DE],
        "lang": ["de"] * 3,
    }
    (tmp_path / "hub" / "data").mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(
        str(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet")
    )
    got = list(read_hub(str(tmp_path / "hub")))
    assert as_tuples(got) == [(t, g, "de", "train") for t, g in DE]
    report = convert(iter(got), tmp_path / "corpus")
    assert report["splits"]["train"]["entities"] == {"LOC": 1, "MISC": 1, "ORG": 1, "PER": 1}
    # MultiNERD's own id for B-MISC's slot (7) would be B-ANIM: the names must win
    assert MULTINERD_TAGS[7] == "B-ANIM" and "ANIM" not in report["splits"]["train"]["entities"]


def test_read_hub_unknown_dataset_is_a_source_error(tmp_path, datasets_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceError, match="couldn't load 'nobody-xyz/not-a-dataset' with datasets.load_dataset"):
        list(read_hub("nobody-xyz/not-a-dataset"))


# --- formats recognised, not guessed --------------------------------------------------------------


def test_a_line_without_a_token_index_far_into_a_tsv_file_is_a_problem_row(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", DE)
    with path.open("a", encoding="utf8") as f:
        f.write("\nBerlin\tB-LOC\tx\n")  # line 16: the first column is not an index
    rows = list(read_files(path, "de"))
    assert as_tuples(rows[:3]) == [(t, g, "de", "train") for t, g in DE]
    assert rows[3].where == f"{path}:16" and "not the token's index" in rows[3].problem


@pytest.mark.parametrize("separator", ["-DOCSTART-\t-X-\t-X-\tO", "0\t-DOCSTART-\tO", "-DOCSTART-\tO"])
def test_docstart_lines_end_a_sentence_and_are_none(tmp_path, separator):
    path = tmp_path / "train.tsv"
    path.write_text(f"{separator}\n\n0\tRome\tB-LOC\n{separator}\n0\tParis\tB-LOC\n\n{separator}\n", encoding="utf8")
    assert [(list(r.tokens), r.where) for r in read_files(path, "it")] == [
        (["Rome"], f"{path}:3"),
        (["Paris"], f"{path}:5"),
    ]


def test_json_lines_whose_rows_are_arrays_stay_json_lines(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('[["a"], [0]]\n{"tokens": ["b"], "ner_tags": [0]}\n', encoding="utf8")
    rows = list(read_files(path))
    assert [r.where for r in rows] == [f"{path}:1", f"{path}:2"]
    assert "not a row" in rows[0].problem and rows[1].problem is None


def test_a_json_array_of_rows_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "dev_pl.json"
    path.write_bytes(b"\xef\xbb\xbf  " + json.dumps([{"tokens": ["Warszawa"], "ner_tags": [5]}, [1]]).encode())
    rows = list(read_files(path))
    assert as_tuples(rows[:1]) == [(["Warszawa"], [5], "pl", "dev")]
    assert rows[1].where == f"{path}: row 1" and "not a row" in rows[1].problem
    assert {r.source for r in rows} == {str(path)}


# --- a local path or a hub id ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "source,local",
    [
        ("assets/does_not_exist", True),  # its first part is a folder here
        ("corpus/test", False),  # no corpus/ here: a hub id like any user/name
        ("./corpus/test", True),
        ("/no/such/folder", True),
        ("~/texts", True),
        ("missing.jsonl", True),
        ("Babelscape/multinerd", False),
    ],
)
def test_what_looks_like_a_path_is_local_and_a_hub_id_is_not(tmp_path, monkeypatch, source, local):
    from multinerd.data.readers import FORMATS
    from multinerd.sources import is_local

    monkeypatch.chdir(tmp_path)
    (tmp_path / "assets").mkdir()
    assert is_local(source, FORMATS) == local
    (tmp_path / source.split("/")[0]).mkdir(exist_ok=True)  # a folder named like the hub user
    assert is_local(source, FORMATS)


def test_a_missing_local_path_fails_at_once_naming_it_never_asking_the_hub(tmp_path, monkeypatch):
    """convert and annotate: `assets/does_not_exist` is reported missing, not looked up on the hub."""
    import datasets
    from annotate import app as annotate_app
    from convert import app as convert_app
    from typer.testing import CliRunner

    def no_hub(*args, **kwargs):
        raise AssertionError("a local path was sent to the hub")

    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assets").mkdir()
    for app, args in ((convert_app, ["corpus"]), (annotate_app, ["out", "--model", str(tmp_path)])):
        result = CliRunner().invoke(app, ["assets/does_not_exist", *args])
        assert result.exit_code == 1, result.output
        assert "assets/does_not_exist does not exist" in result.output
