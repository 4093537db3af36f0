"""A probability for every entity: the `entity_scores` component, after the entity recognizer
(`ner`: spaCy's transition-based one, or the BIO tagger of multinerd.pipeline.bio_tagger).

spaCy's transition-based `ner` decodes greedily, one action per token (B-X, I-X, L-X, U-X or O),
and keeps no probability. This component replays the `ner`'s own decisions (the BILUO tags of
`doc.ents`) through the same weights and keeps each step's action scores; an entity's score is
the probability of its actions, each a softmax over the actions valid at that step, with the
scores divided by a temperature:

    P(start, end, X) = p(B-X | before it) * p(I-X | ...) * ... * p(L-X | ...)   (U-X alone for one token)

then Platt scaling of that probability. A BIO tagger's scores are a softmax over its tags at each
token, and an entity's probability is p(B-X) at its first token, p(I-X) at each other, and
1 - p(I-X) at the token after it (BioTags). The temperature and the Platt scaling are the
calibration fitted on dev (scripts/calibrate.py); the scores are `ent._.score`, in [0, 1].
`doc.ents` stay the `ner`'s, unless `threshold` drops those scored below it. With
`alternatives_key` set, `doc.spans[alternatives_key]` has the spans that did not make it, best
first, their scores in the group's `attrs["scores"]` as spaCy's spancat keeps them: every entity
the threshold dropped (the recognizer chose it: whoever raises the threshold sees what it cost),
and the spans the recognizer did not choose (another label for an entity's words, with the
entity's own continuation; a one-token entity where the `ner` said O) scored at least
`alternatives_threshold` (default 0.1: below it a sentence has a score for nearly every token and
label, dozens of spans that are noise).

(A beam over the same weights, `ner.beam_parse` and `ner.scored_ents`, was measured first: on a
trained pipeline every greedy entity's beam marginal was at least 0.999 at beam widths 4, 8 and
16, as the beam's other parses add entities to the greedy ones rather than drop them; README.md.)

This file is shipped inside the `xx_multinerd` package (`spacy package --code`), so it imports
nothing from this repository; in the project, pyproject.toml's `spacy_factories` entry point
names the same factory.
"""

import math
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.util import minibatch, registry

SCORE = "score"  # ent._.score
FACTORY = "xx_multinerd_entity_scores"
CFG = "cfg"  # the component's data file: its calibration
EPSILON = 1e-6  # scores are clipped to [EPSILON, 1 - EPSILON] before their logit is taken
IDENTITY = {"temperature": 1.0, "slope": 1.0, "bias": 0.0}
# The least score of a span the recognizer did not choose that the alternatives group keeps.
ALTERNATIVES_THRESHOLD = 0.1

EntityKey = Tuple[int, int, str]  # (start token, end token, label)


def logit(p: float) -> float:
    p = min(max(p, EPSILON), 1 - EPSILON)
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)  # never overflows for z < 0
    return e / (1 + e)


def platt(raw: float, slope: float, bias: float) -> float:
    """sigmoid(slope * logit(raw) + bias); slope 1 and bias 0 leave the score as it is."""
    if slope == 1.0 and bias == 0.0:
        return raw
    return sigmoid(slope * logit(raw) + bias)


class Actions(NamedTuple):
    """The class index of each of the `ner`'s actions, by label."""

    outside: int
    begin: Dict[str, int]
    inside: Dict[str, int]
    last: Dict[str, int]
    unit: Dict[str, int]

    @classmethod
    def of(cls, moves) -> "Actions":
        names = [moves.get_class_name(i) for i in range(moves.n_moves)]
        by_move: Dict[str, Dict[str, int]] = {"B": {}, "I": {}, "L": {}, "U": {}}
        for i, name in enumerate(names):
            move, _, label = name.partition("-")
            if move in by_move and label:
                by_move[move][label] = i
        return cls(names.index("O"), by_move["B"], by_move["I"], by_move["L"], by_move["U"])

    def starts(self, last_token: bool) -> List[int]:
        """The actions valid where no entity is open: O, U-*, and B-* unless one token is left."""
        return [self.outside, *self.unit.values(), *([] if last_token else self.begin.values())]

    def probability(self, rows: numpy.ndarray, key: EntityKey, temperature: float) -> float:
        return entity_probability(rows, key, self, temperature)

    def alternative_probabilities(
        self, rows: numpy.ndarray, ents: Sequence[EntityKey], temperature: float
    ) -> Dict[EntityKey, float]:
        """Each entity's words with another label (that label's start times the entity's own
        continuation), and one-token entities where the `ner` said O."""
        found: Dict[EntityKey, float] = {}
        last = len(rows) - 1
        for start, end, label in ents:
            starts = softmax_at(rows[start], self.starts(start == last), temperature)
            moves = self.unit if end - start == 1 else self.begin
            rest = 1.0 if end - start == 1 else continuation(rows, (start, end, label), self, temperature)
            for other, index in moves.items():
                if other != label:
                    found[(start, end, other)] = starts[index] * rest
        for t in outside_entities(len(rows), ents):
            starts = softmax_at(rows[t], self.starts(t == last), temperature)
            for label, index in self.unit.items():
                found[(t, t + 1, label)] = starts[index]
        return found


