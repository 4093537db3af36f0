"""The visualizer page (multinerd.visualize.page) through streamlit's own testing API (AppTest: the page
runs as a script, its widgets are set and read back, no server or browser), and its command line.
The real browser's test is benchmarks/visualize's."""

import math
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from PIL import Image
from streamlit.testing.v1 import AppTest
from visualize_helpers import trained_pipeline

from multinerd.evaluation.seqeval import add_tags, score_tags
from multinerd.labels import LANGUAGES, SENTENCES
from multinerd.packaging.meta import seqeval_performance
from multinerd.visualize.page import MAX_CHARS, PLOT

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "visualize.py"
MARK = re.compile(
    r'<mark class="entity" style="background: (#\w+);.*?>\s*(.*?)\s*<span[^>]*>(\w+) ([\d.]+)</span>', re.S
)


@pytest.fixture(scope="module")
def model(tmp_path_factory, sample_corpus) -> Path:
    return trained_pipeline(sample_corpus, tmp_path_factory.getbasetemp() / "visualize-training")


def app(model):  # the page as streamlit runs it (AppTest runs this function's source as the script)
    from multinerd.visualize.page import page

    page(model)


def open_page(model) -> AppTest:
    page = AppTest.from_function(app, args=(str(model),), default_timeout=60).run()
    assert not page.exception, page.exception
    return page


def marks(page: AppTest):
    """(text, label, score, colour) of each entity displaCy drew."""
    html = "".join(element.value for element in page.get("html"))
    return [(text, label, float(score), colour) for colour, text, label, score in MARK.findall(html)]


def entity_table(page: AppTest):
    return page.dataframe[0].value.to_dict("records")


def test_entities_in_their_colours_with_scores_that_the_slider_hides(model):
    page = open_page(model)
    text = page.text_area[0].value
    assert text == SENTENCES[LANGUAGES[0]]
    shown = marks(page)
    assert shown, "the sample's pipeline finds entities in the first example"
    colours = spacy.util.registry.displacy_colors.get("xx_multinerd")()
    assert all(colour == colours[label] for _, label, _, colour in shown)
    rows = entity_table(page)
    assert [(row["text"], row["label"], round(row["score"], 2)) for row in rows] == [
        (text, label, score) for text, label, score, _ in shown
    ]
    assert all(text[row["start"] : row["end"]] == row["text"] for row in rows)
    # Between the lowest and the best score, only the entities at or above it; above the best, none.
    scores = sorted(row["score"] for row in rows)
    assert scores[-1] - scores[0] > 0.02, "the sample's pipeline scores its entities differently"
    middle = math.ceil(scores[0] * 100 + 1) / 100
    page.slider[0].set_value(middle).run()
    assert entity_table(page) == [row for row in rows if row["score"] >= middle]
    assert [label for _, label, _, _ in marks(page)] == [row["label"] for row in entity_table(page)]
    page.slider[0].set_value(min(1.0, math.ceil(scores[-1] * 100 + 1) / 100)).run()
    assert marks(page) == [] and entity_table(page) == []
    assert f"0 of {len(rows)} entities" in page.caption[0].value
    page.slider[0].set_value(0.0).run()
    assert len(marks(page)) == len(rows)


def test_each_language_has_its_example_and_chinese_is_cut_by_character(model):
    page = open_page(model)
    assert page.selectbox[0].options == list(LANGUAGES)
    page.selectbox[0].set_value("zh").run()
    text = page.text_area[0].value
    assert text == SENTENCES["zh"]
    # One token per character (the pipeline's CJK tokenizer); offsets are characters.
    assert page.caption[0].value.startswith(f"{len(text)} tokens")
    assert all(text[row["start"] : row["end"]] == row["text"] for row in entity_table(page))
    # Another language: its example replaces what was typed.
    page.text_area[0].input("上海在中国。").run()
    page.selectbox[0].set_value("en").run()
    assert page.text_area[0].value == SENTENCES["en"]


