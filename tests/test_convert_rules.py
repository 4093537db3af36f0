"""The converter's rules, through its command line run in this process (scripts/convert.py's typer
app; the real processes are in test_convert_cli.py): a run either succeeds with complete outputs
or exits 1 with one line on stderr, and leaves every input byte and every previous output as it
was. Formats recognised, labels and languages checked, duplicates counted, faults reported."""

import errno
import json
import os
from pathlib import Path

import pytest
import srsly
from convert_helpers import convert_in_process, docs, failure_line, summary, tree_digest, write_jsonl, write_tsv

import multinerd.data.corpus
from multinerd.data.staging import OutputError, check_output
from multinerd.labels import ENTITY_TYPES

ADA = {"tokens": ["Ada", "Lovelace", "met", "Babbage"], "ner_tags": [1, 2, 0, 1], "lang": "en"}
ROME = {"tokens": ["Rome", "is", "old"], "ner_tags": [5, 0, 0], "lang": "en"}
PARIS = {"tokens": ["Paris", "is", "big"], "ner_tags": [5, 0, 0], "lang": "en"}


def dataset(root: Path, train=(ADA, ROME), test=(PARIS,)) -> Path:
    """A small dataset folder laid out as on the hub."""
    write_jsonl(root / "train" / "train_en.jsonl", train)
    write_jsonl(root / "test" / "test_en.jsonl", test)
    return root


@pytest.fixture
def corpus(tmp_path):
    """A good corpus from an earlier run, which failed runs must leave byte for byte."""
    out = tmp_path / "corpus"
    code, _, stderr = convert_in_process(dataset(tmp_path / "good"), out)
    assert code == 0, stderr
    return out


def fails(*args, says=(), keeps=()):
    """Run the converter; it must exit 1 with one line that says each of `says`, and leave each
    path in `keeps` (inputs, earlier outputs) byte-identical. Returns the line."""
    before = {path: tree_digest(path) for path in keeps}
    code, _, stderr = convert_in_process(*args)
    assert code == 1, stderr
    line = failure_line(stderr)
    for words in says:
        assert words in line, line
    assert {path: tree_digest(path) for path in keeps} == before
    return line


def succeeds(*args):
    code, stdout, stderr = convert_in_process(*args)
    assert code == 0, stdout + stderr
    return stdout


def report_of(out: Path) -> dict:
    return srsly.read_json(out / "report.json")


# --- never inside the data being read ----------------------------------------------------------


@pytest.mark.parametrize("where, says", [(".", "is the data"), ("corpus", "inside"), ("..", "contains")])
def test_an_output_folder_that_is_contains_or_lies_inside_the_input_is_refused(tmp_path, where, says):
    src = dataset(tmp_path / "data" / "s")
    out = (src / where).resolve()
    fails(src, out, says=(str(out), says, "outside"), keeps=(tmp_path / "data",))
    assert not (src / "corpus").exists()


def test_paths_are_compared_resolved(tmp_path):
    src = dataset(tmp_path / "s")
    (tmp_path / "link").symlink_to(src)
    with pytest.raises(OutputError, match="is the data"):
        check_output(tmp_path / "link", [src])
    with pytest.raises(OutputError, match="inside"):
        check_output(tmp_path / "link" / "sub" / "corpus", [src])
    check_output(tmp_path / "corpus", [src])  # beside it: fine


def test_a_local_folder_read_through_datasets_is_an_input_too(tmp_path):
    src = dataset(tmp_path / "s")
    fails(src, src, "--loader", "datasets", says=("is the data",), keeps=(src,))


def test_an_output_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "corpus").write_text("not a folder")
    fails(dataset(tmp_path / "s"), tmp_path / "corpus", says=(str(tmp_path / "corpus"), "folder"),
          keeps=(tmp_path,))  # fmt: skip


# --- no training sentences: an error, and nothing replaced -------------------------------------


def test_a_language_filter_that_keeps_nothing_replaces_nothing(tmp_path, corpus):
    src = dataset(tmp_path / "s")
    fails(src, corpus, "--langs", "de,fr", says=("--langs", "en"), keeps=(src, corpus))


def test_language_codes_in_the_filter_are_normalised(tmp_path, corpus):
    succeeds(dataset(tmp_path / "s"), corpus, "--langs", "EN")
    report = report_of(corpus)
    assert report["langs"] == ["en"] and report["splits"]["train"]["sentences"] == 2


