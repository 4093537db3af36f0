"""Smoke runs of both conversion benchmarks on tiny data (a few hand-written TSV sentences; a few
hundred generated ones): every figure present and sane, the counts matching; no timing
assertions. And their pieces: the TSV rewrite for spaCy, the generator's split, the meter's
failures, the project's deps."""

import os
import subprocess
import sys

import pytest
import srsly
from benchmark_convert import reformat_for_spacy
from conftest import PROJECT
from generate_corpus import allocate
from measured import run_checked
from project_check import command_problems

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# 5 sentences, 12 tokens, in two files of two languages and splits (WikiNEuRal's format)
TSV = {
    "en/val.conllu": "0\tJohn\tB-PER\n1\tSmith\tI-PER\n2\truns\tO\n\n0\tParis\tB-LOC\n1\tis\tO\n2\tbig\tO\n\n"
    "0\tHello\tO\n",
    "de/test.tsv": "0\tBerlin\tB-LOC\n1\tliegt\tO\n\n0\tDie\tO\n1\tUNO\tB-ORG\n2\ttagt\tO\n\n",
}


def run(script, *args, cwd):
    command = [sys.executable, str(PROJECT / "scripts" / script), *map(str, args)]
    return subprocess.run(command, env=ENV, cwd=cwd, capture_output=True, text=True, timeout=600)


def positive(value):
    return isinstance(value, (int, float)) and value > 0


@pytest.fixture
def tsv(tmp_path):
    for name, text in TSV.items():
        (tmp_path / "tsv" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "tsv" / name).write_text(text, encoding="utf8")
    return tmp_path / "tsv"


def test_reformat_for_spacy_keeps_sentences_and_counts_oddities(tsv, tmp_path):
    (tsv / "en" / "val.conllu").write_text("0\tNew York\tB-LOC\n1\tx\tO\n\n\n0\ty\tO\n", encoding="utf8")
    counts = reformat_for_spacy(sorted(tsv.rglob("*.*")), tsv, tmp_path / "out")
    assert counts == {"sentences": 4, "tokens": 8, "tokens_with_whitespace": 1}
    assert (tmp_path / "out" / "en" / "val.ner").read_text(encoding="utf8") == "New York B-LOC\nx O\n\n\ny O\n"


def test_convert_benchmark_smoke(tsv, tmp_path):
    output = tmp_path / "metrics" / "benchmark_convert.json"
    done = run("benchmark_convert.py", tsv, "--repeats", 2, "--output", output, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = srsly.read_json(output)
    assert (result["sentences"], result["tokens"], result["repeats"]) == (5, 12, 2)
    assert sorted(result["files"]) == ["de/test.tsv", "en/val.conllu"]
    assert [(r["tool"], r["repeat"]) for r in result["runs"]] == [("ours", 0), ("spacy", 0), ("spacy", 1), ("ours", 1)]
    for figures in result["runs"] + list(result["startup"].values()) + list(result["median"].values()):
        for key in ("wall_s", "cpu_s", "peak_rss_mib"):
            assert positive(figures[key]), key
    for tool in ("ours", "spacy"):
        assert positive(result["median"][tool]["sentences_per_s"])
    assert positive(result["ratio_ours_over_spacy"]["sentences_per_s"]) and positive(
        result["ratio_ours_over_spacy"]["peak_rss"]
    )
    assert "spacy convert" in result["commands"]["spacy"] and "convert.py" in result["commands"]["ours"]
    lines = output.with_suffix(".md").read_text(encoding="utf8").splitlines()
    assert lines[0] == "|  | run 1 | run 2 | median sentences/s | median peak RSS |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| this project", "| `spacy convert`", "| ratio"]
    assert lines[-1].endswith("× |")


def test_scale_benchmark_smoke(tmp_path):
    output = tmp_path / "metrics" / "benchmark_scale.json"
    work = tmp_path / "work"
    args = ("--train", 300, "--vocab-size", 2000, "--shard-size", 100, "--interval", 0.1, "--work", work)
    done = run("benchmark_scale.py", *args, "--output", output, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = srsly.read_json(output)
    convert = result["convert"]
    assert convert["sentences"] == {"train": 300, "dev": 30, "test": 30} and convert["sentences_total"] == 360
    assert result["generator_manifest"]["sentences"] == {"train": 300, "val": 30, "test": 30}
    # (more tokens out than in: the converter cuts the Chinese words into characters)
    assert convert["train_shards"] == 3 and convert["tokens"] > result["generator_manifest"]["tokens"]
    for key in ("wall_s", "cpu_s", "peak_rss_mib", "sentences_per_s", "input_bytes", "corpus_bytes"):
        assert positive(convert[key]), key
    assert convert["under_target"] is True and positive(result["generate"]["peak_rss_mib"])
    # (a sample taken while the child is still being exec'd may read 0)
    samples = [rss for _, rss in convert["rss_timeline_mib"]]
    assert samples and min(samples) >= 0 and 0 < max(samples) <= convert["peak_rss_mib"] * 1.05
    lines = output.with_suffix(".md").read_text(encoding="utf8").splitlines()
    assert lines[0] == "| sentences | wall time | CPU time | peak RSS | training shards |"
    assert lines[2].startswith("| 360 |") and lines[2].endswith("| 3 × 100 docs |")
    # the generated corpus, its manifest and the output are deleted; the children's logs are kept
    assert sorted(path.name for path in work.iterdir()) == ["convert.log", "generate.log"]


def test_generator_split_sums_to_the_total():
    counts = allocate(360, {"de": 3, "en": 5, "zh": 1})
    assert sum(counts.values()) == 360 and counts["en"] == 200


def test_a_failing_child_stops_the_benchmark_with_its_log(tmp_path):
    with pytest.raises(SystemExit, match="exit status 3:\nboom"):
        run_checked([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], tmp_path / "child.log")


def test_project_deps_name_every_script_and_product_module_used():
    assert command_problems(PROJECT) == {"convert": [], "scale": []}


def test_project_check_reports_a_product_module_no_command_runs(tmp_path):
    """A product module left in a command's deps after the code stopped importing it is stale."""
    stale = "../../scripts/multinerd/labels.py"
    project = tmp_path / "project.yml"
    project.write_text(
        "title: stale\ncommands:\n  - name: echo\n    script:\n      - 'python -c pass'\n"
        f"    deps:\n      - '{(PROJECT / stale).resolve()}'\n",
        encoding="utf8",
    )
    assert command_problems(tmp_path) == {"echo": [str((PROJECT / stale).resolve())]}
