"""An entity recognizer that tags: a softmax over O, B-X and I-X on each token's vector (the
Hugging Face recipe's token-classification head), decoded to the most probable well-formed BIO
sequence (an I-X only after B-X or I-X), written to `doc.ents`. It is spaCy's `Tagger` with
entity tags as its labels: same model (`spacy.Tagger.v2`), same training, its gold taken from
the reference's entities instead of `token.tag_`. Registered by pyproject.toml's entry point as
the factory `xx_multinerd_bio_ner`."""

from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import Tagger
from spacy.tokens import Doc, Span
from spacy.training import validate_examples, validate_get_examples
from spacy.util import registry
from thinc.api import Model, SequenceCategoricalCrossentropy

# The BILUO tags Example.get_aligned_ner gives, as BIO: a unit is a one-token begin, a last an inside.
BIO_PREFIX = {"B": "B", "I": "I", "L": "I", "U": "B"}


def bio_labels(entity_types: Iterable[str]) -> List[str]:
    """O, then B-X and I-X for each type, sorted."""
    return ["O"] + [f"{prefix}-{label}" for label in sorted(set(entity_types)) for prefix in "BI"]


def entity_types(label_data: Union[Dict, Sequence[str]]) -> List[str]:
    """The entity types of the `ner`'s label data (its actions' labels, as the converter's
    labels/ner.json holds them), of this tagger's own (its tags, as `spacy init labels` writes
    them) or of a plain list of types."""
    if isinstance(label_data, dict):
        names = {name for by_label in label_data.values() for name in by_label}
    else:
        names = {label[2:] if label[:2] in ("B-", "I-") else label for label in label_data} - {"O"}
    return sorted(name for name in names if name and name != "-")


def bio_from_biluo(tag: Optional[str]) -> Optional[str]:
    """A gold BILUO tag as BIO; None (not aligned) and "-" (missing) are left out of the loss."""
    if tag is None or tag == "-":
        return None
    return "O" if tag == "O" else f"{BIO_PREFIX[tag[0]]}-{tag[2:]}"


def allowed_transitions(labels: Sequence[str]) -> numpy.ndarray:
    """allowed[i, j]: tag j may follow tag i (I-X only after B-X or I-X)."""
    allowed = numpy.ones((len(labels), len(labels)), dtype=bool)
    for j, tag in enumerate(labels):
        if tag.startswith("I-"):
            allowed[:, j] = [previous[2:] == tag[2:] and previous != "O" for previous in labels]
    return allowed


def log_probabilities(scores: numpy.ndarray, normalized: bool) -> numpy.ndarray:
    """Log-probabilities from a softmax layer's outputs: probabilities, or scores (logits)."""
    if normalized:
        return numpy.log(numpy.maximum(scores, 1e-12))
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))


def best_bio_path(log_probs: numpy.ndarray, allowed: numpy.ndarray) -> numpy.ndarray:
    """Viterbi: the tag ids of the highest-scoring sequence whose every step is allowed and whose
    first tag is not an I-X (a row of `allowed` that allows nothing after "O" marks those)."""
    n_tokens, n_labels = log_probs.shape
    path = numpy.zeros(n_tokens, dtype="int64")
    if n_tokens == 0:
        return path
    penalty = numpy.where(allowed, 0.0, -numpy.inf)
    score = log_probs[0] + penalty[0]  # labels[0] is "O": what may start a sentence may follow O
    back = numpy.zeros((n_tokens, n_labels), dtype="int64")
    for t in range(1, n_tokens):
        candidates = score[:, None] + penalty
        back[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[t]
    path[-1] = score.argmax()
    for t in range(n_tokens - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def bio_spans(doc: Doc, tags: Sequence[str]) -> List[Span]:
    """The entities of a well-formed BIO sequence."""
    spans, start = [], None
    for i, tag in enumerate(list(tags) + ["O"]):
        if start is not None and not tag.startswith("I-"):
            spans.append(Span(doc, start, i, label=tags[start][2:]))
            start = None
        if tag.startswith("B-"):
            start = i
    return spans


class BioEntityTagger(Tagger):
    """spaCy's Tagger over entity tags: learns from and writes `doc.ents`. Its `labels` are the
    entity types, as spaCy's `ner` has them; its tags (O, B-X, I-X) are `tags`."""

    @property
    def tags(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(entity_types(self.tags))

    def add_label(self, label: str) -> int:
        """Add an entity type: its B- and I- tags (after O, the first tag). 0 if it was there."""
        if not isinstance(label, str):
            raise ValueError(Errors.E187)
        if label in self.labels:
            return 0
        self._allow_extra_label()
        for tag in ([] if self.cfg["labels"] else ["O"]) + [f"B-{label}", f"I-{label}"]:
            self.cfg["labels"].append(tag)
            self.vocab.strings.add(tag)
        return 1

    def initialize(self, get_examples, *, nlp: Optional[Language] = None, labels=None) -> None:
        """Tags for the entity types of `labels` (the `ner`'s label data, this tagger's, or types)
        or else of the examples' entities; the model's sizes from a sample of the examples."""
        validate_get_examples(get_examples, "BioEntityTagger.initialize")
        if labels is None:
            labels = [ent.label_ for example in get_examples() for ent in example.reference.ents]
        for label in entity_types(labels):
            self.add_label(label)
        self._require_labels()
        docs = [example.x for example in islice(get_examples(), 10)]
        self.model.initialize(X=docs, Y=[self.model.ops.alloc2f(len(doc), len(self.tags)) for doc in docs])

    def predict(self, docs: List[Doc]) -> List[numpy.ndarray]:
        if not any(len(doc) for doc in docs):
            return [numpy.zeros(0, dtype="int64") for _ in docs]
        allowed = allowed_transitions(self.tags)
        # spacy.Tagger.v2 with normalize = false (its default) gives scores, not probabilities, at inference.
        normalized = self.model.get_ref("output_layer").attrs["softmax_normalize"]
        return [best_bio_path(log_probabilities(self.model.ops.to_numpy(s), normalized), allowed)
                for s in self.model.predict(docs)]  # fmt: skip

    def set_annotations(self, docs: Iterable[Doc], batch_tag_ids: List[numpy.ndarray]) -> None:
        if isinstance(docs, Doc):
            docs = [docs]
        tags = self.tags
        for doc, tag_ids in zip(docs, batch_tag_ids):
            doc.ents = bio_spans(doc, [tags[i] for i in tag_ids])

    def get_loss(self, examples, scores):
        validate_examples(examples, "BioEntityTagger.get_loss")
        loss_func = SequenceCategoricalCrossentropy(
            names=self.tags, normalize=False, label_smoothing=self.cfg["label_smoothing"]
        )
        truths = [[bio_from_biluo(tag) for tag in example.get_aligned_ner()] for example in examples]
        d_scores, loss = loss_func(scores, truths)
        return float(loss), d_scores


def make_bio_tagger(
    nlp: Language, name: str, model: Model, label_smoothing: float, scorer: Optional[Callable]
) -> BioEntityTagger:
    return BioEntityTagger(nlp.vocab, model, name, overwrite=True, scorer=scorer, label_smoothing=label_smoothing)


FACTORY = "xx_multinerd_bio_ner"

# Registered once (see multinerd.pipeline.entity_scores: the package's copy and the project's may both run).
if Language.get_factory_name(FACTORY) not in registry.factories:
    Language.factory(
        FACTORY,
        default_config={"label_smoothing": 0.0, "scorer": {"@scorers": "spacy.ner_scorer.v1"}},
        requires=[],
        assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
        default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
    )(make_bio_tagger)