def test_an_empty_training_file_replaces_nothing(tmp_path, corpus):
    src = dataset(tmp_path / "s", train=())
    fails(src, corpus, says=("no training", "--allow-no-train"), keeps=(src, corpus))
    # said on purpose: evaluation data only
    succeeds(src, corpus, "--allow-no-train")
    assert report_of(corpus)["splits"]["test"]["sentences"] == 1 and not docs(corpus / "train")


def test_every_training_row_skipped_replaces_nothing(tmp_path, corpus):
    src = dataset(tmp_path / "s", train=({"tokens": ["a"], "ner_tags": [99], "lang": "en"},))
    fails(src, corpus, "--skip-invalid", says=("no training", "--skip-invalid"), keeps=(src, corpus))


# --- formats recognised, not guessed --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, says",
    [
        ("-DOCSTART-\t-X-\t-X-\tO\n\nEU\tNNP\tB-NP\tB-ORG\nrejects\tVBZ\tB-VP\tO\n\n", "CoNLL-2003"),
        ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n", "CoNLL-2003"),
        ("# a comment\nEU B-ORG\nrejects O\n\n", "token tag"),
        ("EU\tB-ORG\nrejects\tO\n\n", "token tag"),
        ("EU\tx\ty\nrejects\tx\ty\n\n", "not a token index"),
    ],
)
def test_tsv_in_another_format_is_refused_by_name_with_how_to_convert(tmp_path, text, says):
    path = tmp_path / "s" / "train.txt"
    path.parent.mkdir()
    path.write_text(text, encoding="utf8")
    first_data_line = next(i for i, row in enumerate(text.splitlines(), 1) if row and "DOCSTART" not in row
                           and not row.startswith("#"))  # fmt: skip
    fails(path, tmp_path / "out", "--lang", "en", says=(f"{path}:{first_data_line}", says, "awk"),
          keeps=(tmp_path / "s",))  # fmt: skip
    assert not (tmp_path / "out" / "report.json").exists()


def test_docstart_lines_separate_documents_and_are_no_sentences(tmp_path):
    path = tmp_path / "s" / "train.tsv"
    path.parent.mkdir()
    path.write_text(
        "-DOCSTART-\t-X-\tO\n\n0\tRome\tB-LOC\n1\tis\tO\n0\t-DOCSTART-\tO\n0\tParis\tB-LOC\n\n", encoding="utf8"
    )
    succeeds(path, tmp_path / "out", "--lang", "it")
    assert sorted(d.text for d in docs(tmp_path / "out" / "train")) == ["Paris", "Rome is"]
    assert report_of(tmp_path / "out")["splits"]["train"]["rows_in"] == 2


def test_a_json_array_is_read_as_rows(tmp_path):
    path = tmp_path / "s" / "train.json"
    path.parent.mkdir()
    path.write_text(json.dumps([ADA, ROME], indent=2), encoding="utf8")
    succeeds(path, tmp_path / "out", "--skip-invalid")
    train = report_of(tmp_path / "out")["splits"]["train"]
    assert (train["sentences"], train["skipped"], train["rows_in"]) == (2, 0, 2)
    # its rows are named by their place in the array
    path.write_text(json.dumps([ADA, {"tokens": ["x"], "ner_tags": [77], "lang": "en"}]), encoding="utf8")
    fails(path, tmp_path / "out2", says=(f"{path}: row 1", "77"), keeps=(path,))


def test_a_broken_json_array_is_refused_by_name(tmp_path):
    path = tmp_path / "s" / "train.json"
    path.parent.mkdir()
    path.write_text("[\n" + json.dumps(ADA) + ",\n", encoding="utf8")
    fails(path, tmp_path / "out", "--skip-invalid", says=(str(path), "JSON array"), keeps=(path,))


# --- labels ---------------------------------------------------------------------------------------


def test_a_string_tag_among_multinerd_ids_is_an_error_naming_it(tmp_path):
    path = write_jsonl(tmp_path / "s" / "train_en.jsonl",
                       [ADA, {"tokens": ["Bob", "Smith"], "ner_tags": ["B-PRE", "I-PER"], "lang": "en"}])  # fmt: skip
    fails(path.parent, tmp_path / "out", says=(f"{path}:2", "'B-PRE'", "ids"), keeps=(path,))
    # even a tag MultiNERD has: a file writes its tags one way
    write_jsonl(path, [ADA, {"tokens": ["Bob"], "ner_tags": ["B-PER"], "lang": "en"}])
    fails(path.parent, tmp_path / "out", says=(f"{path}:2", "'B-PER'"), keeps=(path,))
    # and within a row; and an id in a file of strings
    write_jsonl(path, [{"tokens": ["Bob", "Smith"], "ner_tags": [1, "I-PER"], "lang": "en"}])
    fails(path.parent, tmp_path / "out", says=(f"{path}:1", "'I-PER'"), keeps=(path,))
    write_jsonl(path, [{"tokens": ["Bob"], "ner_tags": ["B-PER"], "lang": "en"}, ADA])
    fails(path.parent, tmp_path / "out", says=(f"{path}:2", "tag 1 ", "string tags"), keeps=(path,))


