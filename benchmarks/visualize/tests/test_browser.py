"""The visualizer in headless Chromium (scripts/browser_check.py) on a small pipeline trained on
the sample: the marks the page draws, for a sentence typed into it, hidden by the slider and
back; the server stopped after, nothing left listening; and the project's deps."""

import re

import pytest
from browser_check import CHROMEDRIVER, CHROMIUM, MISSING_BROWSER, try_page
from conftest import PROJECT
from project_check import command_problems
from visualize_helpers import trained_pipeline

LABEL = re.compile(r"[A-Z]+ [01]\.\d\d")  # "PER 0.93": the type, then its score


@pytest.fixture(scope="module")
def model(tmp_path_factory, sample_corpus):
    return trained_pipeline(sample_corpus, tmp_path_factory.mktemp("visualize-training"))


def test_the_page_in_chromium(model, tmp_path):
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), MISSING_BROWSER
    sentence = "Barack Obama visited Paris with Vincent van Gogh."
    result = try_page(str(model), sentence, tmp_path / "page.png")
    assert result["example"], "the first example's entities, drawn in the live page"
    typed = result["typed"]
    assert typed and typed != result["example"]
    assert all(text in sentence and LABEL.fullmatch(label) for text, label in typed)
    assert result["at_threshold_1"] == [] and result["at_threshold_0"] == typed
    assert (tmp_path / "page.png").read_bytes().startswith(b"\x89PNG")
    assert not result["left_listening"]


def test_project_deps_name_every_script_and_product_module_used():
    assert command_problems(PROJECT) == {"browser": []}
