"""scripts/convert.py as a program: every bad input stops it with a message naming the file and line
(or row), --skip-invalid counts them instead, and the TSV and datasets paths work end to end; and
probes of issue 10 (output folder = dataset, a filter keeping nothing, CoNLL-2003 columns, a tag
typo among ids, language spellings, an output that is a file): one line and every input and
earlier output byte-identical, or a complete corpus.

Each case is a separate `python scripts/convert.py` process; a module fixture runs them side by side
and the tests then check their results, so spaCy's slow start-up is paid in parallel.
"""

import json
import shutil
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
from convert_helpers import (
    SAMPLE,
    convert_source,
    docs,
    flat,
    jsonl_rows,
    run_cli_all,
    summary,
    tree_digest,
    write_jsonl,
    write_tsv,
)

EN = {"tokens": ["Ada", "Lovelace", "met", "Babbage"], "ner_tags": [1, 2, 0, 1], "lang": "en"}
TSV_OK = [
    (["Marie", "Curie", "lebte", "in", "Paris"], ["B-PER", "I-PER", "O", "O", "B-LOC"]),
    (["Der", "Rhein", "fließt"], ["O", "B-LOC", "O"]),
]


def bad_inputs(root: Path):
    """name -> (source, extra args, the `file:line` the message must name, what it must say)."""
    cases = {}

    path = write_jsonl(
        root / "length" / "train_en.jsonl", [EN, {"tokens": ["a", "b", "c"], "ner_tags": [0, 0], "lang": "en"}]
    )
    cases["tokens and tags of different lengths"] = (path.parent, [], f"{path}:2", "3 tokens but 2 tags")

    path = write_jsonl(
        root / "label_id" / "val" / "val_de.jsonl", [EN, EN, {"tokens": ["a"], "ner_tags": [31], "lang": "de"}]
    )
    cases["unknown label id"] = (root / "label_id", [], f"{path}:3", "unknown label id 31")

    path = write_tsv(root / "tag" / "de" / "train.tsv", TSV_OK + [(["Berlin", "ist", "groß"], ["S-LOC", "O", "O"])])
    cases["unknown tag string"] = (path, [], f"{path}:11", "unknown tag 'S-LOC'")

    path = write_jsonl(root / "empty" / "test_fr.jsonl", [EN, {"tokens": [], "ner_tags": [], "lang": "fr"}])
    cases["empty sentence"] = (path, [], f"{path}:2", "empty sentence")

    path = write_tsv(root / "columns" / "wiki.dev.conll", TSV_OK, extra=["_"])
    lines = path.read_text(encoding="utf8").splitlines()
    lines[7] = "1\tRhein"  # line 8: index and token, no tag
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    cases["TSV line with too few columns"] = (path, ["--lang", "de"], f"{path}:8", "2 tab-separated column(s)")

    path = write_jsonl(root / "bytes_jsonl" / "train" / "train_it.jsonl", [EN] * 3)
    with path.open("ab") as f:
        f.write(b'{"tokens": ["caf\xe9"], "ner_tags": [0], "lang": "it"}\n')
    cases["undecodable bytes in JSONL"] = (root / "bytes_jsonl", [], f"{path}:4", "not UTF-8")

    # the bad byte comes after more than one read buffer of good text, on line 4001
    path = write_tsv(root / "bytes_tsv" / "ru" / "test.tsv", [(["Москва", "—", "столица"], ["B-LOC", "O", "O"])] * 1000)
    with path.open("ab") as f:
        f.write(b"\n0\tPeterburg\xc3\x28\tB-LOC\n")
    assert len(path.read_bytes()) > 8192
    cases["undecodable bytes in TSV"] = (root / "bytes_tsv", [], f"{path}:4001", "not UTF-8")

    # auto: it looks like a path, so it is read as files (not sent to the hub) and reported missing
    cases["missing source path"] = (
        root / "no" / "such" / "folder",
        [],
        str(root / "no" / "such" / "folder"),
        "does not exist",
    )
    return cases