@pytest.mark.parametrize("order", ["ids first", "strings first"])
def test_with_multinerd_ids_string_tags_of_other_files_must_be_multinerds_types(tmp_path, order):
    ids, strings = ("a", "b") if order == "ids first" else ("b", "a")
    write_jsonl(tmp_path / "s" / ids / "train_en.jsonl", [ADA])
    strings_file = write_jsonl(tmp_path / "s" / strings / "train_en.jsonl",
                               [{"tokens": ["Ada"], "ner_tags": ["B-PER"], "lang": "en"},
                                {"tokens": ["Bob"], "ner_tags": ["B-PRE"], "lang": "en"}])  # fmt: skip
    fails(tmp_path / "s", tmp_path / "out", says=(f"{strings_file}:2", "'B-PRE'", "MultiNERD", "--labels"),
          keeps=(tmp_path / "s",))  # fmt: skip
    # declared on purpose, it converts
    succeeds(tmp_path / "s", tmp_path / "out", "--labels", ",".join(ENTITY_TYPES + ("PRE",)))
    assert report_of(tmp_path / "out")["splits"]["train"]["entities"] == {"PER": 3, "PRE": 1}


def test_tags_outside_the_labels_given_are_errors_naming_the_tag(tmp_path):
    wiki = [(["Ada", "Lovelace", "of", "London"], ["B-PER", "I-PER", "O", "B-LOC"]),
            (["The", "Royal", "Society"], ["O", "B-ORG", "I-ORG"])]  # fmt: skip
    path = write_tsv(tmp_path / "s" / "en" / "train.tsv", wiki)
    fails(path, tmp_path / "out", "--labels", "PER,LOC,MISC", says=(f"{path}:6", "'B-ORG'", "--labels"),
          keeps=(tmp_path / "s",))  # fmt: skip
    # the labels as a file: one a line, a JSON list, or an earlier corpus' labels/ner.json
    (tmp_path / "labels.txt").write_text("PER\nLOC\nORG\nMISC\n")
    succeeds(path, tmp_path / "out", "--labels", tmp_path / "labels.txt")
    srsly.write_json(tmp_path / "labels.json", ["PER", "LOC"])
    fails(path, tmp_path / "out2", "--labels", tmp_path / "labels.json", says=("'B-ORG'",))
    succeeds(path, tmp_path / "out2", "--labels", tmp_path / "out" / "labels" / "ner.json")
    # MultiNERD's ids outside the labels given
    ids = write_jsonl(tmp_path / "ids" / "train_en.jsonl", [ADA, {"tokens": ["Bo"], "ner_tags": [7], "lang": "en"}])
    fails(ids, tmp_path / "out3", "--labels", "PER,LOC", says=(f"{ids}:2", "ANIM"))


def test_another_label_set_in_tag_strings_converts(tmp_path):
    """WikiNEuRal's PER/ORG/LOC/MISC, tag strings only: no label set is imposed."""
    path = write_tsv(
        tmp_path / "s" / "de" / "train.tsv", [(["Der", "Oscar", "in", "Köln"], ["O", "B-MISC", "O", "B-LOC"])]
    )
    succeeds(path, tmp_path / "out")
    assert report_of(tmp_path / "out")["splits"]["train"]["entities"] == {"LOC": 1, "MISC": 1}


# --- languages ------------------------------------------------------------------------------------