class BioTags(NamedTuple):
    """The class index of each of a BIO tagger's tags (multinerd.pipeline.bio_tagger), by label.

    Its scores are one softmax a token, over every tag, so an entity's probability is
    p(B-X at start) * p(I-X) at each of its other tokens * (1 - p(I-X) at the token after it).
    """

    outside: int
    begin: Dict[str, int]
    inside: Dict[str, int]

    @classmethod
    def of(cls, labels: Sequence[str]) -> "BioTags":
        begin = {tag[2:]: i for i, tag in enumerate(labels) if tag.startswith("B-")}
        inside = {tag[2:]: i for i, tag in enumerate(labels) if tag.startswith("I-")}
        return cls(list(labels).index("O"), begin, inside)

    def probability(self, rows: numpy.ndarray, key: EntityKey, temperature: float) -> float:
        return self.span_probability(softmax_rows(rows, temperature), key)

    def span_probability(self, probs: numpy.ndarray, key: EntityKey) -> float:
        start, end, label = key
        p = probs[start, self.begin[label]] * numpy.prod(probs[start + 1 : end, self.inside[label]])
        return float(p * (1.0 - probs[end, self.inside[label]]) if end < len(probs) else p)

    def alternative_probabilities(
        self, rows: numpy.ndarray, ents: Sequence[EntityKey], temperature: float
    ) -> Dict[EntityKey, float]:
        """Each entity's words with another label, and one-token entities where the tagger said O."""
        keys = [(start, end, other) for start, end, label in ents for other in self.begin if other != label]
        keys += [(t, t + 1, label) for t in outside_entities(len(rows), ents) for label in self.begin]
        probs = softmax_rows(rows, temperature)
        return {key: self.span_probability(probs, key) for key in keys}


def softmax_rows(rows: numpy.ndarray, temperature: float) -> numpy.ndarray:
    scores = rows / temperature
    weights = numpy.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def outside_entities(n_tokens: int, ents: Sequence[EntityKey]) -> List[int]:
    """The tokens in none of the entities."""
    inside = {t for start, end, _ in ents for t in range(start, end)}
    return [t for t in range(n_tokens) if t not in inside]


def softmax_at(row: numpy.ndarray, valid: Sequence[int], temperature: float) -> Dict[int, float]:
    scores = row[list(valid)] / temperature
    weights = numpy.exp(scores - scores.max())
    return dict(zip(valid, (weights / weights.sum()).tolist()))


def entity_probability(rows: numpy.ndarray, key: EntityKey, actions: Actions, temperature: float) -> float:
    """The probability of the entity's actions given the steps before each (see the module docstring)."""
    start, end, label = key
    last = len(rows) - 1
    starts = softmax_at(rows[start], actions.starts(start == last), temperature)
    if end - start == 1:
        return starts[actions.unit[label]]
    p = starts[actions.begin[label]] * continuation(rows, key, actions, temperature)
    return p


def continuation(rows: numpy.ndarray, key: EntityKey, actions: Actions, temperature: float) -> float:
    """The probability that an entity begun at `start` goes on to end at `end` (I-X ... L-X)."""
    start, end, label = key
    last, p = len(rows) - 1, 1.0
    for t in range(start + 1, end):
        valid = [actions.last[label]] if t == last else [actions.inside[label], actions.last[label]]
        p *= softmax_at(rows[t], valid, temperature)[actions.last[label] if t == end - 1 else actions.inside[label]]
    return p


def entity_scores(
    rows: numpy.ndarray, ents: Sequence[EntityKey], actions, calibration: Dict[str, float]
) -> List[float]:
    """The calibrated score of each of a doc's entities, from its step scores (`actions`: the
    `ner`'s Actions or a tagger's BioTags)."""
    temperature, slope, bias = calibration["temperature"], calibration["slope"], calibration["bias"]
    return [platt(actions.probability(rows, key, temperature), slope, bias) for key in ents]


