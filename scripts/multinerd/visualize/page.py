"""The visualizer: a page, served on 127.0.0.1, to try a pipeline in a browser.

    python scripts/visualize.py xx_multinerd --port 8501

`serve` starts streamlit on this very file (`streamlit run visualize.py -- MODEL`), which draws
`page`: a text (a sentence in each language to start from), its entities rendered with displaCy
in each type's colour with their score after the label (`entity_scores.displacy_data`), a threshold
slider that hides the entities scored below it, a table of the entities with the other labels the
pipeline considered for their words, the near misses (one-token entities where it said O), and
the model's card: its test scores per type and per language (meta.json) and the reliability plot
shipped beside it.

Built on streamlit and displaCy alone: spacy-streamlit (unmaintained since 2023) breaks on
current streamlit in its full app, and its `visualize_ner` keys its label filter on the rendered
labels, which here carry the score.
"""

import os
import socket
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import streamlit as st
from spacy import displacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from multinerd.labels import LANGUAGES, SENTENCES
from multinerd.loading import LoadError, pipeline_problem
from multinerd.loading import load_pipeline as load_shared
from multinerd.pipeline.entity_scores import SCORE, displacy_data, entity_scores_name

HOST = "127.0.0.1"  # never another interface: the page runs any text through the pipeline
# The longest text run: a 100,000-character paste would take seconds to tag and render a page
# the browser scrolls through; the rest is cut with a message.
MAX_CHARS = 10_000
ALTERNATIVES_KEY = "visualize_alternatives"  # the entity scores' span group of the spans not chosen
ALTERNATIVES_SHOWN = 3  # other labels listed for an entity's words
NEAR_MISSES_SHOWN = 20
# The floor of the near misses the page asks for: lower than the pipeline's default, as the page
# lists only the best NEAR_MISSES_SHOWN of them.
NEAR_MISS_FLOOR = 0.01
PLOT = "reliability.png"  # scripts/package_meta.py ships evaluate's plot beside meta.json
STREAMLIT_OPTIONS = {
    "server.headless": "true",  # no browser opened, no e-mail prompt
    "browser.gatherUsageStats": "false",  # no telemetry: nothing leaves the machine
    "server.fileWatcherType": "none",  # the page is not edited while it runs
    "client.toolbarMode": "viewer",  # no developer menu (deploy, rerun on save)
}


class VisualizeError(Exception):
    """What stops the page from starting, as the one line to show."""


# --- the page's logic ----------------------------------------------------------------------------


def load_pipeline(model: str) -> Language:
    """The pipeline, with its entity scores component (where it has one) keeping every entity, as the page's
    slider is the threshold, and the alternatives it considered in doc.spans[ALTERNATIVES_KEY]."""
    nlp = load_shared(model)
    name = entity_scores_name(nlp)
    if name:
        component = nlp.get_pipe(name)
        component.threshold, component.alternatives_key = 0.0, ALTERNATIVES_KEY
        component.alternatives_threshold = NEAR_MISS_FLOOR
    return nlp


def configured_threshold(nlp: Language) -> float:
    """The threshold the pipeline's config sets (0 without entity scores): where the slider starts."""
    name = entity_scores_name(nlp)
    return float(nlp.config["components"][name].get("threshold", 0.0)) if name else 0.0


def cut(text: str, limit: int = MAX_CHARS) -> Tuple[str, Optional[str]]:
    """The text to run (its first `limit` characters) and, when cut, the message saying so."""
    if len(text) <= limit:
        return text, None
    return text[:limit], (
        f"The text has {len(text):,} characters: only the first {limit:,} are tagged. "
        "Paste a shorter part to see the rest."
    )


def score_of(span: Span) -> Optional[float]:
    return span._.get(SCORE) if Span.has_extension(SCORE) else None


def hide_below(doc: Doc, threshold: float) -> Doc:
    """`doc` without the entities scored below `threshold` (those without a score stay)."""
    kept = [ent for ent in doc.ents if score_of(ent) is None or score_of(ent) >= threshold]
    if len(kept) < len(doc.ents):
        doc.set_ents(kept, default="outside")
    return doc


def alternatives(doc: Doc) -> List[Tuple[Span, float]]:
    """The spans the entity scores component considered and the pipeline did not choose, best first."""
    group = doc.spans.get(ALTERNATIVES_KEY)
    return list(zip(group, group.attrs["scores"])) if group is not None else []


def entity_rows(doc: Doc, considered: List[Tuple[Span, float]]) -> List[Dict[str, Any]]:
    """A row per entity: text, label, score, character offsets, and the best other labels the
    pipeline considered for the same words."""
    others: Dict[Tuple[int, int], List[str]] = {}
    for span, score in considered:
        others.setdefault((span.start, span.end), []).append(f"{span.label_} {score:.2f}")
    return [
        {"text": ent.text, "label": ent.label_, "score": score_of(ent), "start": ent.start_char,
         "end": ent.end_char, "alternatives": ", ".join(others.get((ent.start, ent.end), [])[:ALTERNATIVES_SHOWN])}
        for ent in doc.ents
    ]  # fmt: skip