def test_language_codes_are_normalised_chinese_is_cut_whatever_its_code_and_unknown_codes_reported(tmp_path):
    rows = [{"tokens": ["Ada"], "ner_tags": [1], "lang": "EN"}, {"tokens": ["北京"], "ner_tags": [5], "lang": "ZH"},
            {"tokens": ["上海"], "ner_tags": [5], "lang": "zh-CN"}, {"tokens": ["广州"], "ner_tags": [5], "lang": "zh_Hans"},
            {"tokens": ["Rome"], "ner_tags": [5], "lang": "en"}, {"tokens": ["서울"], "ner_tags": [5], "lang": "ko-KR"}]  # fmt: skip
    write_jsonl(tmp_path / "s" / "train.jsonl", rows)
    stdout = succeeds(tmp_path / "s", tmp_path / "out")
    report = report_of(tmp_path / "out")
    languages = report["splits"]["train"]["languages"]
    assert {lang: counts["sentences"] for lang, counts in languages.items()} == {"en": 2, "ko": 1, "zh": 3}
    assert report["unknown_languages"] == ["ko"] and "ko" in " ".join(stdout.split()[-30:])
    chinese = sorted(summary(d) for d in docs(tmp_path / "out" / "train") if d[0].text in "北上广")
    assert chinese == [
        (["上", "海"], [(0, 2, "LOC")]),
        (["北", "京"], [(0, 2, "LOC")]),
        (["广", "州"], [(0, 2, "LOC")]),
    ]


# --- duplicates and leakage -------------------------------------------------------------------------


def test_duplicates_and_sentences_shared_with_train_are_counted_and_dedupe_drops_trains_only(tmp_path):
    de = {"tokens": ["Köln", "liegt", "am", "Rhein"], "ner_tags": [5, 0, 0, 5], "lang": "de"}
    retagged = {**ADA, "ner_tags": [1, 2, 0, 0]}  # same tokens, other tags: not a duplicate
    write_jsonl(tmp_path / "s" / "train" / "train_en.jsonl", [ADA, ROME, ADA, retagged, ADA])
    write_jsonl(tmp_path / "s" / "train" / "train_de.jsonl", [de, de])
    write_jsonl(tmp_path / "s" / "val" / "val_en.jsonl", [ROME, PARIS, PARIS])
    write_jsonl(tmp_path / "s" / "test" / "test_en.jsonl", [ADA, PARIS])
    write_jsonl(tmp_path / "s" / "test" / "test_de.jsonl", [{**de, "lang": "de"}, de])
    succeeds(tmp_path / "s", tmp_path / "kept")
    succeeds(tmp_path / "s", tmp_path / "deduped", "--dedupe")
    for out, dropped in ((tmp_path / "kept", {"en": 0, "de": 0}), (tmp_path / "deduped", {"en": 2, "de": 1})):
        splits = report_of(out)["splits"]
        train, dev, test = (splits[split]["languages"] for split in ("train", "dev", "test"))
        assert {lang: c["duplicates"] for lang, c in train.items()} == {"en": 2, "de": 1}
        assert {lang: c["deduplicated"] for lang, c in train.items()} == dropped
        assert {lang: c["sentences"] for lang, c in train.items()} == {"en": 5 - dropped["en"], "de": 2 - dropped["de"]}
        assert (dev["en"]["duplicates"], dev["en"]["in_train"]) == (1, 1)
        assert (test["en"]["in_train"], test["de"]["in_train"], test["de"]["duplicates"]) == (1, 2, 1)
        assert splits["train"]["rows_in"] == 7 == splits["train"]["sentences"] + splits["train"]["deduplicated"]
        assert len(docs(out / "train")) == splits["train"]["sentences"]
        assert len(docs(out / "dev")) == 3 and len(docs(out / "test")) == 4  # dev and test keep theirs
    deduped = [summary(d) for d in docs(tmp_path / "deduped" / "train")]
    assert len(deduped) == len({repr(d) for d in deduped}) == 4


# --- faults: one line each, nothing replaced ----------------------------------------------------------


def test_a_full_disk_is_one_line_and_replaces_nothing(tmp_path, corpus, monkeypatch):
    src = dataset(tmp_path / "s", train=[{**ADA, "tokens": [f"w{i}", "x", "y", "z"]} for i in range(30)])
    real, calls = multinerd.data.corpus.write_docbin, []

    def disk_fills_up(docbin, path):
        calls.append(path)
        if len(calls) == 3:
            path.with_name(path.name + ".partial").write_bytes(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(docbin, path)

    monkeypatch.setattr(multinerd.data.corpus, "write_docbin", disk_fills_up)
    fails(src, corpus, "--shard-size", "5", says=(str(corpus), "space"), keeps=(src, corpus))
    assert len(calls) == 3


def test_a_read_only_output_is_one_line(tmp_path, corpus, monkeypatch):
    real_mkdir = os.mkdir

    def read_only(path, *args, **kwargs):
        if Path(path).resolve().is_relative_to(corpus.resolve()):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only)
    src = dataset(tmp_path / "s")
    fails(src, corpus, says=(str(corpus), "Read-only", "write to"), keeps=(src, corpus))
    fails(src, corpus / "new", says=(str(corpus / "new"), "write to"), keeps=(src, corpus))