def alternatives(
    rows: numpy.ndarray, ents: Sequence[EntityKey], actions, calibration: Dict[str, float], floor: float
) -> List[Tuple[EntityKey, float]]:
    """The spans the recognizer did not choose (`actions.alternative_probabilities`), scored at
    least `floor`, best first."""
    temperature, slope, bias = calibration["temperature"], calibration["slope"], calibration["bias"]
    found = actions.alternative_probabilities(rows, ents, temperature)
    scored = [(key, platt(p, slope, bias)) for key, p in found.items()]
    return sorted((item for item in scored if item[1] >= floor), key=lambda item: -item[1])


def biluo_tags(doc: Doc) -> List[str]:
    """The `ner` action of each token that gives doc.ents."""
    tags = ["O"] * len(doc)
    for ent in doc.ents:
        if len(ent) == 1:
            tags[ent.start] = f"U-{ent.label_}"
        else:
            tags[ent.start : ent.end] = [f"B-{ent.label_}"] + [f"I-{ent.label_}"] * (len(ent) - 2) + [f"L-{ent.label_}"]
    return tags


def step_scores(ner, docs: List[Doc]) -> List[numpy.ndarray]:
    """Each doc's action scores at each of its tokens (len(doc) x actions), the `ner`'s own
    decisions (the BILUO tags of doc.ents) taken at each step, so that every step's scores are
    those the `ner` chose from."""
    tags = [biluo_tags(doc) for doc in docs]
    states = ner.moves.init_batch(docs)
    rows: List[List[numpy.ndarray]] = [[] for _ in docs]
    active = [(i, state) for i, state in enumerate(states) if not state.is_final()]
    model = ner.model.predict(docs)
    try:
        while active:
            scores = model.ops.to_numpy(model.predict([state for _, state in active]))
            for (i, state), row in zip(active, scores):
                ner.moves.apply_transition(state, tags[i][len(rows[i])])  # one token a step
                rows[i].append(row)
            active = [(i, state) for i, state in active if not state.is_final()]
    finally:
        model.clear_memory()
    return [numpy.array(doc_rows) if doc_rows else numpy.zeros((0, ner.moves.n_moves)) for doc_rows in rows]


def tag_scores(tagger, docs: List[Doc]) -> List[numpy.ndarray]:
    """A BIO tagger's scores at each token (len(doc) x tags), as logits: its softmax's inputs, or
    the log of its probabilities where its model normalizes."""
    normalized = tagger.model.get_ref("output_layer").attrs["softmax_normalize"]
    rows = [tagger.model.ops.to_numpy(scores) for scores in tagger.model.predict(docs)] if docs else []
    return [numpy.log(numpy.maximum(doc_rows, 1e-12)) if normalized else doc_rows for doc_rows in rows]


