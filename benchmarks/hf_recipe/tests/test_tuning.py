"""Tuning: the grid, the per-language split with its dev part, scores from predicted tags, the
choice on dev (never on test) and the best-against-best comparison."""

import pytest
from recipe import split_by_language
from tuning import best_vs_best, choose_best, grid, parse_head_rates, point_name, tag_scores

from multinerd.data.corpus import Sentence


def sentence(i, lang):
    return Sentence([f"{lang}{i}"], ["B-PER"], lang, 0)


def test_grid_is_the_same_for_both_sides():
    points = grid([2e-5, 1e-4], parse_head_rates(["same", "2e-3"]))
    assert len(points) == 8
    for side in ("spacy", "hf"):
        mine = [(p["learn_rate"], p["head_learn_rate"]) for p in points if p["side"] == side]
        assert mine == [(2e-5, None), (2e-5, 2e-3), (1e-4, None), (1e-4, 2e-3)]
    assert len({point_name(point) for point in points}) == 8


def test_split_by_language_keeps_each_languages_share_and_carves_dev_from_train():
    sentences = [sentence(i, "de") for i in range(50)] + [sentence(i, "en") for i in range(30)]
    parts = split_by_language(sentences, 20, 5, n_dev=4, seed=1)
    for lang in ("de", "en"):
        counts = {name: sum(s.lang == lang for s in part) for name, part in parts.items() if name != "rest"}
        assert counts == {"train": 16, "dev": 4, "test": 5}
    words = [s.words[0] for name in ("train", "dev", "test", "rest") for s in parts[name]]
    assert len(words) == len(set(words)) == 80  # disjoint, nothing lost
    # Without a dev part the training sentences are the same as split_sentences gives.
    plain = split_by_language(sentences, 20, 5, 0, 1)
    assert sorted(s.words[0] for s in plain["train"]) == sorted(s.words[0] for s in parts["dev"] + parts["train"])
    assert plain["test"] == parts["test"]
    tenth = split_by_language(sentences, 0, 10, n_dev=-1, seed=1)
    assert sum(s.lang == "de" for s in tenth["dev"]) == 4 and sum(s.lang == "en" for s in tenth["dev"]) == 2
    with pytest.raises(ValueError, match="en"):
        split_by_language(sentences, 40, 5, 0, 1)


def test_tag_scores_overall_and_per_language():
    rows = [
        {"tags": ["B-PER", "I-PER", "O"], "lang": "de"},
        {"tags": ["B-LOC", "O"], "lang": "en"},
        {"tags": ["B-ORG"], "lang": "en"},
    ]
    scores = tag_scores(rows, [["B-PER", "I-PER", "O"], ["B-LOC", "O"], ["O"]])
    assert scores["precision"] == 1.0 and scores["recall"] == pytest.approx(2 / 3)
    assert scores["per_language"] == {"de": 1.0, "en": pytest.approx(2 / 3)}
    with pytest.raises(ValueError):
        tag_scores(rows, [["O"]])


def result(side, rate, dev, test, seed=0, per_language=None):
    point = {"side": side, "learn_rate": rate, "head_learn_rate": None}
    return {"point": point, "seed": seed, "budget": 1, "dev": {"f1": dev},
            "test": {"f1": test, "per_language": per_language or {}}}  # fmt: skip


def test_the_best_point_is_chosen_on_dev_even_where_test_would_choose_another():
    results = [result("spacy", 1e-4, dev=0.70, test=0.80), result("spacy", 5e-5, dev=0.75, test=0.60),
               result("hf", 1e-4, dev=0.50, test=0.90), result("hf", 2e-5, dev=0.60, test=0.55)]  # fmt: skip
    assert choose_best(results, "spacy")["learn_rate"] == 5e-5
    assert choose_best(results, "hf")["learn_rate"] == 2e-5
    with pytest.raises(ValueError):
        choose_best(results[:2], "hf")


def test_best_vs_best_pairs_seeds_and_calls_a_straddling_range_a_tie():
    lead = best_vs_best([
        result("spacy", 1e-4, 0, 0.82, seed=0, per_language={"de": 0.8, "en": 0.9}),
        result("spacy", 1e-4, 0, 0.84, seed=1, per_language={"de": 0.8, "en": 0.7}),
        result("hf", 5e-5, 0, 0.80, seed=0, per_language={"de": 0.8, "en": 0.6}),
        result("hf", 5e-5, 0, 0.81, seed=1, per_language={"de": 0.4, "en": 0.8}),
    ])  # fmt: skip
    assert lead["seeds"] == [0, 1]
    assert lead["ratio"]["median"] == pytest.approx(0.83 / 0.805)
    assert lead["ratio"]["runs"] == pytest.approx([0.82 / 0.80, 0.84 / 0.81])
    assert not lead["tie"]
    assert lead["per_language"]["de"] == {
        "spacy": 0.8,
        "hf": pytest.approx(0.6),
        "ratio_vs_best": pytest.approx(0.8 / 0.6),
    }
    tie = best_vs_best([result("spacy", 1e-4, 0, 0.79, seed=0), result("spacy", 1e-4, 0, 0.83, seed=1),
                        result("hf", 5e-5, 0, 0.80, seed=0), result("hf", 5e-5, 0, 0.80, seed=1)])  # fmt: skip
    assert tie["tie"]
