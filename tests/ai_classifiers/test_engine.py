"""The classifier engine alone: learns labels from a few examples, says none to the unrelated."""

from __future__ import annotations

import time

import pytest

from aicrm.ai.classifiers import engine
from tests.ai_classifiers.common import UNRELATED, rows


@pytest.fixture(scope="module")
def trained() -> tuple[engine.TextClassifier, dict]:
    train = rows("train.csv")
    return engine.train([r["text"] for r in train], [r["label"] for r in train])


def test_learns_the_labels_and_reports_held_out_metrics(trained) -> None:
    model, metrics = trained
    test = rows("test.csv")
    predictions = model.predict([r["text"] for r in test])
    right = sum(p.top[0][0] == r["label"] for p, r in zip(predictions, test, strict=True))
    assert right / len(test) >= 0.85
    assert metrics["accuracy"] >= 0.8 and metrics["macro_f1"] >= 0.8
    assert set(metrics["per_label"]) == set(model.labels)
    assert 0 < metrics["floor"] < 1
    assert len(predictions[0].top) == 3
    assert predictions[0].top[0][1] >= predictions[0].top[1][1] >= predictions[0].top[2][1]


def test_unrelated_texts_answer_none(trained) -> None:
    model, _ = trained
    assert [p.label for p in model.predict(UNRELATED)] == [None, None]
    # an explicit floor of 0 always answers the best label
    assert all(p.label is not None for p in model.predict(UNRELATED, floor=0.0))


def test_round_trips_through_bytes_and_predicts_fast(trained) -> None:
    model, _ = trained
    texts = [r["text"] for r in rows("test.csv")][:50] * 2
    again = engine.loads(engine.dumps(model))
    assert [p.label for p in again.predict(texts)] == [p.label for p in model.predict(texts)]
    started = time.perf_counter()
    again.predict(texts)
    assert time.perf_counter() - started < 1.0


def test_refuses_what_cannot_be_learnt() -> None:
    with pytest.raises(engine.TrainingError):
        engine.train(["a", "b", "c"], ["x", "x", "x"])
    with pytest.raises(engine.TrainingError):
        engine.train(["a", "b", "c", "d"], ["x", "x", "x", "y"])


def test_two_labels_work() -> None:
    texts = [f"refund my order number {i}" for i in range(6)] + [
        f"the app crashes on screen {i}" for i in range(6)
    ]
    labels = ["billing"] * 6 + ["bug"] * 6
    model, _ = engine.train(texts, labels)
    top = model.predict(["please refund my order", "app crashes when I open it"], floor=0.0)
    assert [p.label for p in top] == ["billing", "bug"]
