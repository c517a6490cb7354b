"""The feature code without a server: the leak guard, the time split, the encoding of custom
fields and the rules' ordering."""

from __future__ import annotations

import numpy as np

from aicrm.ai.scoring import leads as ld
from aicrm.ai.scoring import model as ml
from aicrm.ai.scoring.features import Encoder

CTX = ld.Context(status_rank={}, status_names={})


def records(customs: list[dict[str, object]], **row: object) -> object:
    rows = [
        ld.LeadRow(id=i + 1, created=0.0, asof=0.0, custom=c, **row) for i, c in enumerate(customs)
    ]  # type: ignore[arg-type]
    return ld.build(rows, {}, CTX)


def test_fields_filled_only_once_the_outcome_is_known_are_left_out() -> None:
    rng = np.random.default_rng(0)
    closed = records(
        [
            {"loss_reason": "price" if i % 2 else None, "seats": int(rng.integers(1, 500))}
            for i in range(200)
        ]
    )
    open_ = records([{"seats": int(rng.integers(1, 500))} for _ in range(50)])
    enc = Encoder.fit(closed, ld.BASE_GROUPS, reference=open_)  # type: ignore[arg-type]
    groups = {c.group for c in enc.columns}
    assert "custom.seats" in groups and "custom.loss_reason" not in groups
    assert "custom.loss_reason" in enc.excluded


def test_custom_numbers_and_categories_are_encoded_and_reasons_grouped() -> None:
    recs = records(
        [{"employees": float(i), "plan": ["basic", "pro", "enterprise"][i % 3]} for i in range(90)]
    )
    enc = Encoder.fit(recs, ld.BASE_GROUPS)  # type: ignore[arg-type]
    names = [c.name for c in enc.columns]
    assert "custom.employees" in names
    assert {"custom.plan=basic", "custom.plan=pro", "custom.plan=enterprise"} <= set(names)
    z = enc.transform(recs)  # type: ignore[arg-type]
    assert z.shape == (90, len(names)) and np.allclose(z.mean(axis=0), 0, atol=1e-9)
    groups, matrix = enc.group_matrix()
    assert matrix.shape == (len(names), len(groups)) and matrix.sum() == len(names)


def test_time_split_validates_on_the_newest() -> None:
    order = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 8.0, 7.0, 6.0])
    older, newer = ml.time_split(order)
    assert sorted(order[newer]) == [7.0, 8.0]
    assert max(order[older]) < min(order[newer])


def test_rules_rank_a_complete_engaged_lead_above_an_empty_one() -> None:
    rows = [
        ld.LeadRow(
            id=1,
            created=0.0,
            asof=86400.0,
            budget=20000.0,
            value=20000.0,
            has_email=True,
            has_phone=True,
            company="Acme",
            requirements_len=40,
            timeline="Q3",
            source="referral",
            last_contacted=80000.0,
        ),
        ld.LeadRow(id=2, created=0.0, asof=40 * 86400.0),
    ]
    acts = {"calls": np.array([2.0, 0.0]), "meetings": np.array([1.0, 0.0])}
    recs = ld.build(rows, acts, CTX)
    scores = ld.rule_scores(recs, ld.RulesContext())
    assert scores[0] >= ld.RULE_HIGH > ld.RULE_LOW > scores[1]