def near_miss_rows(doc: Doc, considered: List[Tuple[Span, float]]) -> List[Dict[str, Any]]:
    """The best one-token entities the entity scores component considered where the pipeline found none (whatever
    the threshold hides)."""
    tagged = {token.i for ent in doc.ents for token in ent}
    rows = [
        {"text": span.text, "label": span.label_, "score": score, "start": span.start_char, "end": span.end_char}
        for span, score in considered
        if span.start not in tagged
    ]
    return rows[:NEAR_MISSES_SHOWN]


def card_tables(meta: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """The test scores meta.json carries (scripts/package_meta.py's seqeval block), per type and
    per language; empty where the pipeline has none (a training folder)."""
    scores = meta.get("performance", {}).get("seqeval", {}).get("default")
    if not scores:
        return {}
    return {
        "Overall": [scores["overall"]],
        **{
            heading: [{key: name, **row} for name, row in scores[part].items()]
            for heading, part, key in (("Per type", "per_type", "type"), ("Per language", "per_language", "language"))
        },
    }


def plot_path(nlp: Language) -> Optional[Path]:
    path = Path(nlp.path) / PLOT if nlp.path else None
    return path if path and path.is_file() else None


def entities_html(doc: Doc) -> str:
    data, options = displacy_data(doc)
    return displacy.render(data, style="ent", manual=True, options=options)


# --- the page ------------------------------------------------------------------------------------


def page(model: str) -> None:
    st.set_page_config(page_title=f"{model}: entities", layout="wide")
    st.title(f"Entities found by {model}")
    try:
        nlp = st.cache_resource(show_spinner=f"Loading {model}…")(load_pipeline)(model)
    except LoadError as error:
        st.error(str(error))
        return
    language = st.sidebar.selectbox("Example language", LANGUAGES)
    threshold = st.sidebar.slider(
        "Threshold", 0.0, 1.0, configured_threshold(nlp), 0.01, help="Entities scored below it are hidden."
    )
    # A box per language: picking another language starts from its example.
    text, message = cut(st.text_area("Text", SENTENCES[language], height=120, key=f"text-{language}"))
    if message:
        st.warning(message)
    if not text.strip():
        st.info("Type or paste a text to see its entities.")
    else:
        doc = nlp(text)
        considered = alternatives(doc)
        found, near_misses = len(doc.ents), near_miss_rows(doc, considered)
        hide_below(doc, threshold)
        st.html(entities_html(doc))
        st.caption(f"{len(doc)} tokens; {len(doc.ents)} of {found} entities at or above the threshold {threshold:.2f}")
        st.subheader("Entities")
        st.dataframe(entity_rows(doc, considered), hide_index=True)
        if considered:
            st.subheader("Near misses")
            st.caption("One-token entities the pipeline considered where it found none, best first.")
            st.dataframe(near_misses, hide_index=True)
    show_card(nlp)


def show_card(nlp: Language) -> None:
    st.header("Model card")
    meta = nlp.meta
    st.markdown(f"**{meta.get('lang')}_{meta.get('name')} {meta.get('version')}**: {meta.get('description', '')}")
    tables = card_tables(meta)
    if not tables:
        st.info("This pipeline's meta.json has no test scores: the package (`spacy project run package`) carries them.")
    for heading, rows in tables.items():
        st.subheader(f"Test scores: {heading.lower()}")
        st.dataframe(rows, hide_index=True)
    plot = plot_path(nlp)
    if plot:
        st.subheader("Reliability of the entity scores")
        ece = meta.get("performance", {}).get("entity_scores", {}).get("ece")
        if ece is not None:
            st.caption(f"Expected calibration error on test: {ece:.4f}")
        st.image(str(plot))


# --- serving it ----------------------------------------------------------------------------------


def check_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise VisualizeError(
                f"Port {port} on {host} is taken ({error.strerror}): pass another with --port "
                "(--vars.visualize_port with spacy project run)."
            ) from None


def serve(model: str, port: int, host: str = HOST) -> None:
    """Replace this process by streamlit serving the page for `model` on host:port."""
    problem = pipeline_problem(model)
    if problem:
        raise VisualizeError(problem)
    check_port(host, port)
    options = {"server.address": host, "server.port": str(port), **STREAMLIT_OPTIONS}
    flags = [word for name, value in options.items() for word in (f"--{name}", value)]
    print(f"The page for {model}: http://{host}:{port} (Ctrl+C stops it)", flush=True)
    # exec: the server is this process, so stopping it (Ctrl+C, a signal to its pid) stops the page.
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", __file__, *flags, "--", model])


if __name__ == "__main__":  # streamlit runs this file as the page
    page(sys.argv[1])