def skip_invalid_input(root: Path):
    """Good and bad rows in every format; returns (source, rows in per split)."""
    src = root / "mixed"
    write_jsonl(
        src / "train" / "train_en.jsonl",
        [
            EN,
            {"tokens": ["a", "b"], "ner_tags": [0], "lang": "en"},
            EN,
            {"tokens": ["a"], "ner_tags": [99], "lang": "en"},
            {"tokens": [], "ner_tags": [], "lang": "en"},
            EN,
        ],
    )
    with (src / "train" / "train_en.jsonl").open("ab") as f:
        f.write(b"\xff\xfe\n")
        f.write(b'{"tokens": ["ok"], "ner_tags": [0], "lang": "en"}\n')
    write_tsv(src / "de" / "dev.tsv", TSV_OK * 3 + [(["x", "y"], ["O", "B-"])] + TSV_OK)
    with (src / "de" / "dev.tsv").open("a", encoding="utf8") as f:
        f.write("\n0\tnur zwei\n\n0\tgut\tO\n")
    table = pyarrow.Table.from_pylist([EN, {"tokens": ["x"], "ner_tags": [40], "lang": "fr"}, EN])
    (src / "test").mkdir()
    pyarrow.parquet.write_table(table, src / "test" / "test_fr.parquet")
    # (rows in, bad rows): train 8 rows, 4 bad; dev 11 sentences, 2 bad; test 3 rows, 1 bad
    return src, {"train": (8, 4), "dev": (11, 2), "test": (3, 1)}