def test_alternatives_are_listed_with_their_scores(model):
    page = open_page(model)
    page.text_area[0].input("Paris is big. " * 5).run()
    tables = [table.value.to_dict("records") for table in page.dataframe]
    near_misses = tables[1]
    assert near_misses, "one-token spans the pipeline considered where it said O"
    scores = [row["score"] for row in near_misses]
    assert scores == sorted(scores, reverse=True) and all(0 < score <= 1 for score in scores)
    tagged = {(row["start"], row["end"]) for row in tables[0]}
    assert tagged and not any((row["start"], row["end"]) in tagged for row in near_misses)
    # The entities hidden by the slider are still the pipeline's: their words are no near misses.
    page.slider[0].set_value(1.0).run()
    assert entity_table(page) == [] and page.dataframe[1].value.to_dict("records") == near_misses


def test_an_empty_text_and_a_100000_character_text(model):
    page = open_page(model)
    page.text_area[0].input("  ").run()
    assert not page.exception and page.get("html") == []
    assert "Type or paste a text" in page.info[0].value
    long_text = ("Angela Merkel besuchte Berlin. " * 4000)[:100_000]
    page.text_area[0].input(long_text).run()
    assert not page.exception
    assert f"{len(long_text):,} characters" in page.warning[0].value and f"{MAX_CHARS:,}" in page.warning[0].value
    assert all(row["end"] <= MAX_CHARS for row in entity_table(page))


def packaged_copy(model: Path, folder: Path) -> Path:
    """`model` with what scripts/package_meta.py adds for the card: meta.json's seqeval block and
    the reliability plot beside it."""
    folder = Path(shutil.copytree(model, folder))
    by_lang = {}
    for lang in ("de", "zh"):
        add_tags(by_lang, lang, ["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "O"])
    meta = srsly.read_json(folder / "meta.json")
    meta.setdefault("performance", {})["seqeval"] = seqeval_performance(
        {"model": "m", "corpus": "c", **score_tags(by_lang)}
    )
    srsly.write_json(folder / "meta.json", meta)
    Image.new("RGB", (40, 30), "white").save(folder / PLOT)
    return folder


def check_card(page: AppTest) -> None:
    tables = [table.value.to_dict("records") for table in page.dataframe]
    per_type = next(rows for rows in tables if rows and "type" in rows[0])
    per_language = next(rows for rows in tables if rows and "language" in rows[0])
    assert {row["type"]: row["r"] for row in per_type} == {"PER": 1.0, "LOC": 0.0}
    assert {row["language"] for row in per_language} == {"de", "zh"}
    overall = next(rows for rows in tables if rows and "p" in rows[0] and not {"type", "language"} & set(rows[0]))
    assert (overall[0]["p"], overall[0]["r"]) == (1.0, 0.5)
    assert len(page.get("image")) == 1


def test_the_card_of_a_pipeline_folder(model, tmp_path):
    page = open_page(model)
    assert "no test scores" in page.info[0].value and page.get("image") == []
    check_card(open_page(packaged_copy(model, tmp_path / "model")))


def test_the_card_of_an_installed_package(model, tmp_path, monkeypatch):
    """A package laid out as `spacy package` lays it out, installed (a dist-info) on sys.path."""
    site, name, version = tmp_path / "site", "xx_vizcheck", "0.0.1"
    package = site / name
    data = packaged_copy(model, package / f"{name}-{version}")
    meta = {**srsly.read_json(data / "meta.json"), "lang": "xx", "name": "vizcheck", "version": version}
    srsly.write_json(data / "meta.json", meta)
    srsly.write_json(package / "meta.json", meta)
    (package / "__init__.py").write_text(
        "from spacy.util import load_model_from_init_py\n\n\n"
        "def load(**overrides):\n    return load_model_from_init_py(__file__, **overrides)\n"
    )
    (site / f"{name}-{version}.dist-info").mkdir()
    (site / f"{name}-{version}.dist-info" / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
    monkeypatch.syspath_prepend(str(site))
    page = open_page(name)
    assert marks(page)
    check_card(page)


def test_a_pipeline_that_fails_to_load_is_named(tmp_path):
    (tmp_path / "config.cfg").write_text("[nlp]\nlang = \n")
    page = open_page(tmp_path)
    assert str(tmp_path) in page.error[0].value


def one_line_failure(*args) -> str:
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cli_refuses_a_missing_model_or_a_taken_port(model, tmp_path):
    assert "No pipeline" in one_line_failure(str(tmp_path / "nothing"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert f"Port {port} on 127.0.0.1 is taken" in one_line_failure(str(model), "--port", str(port))