class EntityScores:
    """Scores the entities that the component named `ner` found (see the module docstring)."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        *,
        ner: str,
        threshold: float,
        alternatives_key: Optional[str],
        alternatives_threshold: float = ALTERNATIVES_THRESHOLD,
    ):
        for setting, value in (("threshold", threshold), ("alternatives_threshold", alternatives_threshold)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: {setting} must be in [0, 1] (got {value})")
        if not Span.has_extension(SCORE):
            Span.set_extension(SCORE, default=None)
        self.nlp, self.name, self.ner = nlp, name, ner
        self.threshold, self.alternatives_key = threshold, alternatives_key
        self.alternatives_threshold = alternatives_threshold
        self.cfg: Dict = {"calibration": dict(IDENTITY)}

    @property
    def calibration(self) -> Dict[str, float]:
        return self.cfg["calibration"]

    def set_calibration(self, calibration: Dict[str, float]) -> None:
        if not calibration["temperature"] > 0:
            raise ValueError(f"{self.name}: the temperature must be positive (got {calibration['temperature']})")
        self.cfg["calibration"] = {key: float(calibration[key]) for key in IDENTITY}

    def actions(self):
        """The recognizer's Actions (a transition-based `ner`) or BioTags (a BIO tagger)."""
        recognizer = self.nlp.get_pipe(self.ner)
        return Actions.of(recognizer.moves) if hasattr(recognizer, "moves") else BioTags.of(recognizer.tags)

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 256) -> Iterator[Doc]:
        for batch in minibatch(docs, batch_size):
            self.set_annotations(batch, self.predict(batch))
            yield from batch

    def predict(self, docs: List[Doc]) -> List[numpy.ndarray]:
        """Each doc's scores at each token (see `step_scores` and `tag_scores`)."""
        recognizer = self.nlp.get_pipe(self.ner)
        return step_scores(recognizer, docs) if hasattr(recognizer, "moves") else tag_scores(recognizer, docs)

    def set_annotations(self, docs: List[Doc], rows: List[numpy.ndarray]) -> None:
        actions = self.actions()
        for doc, doc_rows in zip(docs, rows):
            ents = list(doc.ents)
            keys = [(ent.start, ent.end, ent.label_) for ent in ents]
            scored = list(zip(ents, entity_scores(doc_rows, keys, actions, self.calibration)))
            kept = [(ent, score) for ent, score in scored if score >= self.threshold]
            if self.alternatives_key is not None:
                dropped = [(key, score) for key, (_, score) in zip(keys, scored) if score < self.threshold]
                found = alternatives(doc_rows, keys, actions, self.calibration, self.alternatives_threshold)
                found = sorted(dropped + found, key=lambda item: -item[1])
                spans = [Span(doc, start, end, label) for (start, end, label), _ in found]
                attrs = {"scores": [score for _, score in found]}
                doc.spans[self.alternatives_key] = SpanGroup(doc, name=self.alternatives_key, attrs=attrs, spans=spans)
            if len(kept) < len(scored):
                doc.set_ents([ent for ent, _ in kept], default="outside")
            for ent, score in kept:
                ent._.set(SCORE, score)

    def initialize(self, get_examples=None, *, nlp: Optional[Language] = None) -> None:
        """Nothing to learn from the training data: the calibration is fitted on dev after training."""

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        return srsly.json_dumps(self.cfg).encode("utf8")

    def from_bytes(self, data: bytes, *, exclude=tuple()) -> "EntityScores":
        self.set_calibration(srsly.json_loads(data.decode("utf8"))["calibration"])
        return self

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / CFG, self.cfg)

    def from_disk(self, path, *, exclude=tuple()) -> "EntityScores":
        self.set_calibration(srsly.read_json(Path(path) / CFG)["calibration"])
        return self


def entity_scores_name(nlp: Language) -> Optional[str]:
    """The name of the pipeline's entity scores component (this factory's); None if it has none."""
    return next((name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == FACTORY), None)


def displacy_data(doc: Doc, digits: int = 2) -> Tuple[Dict, Dict]:
    """displaCy's manual data for `doc` with each entity's score after its label ("PER 0.93"), and
    the options that keep each type's colour (the registered displaCy colours):

        data, options = displacy_data(doc)
        displacy.render(data, style="ent", manual=True, options=options)
    """
    colors: Dict[str, str] = {}
    for entity_colors in registry.displacy_colors.get_all().values():
        colors.update(entity_colors())
    ents, shown = [], {}
    for ent in doc.ents:
        score = ent._.get(SCORE) if Span.has_extension(SCORE) else None
        label = ent.label_ if score is None else f"{ent.label_} {score:.{digits}f}"
        ents.append({"start": ent.start_char, "end": ent.end_char, "label": label})
        if ent.label_ in colors:
            shown[label] = colors[ent.label_]
    return {"text": doc.text, "ents": ents, "title": None}, {"colors": shown}


def make_entity_scores(
    nlp: Language,
    name: str,
    ner: str,
    threshold: float,
    alternatives_key: Optional[str],
    alternatives_threshold: float = ALTERNATIVES_THRESHOLD,
) -> EntityScores:
    return EntityScores(
        nlp,
        name,
        ner=ner,
        threshold=threshold,
        alternatives_key=alternatives_key,
        alternatives_threshold=alternatives_threshold,
    )


# Registered once. Where this project is installed, two copies of this file run, the package's
# and the project's (through its entry point, or `spacy package --code`): the first keeps the
# name, as spaCy refuses a second function for a factory.
if Language.get_factory_name(FACTORY) not in registry.factories:
    Language.factory(
        FACTORY,
        default_config={
            "ner": "ner",
            "threshold": 0.0,
            "alternatives_key": None,
            "alternatives_threshold": ALTERNATIVES_THRESHOLD,
        },
        requires=["doc.ents"],
        assigns=["doc.ents", f"span._.{SCORE}"],
    )(make_entity_scores)