def issue_probes(root: Path):
    """name -> (args, the paths that must stay byte-identical if it fails, what its one line says;
    None for a run that must succeed)."""
    probes = {}
    good = root / "good"
    write_jsonl(
        good / "train" / "train_en.jsonl", [EN, {"tokens": ["Rome", "is", "old"], "ner_tags": [5, 0, 0], "lang": "en"}]
    )
    write_jsonl(good / "test" / "test_en.jsonl", [EN])

    dataset = root / "dataset"
    shutil.copytree(good, dataset)
    probes["output folder is the dataset folder"] = ([dataset, dataset], [dataset], [str(dataset), "outside"])
    out = root / "corpus"  # an earlier run's
    convert_source(good, out, n_buckets=2)
    probes["a filter that keeps nothing"] = ([good, out, "--langs", "xx"], [good, out], ["--langs xx", "en"])
    conll = root / "conll" / "train.txt"
    conll.parent.mkdir()
    conll.write_text("-DOCSTART-\t-X-\t-X-\tO\n\nEU\tNNP\tB-NP\tB-ORG\nrejects\tVBZ\tB-VP\tO\n\n", encoding="utf8")
    probes["CoNLL-2003 columns"] = (
        [conll, root / "out" / "conll", "--lang", "en"],
        [conll.parent],
        [f"{conll}:3", "CoNLL-2003"],
    )
    typo = write_jsonl(
        root / "typo" / "train_en.jsonl",
        [EN, {"tokens": ["Bob", "Smith"], "ner_tags": ["B-PRE", "I-PER"], "lang": "en"}],
    )
    probes["a tag typo among ids"] = ([typo.parent, root / "out" / "typo"], [typo.parent], [f"{typo}:2", "'B-PRE'"])
    spellings = root / "spellings" / "train.jsonl"
    write_jsonl(spellings, [{**EN, "lang": "EN"}, {"tokens": ["北京"], "ner_tags": [5], "lang": "ZH"},
                            {"tokens": ["上海"], "ner_tags": [5], "lang": "zh-CN"}, EN])  # fmt: skip
    probes["language spellings"] = ([spellings.parent, root / "out" / "spellings"], [], None)
    afile = root / "afile"
    afile.write_text("not a folder")
    probes["output is a file"] = ([good, afile], [afile, good], [str(afile), "folder"])
    return probes


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> (exit status, output, output folder, expectation 1, expectation 2), all cases run side by side."""
    root = tmp_path_factory.mktemp("cli")
    jobs, expect = {}, {}
    for name, (args, keeps, says) in issue_probes(root / "probes").items():
        jobs[name] = args
        expect[name] = (args[1], {path: tree_digest(path) for path in keeps}, says)
    for name, (source, args, where, says) in bad_inputs(root / "in").items():
        out = root / "out" / name.replace(" ", "_")
        jobs[name], expect[name] = [source, out, *args], (out, where, says)
    src, rows_in = skip_invalid_input(root / "in")
    jobs["skip invalid"] = [src, root / "out" / "skip", "--skip-invalid", "--shard-size", "3"]
    expect["skip invalid"] = (root / "out" / "skip", rows_in, None)
    tsv = write_tsv(root / "in" / "plain" / "wiki.train.tsv", TSV_OK * 2, extra=["_"])
    jobs["tsv --lang"], expect["tsv --lang"] = (
        [tsv, root / "out" / "tsv", "--lang", "nl"],
        (root / "out" / "tsv", None, None),
    )
    hub = root / "in" / "hub"
    for folder in ("train", "val", "test"):
        (hub / folder).mkdir(parents=True)
        for lang in ("en", "zh", "pl"):
            shutil.copy(SAMPLE / folder / f"{folder}_{lang}.jsonl", hub / folder)
    jobs["datasets"] = [hub, root / "out" / "hub", "--loader", "datasets"]
    expect["datasets"] = (root / "out" / "hub", None, None)
    results = run_cli_all(jobs, root)
    return {name: (*results[name], *expect[name]) for name in jobs}


@pytest.mark.parametrize(
    "name",
    [
        "tokens and tags of different lengths",
        "unknown label id",
        "unknown tag string",
        "empty sentence",
        "TSV line with too few columns",
        "undecodable bytes in JSONL",
        "undecodable bytes in TSV",
        "missing source path",
    ],
)
def test_bad_input_stops_with_a_message_naming_file_and_line(runs, name):
    returncode, output, out, where, says = runs[name]
    assert returncode != 0, output
    assert "Traceback" not in output
    failures = [block for block in output.split("\n\n") if "✘" in block]
    assert len(failures) == 1, output
    message = flat(failures[0])
    assert where in message and says in message, output
    if name != "missing source path":
        assert "--skip-invalid" in message  # and what to do about it
    assert not [p for p in out.rglob("*") if p.is_file()]  # nothing written


def test_skip_invalid_counts_bad_rows_so_sentences_in_equal_docs_out_plus_skipped(runs):
    returncode, output, out, rows_in, _ = runs["skip invalid"]
    assert returncode == 0, output
    report = json.loads((out / "report.json").read_text(encoding="utf8"))
    for split, (n_in, n_bad) in rows_in.items():
        n_docs = len(docs(out / split))
        assert report["splits"][split]["skipped"] == n_bad
        assert report["splits"][split]["sentences"] == n_docs == n_in - n_bad
        assert report["splits"][split]["rows_in"] == n_in
    assert "4 rows skipped" not in flat(output) and "7 rows skipped" in flat(output)


def test_tsv_file_with_lang_option(runs):
    returncode, output, out, _, _ = runs["tsv --lang"]
    assert returncode == 0, output
    report = json.loads((out / "report.json").read_text(encoding="utf8"))
    assert report["splits"]["train"]["languages"]["nl"]["sentences"] == 4
    assert report["splits"]["train"]["entities"] == {"LOC": 4, "PER": 2}
    assert sorted(d.text for d in docs(out / "train")) == sorted(["Marie Curie lebte in Paris", "Der Rhein fließt"] * 2)


def test_datasets_loader_on_a_local_hub_layout_folder(runs):
    returncode, output, out, _, _ = runs["datasets"]
    assert returncode == 0, output
    report = json.loads((out / "report.json").read_text(encoding="utf8"))
    for folder, split in (("train", "train"), ("val", "dev"), ("test", "test")):
        for lang in ("en", "zh", "pl"):
            n = len(jsonl_rows(SAMPLE / folder / f"{folder}_{lang}.jsonl"))
            assert report["splits"][split]["languages"][lang]["sentences"] == n
    assert sorted(p.name for p in (out / "test").iterdir()) == ["en", "pl", "zh"]
    assert len(docs(out / "train")) == report["splits"]["train"]["sentences"]


# As processes, those where the process matters (one line and no traceback on stderr, no progress
# bar); test_convert_rules.py runs every rule through the same command line in-process.
ISSUE_PROBES = ["output folder is the dataset folder", "a filter that keeps nothing", "CoNLL-2003 columns",
                "a tag typo among ids", "output is a file"]  # fmt: skip


@pytest.mark.parametrize("name", ISSUE_PROBES)
def test_issue_probes_that_must_fail_print_one_line_and_change_nothing(runs, name):
    returncode, output, out, before, says = runs[name]
    assert returncode == 1, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("✘"), output  # no traceback, no progress bar
    for words in says:
        assert words in lines[0], lines[0]
    assert {path: tree_digest(path) for path in before} == before  # inputs and earlier outputs, byte for byte


def report_of(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf8"))


def test_issue_probe_language_spellings_are_one_language_and_chinese_is_cut(runs):
    returncode, output, out, _, _ = runs["language spellings"]
    assert returncode == 0, output
    report = report_of(out)
    assert {lang: c["sentences"] for lang, c in report["splits"]["train"]["languages"].items()} == {"en": 2, "zh": 2}
    assert report["unknown_languages"] == []
    assert sorted(summary(d)[0] for d in docs(out / "train") if d[0].text in "北上") == [["上", "海"], ["北", "京"]]
