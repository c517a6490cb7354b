"""The optimiser and the detectors on plain data (no server): invariants over random
instances, and each detector on a clear case and a clean one."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np

from aicrm.ai.workload import patterns, planner
from aicrm.ai.workload.skills import CategoryGuesser, match, words

NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # a Wednesday


def _instance(seed: int) -> tuple[list[planner.PlanTask], list[planner.Person]]:
    rng = random.Random(seed)
    skills = ["billing", "technical support", "sales", "onboarding", "legal"]
    people = [
        planner.Person(
            user_id=i,
            name=f"P{i}",
            capacity=rng.randint(0, 6),
            skills=tuple(rng.sample(skills, 2)),
            team_ids=frozenset({rng.randint(1, 2)}),
            queue=[
                planner.QueuedTask(
                    1000 + i * 10 + j, "q", NOW + timedelta(days=rng.randint(0, 9)), 2
                )
                for j in range(rng.randint(0, 4))
            ],
        )
        for i in range(1, 9)
    ]
    tasks = [
        planner.PlanTask(
            id=i,
            title=f"{rng.choice(['Invoice', 'Login bug', 'Demo', 'Contract'])} {i}",
            category=rng.choice([None, "billing", "sales"]),
            priority=rng.choice(list(planner.PRIORITY)),
            due=NOW + timedelta(hours=rng.randint(-10, 300)) if rng.random() < 0.7 else None,
            estimate_hours=rng.choice([None, 1.0, 4.0]),
            team_id=rng.choice([None, None, 1, 2, 3]),
        )
        for i in range(1, 41)
    ]
    return tasks, people


def test_plans_respect_capacity_teams_and_account_for_every_task() -> None:
    for seed in range(25):
        tasks, people = _instance(seed)
        cap = {p.user_id: p for p in people}
        result = planner.plan(tasks, people, planner.History(), now=NOW, max_per_person=4)
        given: dict[int, int] = {}
        for a in result.assignments:
            given[a.person.user_id] = given.get(a.person.user_id, 0) + 1
            if a.task.team_id is not None:
                assert a.task.team_id in a.person.team_ids
            assert 0 <= a.score <= 100
        for user_id, n in given.items():
            p = cap[user_id]
            assert n <= 4 and p.kept + n <= max(p.capacity, p.kept)
        ids = [a.task.id for a in result.assignments] + [u.task.id for u in result.unassignable]
        assert sorted(ids) == sorted(t.id for t in tasks)
        for load in result.loads:
            assert load.open_after == load.person.kept + given.get(load.person.user_id, 0)


def test_empty_inputs() -> None:
    nobody = planner.plan([planner.PlanTask(1, "x")], [], planner.History(), now=NOW)
    assert nobody.assignments == [] and "nobody" in nobody.unassignable[0].reason
    nothing = planner.plan([], [planner.Person(1, "A")], planner.History(), now=NOW)
    assert nothing.assignments == [] and nothing.loads[0].open_after == 0


def test_scarce_slots_go_to_the_urgent_tasks() -> None:
    person = planner.Person(1, "Solo", capacity=1)
    tasks = [
        planner.PlanTask(1, "Someday", priority="low"),
        planner.PlanTask(2, "Now", priority="urgent", due=NOW + timedelta(hours=4)),
    ]
    result = planner.plan(tasks, [person], planner.History(), now=NOW)
    assert [a.task.id for a in result.assignments] == [2]
    assert "urgent" in result.unassignable[0].reason


def test_working_hours_count_weekdays_only() -> None:
    friday_5pm = datetime(2026, 3, 6, 17, 0, tzinfo=UTC).timestamp()
    monday_5pm = datetime(2026, 3, 9, 17, 0, tzinfo=UTC).timestamp()
    hours = planner.working_hours(friday_5pm, np.array([monday_5pm, np.inf]))
    # Friday evening (7 h of 24) and Monday until 5 pm (17 h of 24), 8 working hours a day
    assert abs(hours[0] - 8 * (7 + 17) / 24) < 1e-6 and np.isinf(hours[1])


def test_skill_matching_and_category_guessing() -> None:
    assert match("billing", "Billing", words("x")).strength == 1.0
    assert match("renewals", None, words("Renew the subscription")).strength == 0.8
    assert match("billing", None, words("Refund two invoices")).strength == 0.5
    assert match("billing", None, words("Customer cannot log in")) is None
    examples = [(f"Refund invoice {i}", "Billing") for i in range(12)] + [
        (f"Product demo {i}", "Sales") for i in range(12)
    ]
    guesser = CategoryGuesser(examples)
    assert guesser.guess(words("Invoice is wrong")) == (
        "Billing",
        guesser.guess(words("invoice"))[1],
    )
    assert guesser.guess(words("completely unrelated words")) is None


def test_stage_dwell_flags_only_the_stuck_stage() -> None:
    stages = {
        1: patterns.Stage(1, "Qualification", "", False),
        2: patterns.Stage(2, "Proposal", "", False),
        3: patterns.Stage(3, "Won", "", True),
    }
    records = [
        patterns.OpenRecord(i, f"D{i}", 2 if i < 5 else 1, 7, 100.0, NOW - timedelta(days=60))
        for i in range(10)
    ]
    # the Proposal deals moved there 30 days ago; Qualification ones 2 days ago
    moves = [(i, NOW - timedelta(days=30 if i < 5 else 2), 2 if i < 5 else 1) for i in range(10)]
    # history: finished stays of about 4 days
    for j in range(100, 110):
        moves += [(j, NOW - timedelta(days=50), 2), (j, NOW - timedelta(days=46), 3)]
    found = patterns.stage_dwell(
        "deal", records, stages, sorted(moves, key=lambda m: (m[0], m[1])), now=NOW
    )
    assert [f.data["stage"] for f in found] == ["Proposal"]
    f = found[0]
    assert f.data["stuck"] == 5 and 3.5 < f.data["typical_days"] < 4.5
    assert f.data["typical_from"] == "finished stays in this stage"
    assert any(r["category"] == "resource_reallocation" for r in f.recommendations)  # one owner


def test_inbound_drop_needs_a_real_drop() -> None:
    rng = np.random.default_rng(3)
    steady = [
        NOW - timedelta(days=d, hours=int(h))
        for d in range(1, 57)
        for h in rng.integers(0, 23, size=rng.poisson(20))
    ]
    assert patterns.inbound_drop(steady, now=NOW) == []
    dropped = [t for t in steady if t.date() != (NOW - timedelta(days=1)).date()]
    found = patterns.inbound_drop(dropped, now=NOW)
    assert isinstance(found, list) and found and found[0].data["count"] == 0
    assert found[0].kind == "anomaly" and found[0].severity == "high"
    young = [NOW - timedelta(days=3)]
    assert isinstance(patterns.inbound_drop(young, now=NOW), patterns.Skipped)


def test_win_rate_drop_against_own_history() -> None:
    closed = []
    for i in range(30):  # 60% before
        closed.append((1, "won" if i % 5 < 3 else "lost", NOW - timedelta(days=200 + i)))
        closed.append((2, "won" if i % 2 else "lost", NOW - timedelta(days=200 + i)))
    for i in range(12):  # 1 in 12 recently
        closed.append((1, "won" if i == 0 else "lost", NOW - timedelta(days=10 + i)))
        closed.append((2, "won" if i % 2 else "lost", NOW - timedelta(days=10 + i)))
    found = patterns.win_rate_drop(closed, now=NOW, names={1: "Ann", 2: "Ben"})
    assert [f.entity_id for f in found] == [1]
    assert "Ann" in found[0].title and found[0].confidence > 0.9


def test_sentiment_is_skipped_without_data_and_spikes_are_found() -> None:
    assert isinstance(patterns.sentiment_spike([], now=NOW), patterns.Skipped)
    base = [
        (NOW - timedelta(days=d), 0.4 if d % 10 else -0.6) for d in range(2, 28) for _ in range(3)
    ]
    recent = [(NOW - timedelta(hours=h), -0.7) for h in range(1, 9)]
    assert patterns.sentiment_spike(base, now=NOW) == []
    found = patterns.sentiment_spike(base + recent, now=NOW)
    assert isinstance(found, list) and found[0].check == "negative_sentiment"


def test_imbalance_and_gini() -> None:
    even = [patterns.PersonLoad(i, f"P{i}", 5, 10) for i in range(4)]
    assert patterns.imbalance(even) == []
    assert patterns.gini([5, 5, 5]) == 0.0 and patterns.gini([0, 0, 9]) > 0.6
    skewed = [patterns.PersonLoad(1, "Ann", 14, 10), patterns.PersonLoad(2, "Ben", 1, 10)]
    found = patterns.imbalance(skewed)
    assert found and found[0].data["moves"][0] == {"from_user_id": 1, "to_user_id": 2, "tasks": 6}
