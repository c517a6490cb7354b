"""Custom classifiers over HTTP: create (JSON or CSV), train as a job, predict, retrain."""

from __future__ import annotations

import csv
import io

import httpx

from tests.ai_classifiers.common import (
    BASE,
    UNRELATED,
    create,
    examples,
    rows,
    unique_name,
    wait_ready,
)
from tests.fixtures.factories import member, register


def _fields(r: httpx.Response) -> set[str]:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return {e["field"] for e in r.json().get("errors", [])}


async def test_create_from_json_then_predict(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    created = await create(client, owner, {"name": unique_name(), "examples": examples(30)})
    assert created["status"] in ("queued", "training", "ready")
    assert created["example_count"] == 300
    assert created["label_counts"]["card_arrival"] == 30
    ready = await wait_ready(client, owner, created["id"])
    assert ready["accuracy"] >= 0.8 and ready["macro_f1"] >= 0.8
    assert set(ready["metrics"]["per_label"]) == set(ready["labels"])
    assert 0 < ready["confidence_floor"] < 1 and ready["floor_source"] == "held-out"
    assert ready["metrics"]["training_seconds"] > 0

    test = rows("test.csv")
    clear = [test[i] for i in range(0, len(test), 8)]  # one per label
    agent = await member(client, owner, "agent")
    r = await client.post(
        f"{BASE}/{created['id']}/predict",
        json={"texts": [t["text"] for t in clear] + UNRELATED},
        headers=agent.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == 1
    got = [p["label"] for p in body["predictions"]]
    right = sum(g == t["label"] for g, t in zip(got, clear, strict=False))
    assert right >= len(clear) - 1
    assert got[-2:] == [None, None]
    unrelated = body["predictions"][-1]
    assert (
        len(unrelated["top"]) == 3 and unrelated["confidence"] == unrelated["top"][0]["confidence"]
    )

    # one audit entry for the whole batch, with the model version
    r = await client.get(
        "/api/v1/audit-log",
        params={
            "entity_type": "ai_classifier",
            "entity_id": created["id"],
            "action": "ai.classify",
        },
        headers=owner.headers,
    )
    entries = r.json()["items"]
    assert len(entries) == 1
    assert entries[0]["after"]["count"] == len(clear) + 2
    assert entries[0]["after"]["model_version"] == 1

    listed = (await client.get(BASE, headers=agent.headers)).json()["items"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert listed[0]["accuracy"] == ready["accuracy"]


async def test_create_from_csv_with_named_columns(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "Message", "Queue"])
    for i, e in enumerate(examples(8)):
        w.writerow([i, e["text"], e["label"]])
    r = await client.post(
        BASE,
        data={
            "name": "Support queues",
            "purpose": "routing",
            "text_column": "message",
            "label_column": "Queue",
        },
        files={"file": ("history.csv", out.getvalue().encode(), "text/csv")},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    created = r.json()
    assert created["purpose"] == "routing" and created["example_count"] == 80
    await wait_ready(client, owner, created["id"])
    r = await client.post(
        f"{BASE}/{created['id']}/predict",
        json={"texts": ["I lost my card, someone may have stolen it"]},
        headers=owner.headers,
    )
    assert r.json()["predictions"][0]["label"] == "lost_or_stolen_card"


async def test_bad_input_names_the_field_and_writes_nothing(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    good = examples(5)
    cases = [
        ({"examples": good}, "name"),
        ({"name": "x", "examples": [e for e in good if e["label"] == "age_limit"]}, "examples"),
        ({"name": "x", "examples": good + [{"text": "one", "label": "rare"}]}, "examples"),
        ({"name": "x", "examples": [{"text": "", "label": "a"}, *good]}, "examples.0.text"),
        ({"name": "x", "examples": [{"text": "t" * 3000, "label": "a"}, *good]}, "examples.0.text"),
        ({"name": "x", "examples": good, "confidence_floor": 2}, "confidence_floor"),
        ({"name": "x", "examples": good, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        r = await client.post(BASE, json=body, headers=owner.headers)
        assert r.status_code == 422, (field, r.text)
        assert field in _fields(r), (field, r.json())
    r = await client.post(
        BASE,
        data={"name": "csv"},
        files={"file": ("x.csv", b"body,label\nhello,a\n", "text/csv")},
        headers=owner.headers,
    )
    assert r.status_code == 422 and "text_column" in _fields(r)
    r = await client.post(BASE, data={"name": "csv"}, headers=owner.headers)
    assert r.status_code == 422 and "file" in _fields(r)
    assert (await client.get(BASE, headers=owner.headers)).json()["items"] == []

    clf = await create(client, owner)
    r = await client.post(BASE, json={"name": clf["name"], "examples": good}, headers=owner.headers)
    assert r.status_code == 409 and "name" in _fields(r)
    r = await client.post(
        f"{BASE}/{clf['id']}/predict", json={"texts": ["x"] * 1001}, headers=owner.headers
    )
    assert r.status_code == 422 and "texts" in _fields(r)
    r = await client.post(f"{BASE}/{clf['id']}/predict", json={"texts": []}, headers=owner.headers)
    assert r.status_code == 422 and "texts" in _fields(r)


async def test_roles(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    viewer = await member(client, owner, "viewer")
    agent = await member(client, owner, "agent")
    body = {"name": unique_name(), "examples": examples(5)}
    assert (await client.post(BASE, json=body, headers=viewer.headers)).status_code == 403
    assert (await client.post(BASE, json=body, headers=agent.headers)).status_code == 403
    clf = await create(client, owner, body)
    await wait_ready(client, owner, clf["id"])
    assert (await client.get(f"{BASE}/{clf['id']}", headers=viewer.headers)).status_code == 200
    predict = {"texts": ["how old do I need to be"]}
    r = await client.post(f"{BASE}/{clf['id']}/predict", json=predict, headers=viewer.headers)
    assert r.status_code == 403
    r = await client.post(f"{BASE}/{clf['id']}/train", headers=agent.headers)
    assert r.status_code == 403
    r = await client.delete(f"{BASE}/{clf['id']}", headers=agent.headers)
    assert r.status_code == 403


async def test_add_examples_and_retrain_bump_the_model_version(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    labels = {"card_arrival", "exchange_rate", "age_limit"}
    clf = await create(client, owner, {"name": unique_name(), "examples": examples(10, labels)})
    first = await wait_ready(client, owner, clf["id"])
    assert first["model_version"] == 1 and sorted(first["labels"]) == sorted(labels)

    r = await client.post(f"{BASE}/{clf['id']}/train", json={}, headers=owner.headers)
    assert r.status_code == 202, r.text
    second = await wait_ready(client, owner, clf["id"], version=2)
    assert second["model_version"] == 2

    more = examples(10, {"pin_blocked"})
    r = await client.post(
        f"{BASE}/{clf['id']}/examples", json={"examples": more}, headers=owner.headers
    )
    assert r.status_code == 202, r.text
    assert r.json()["label_counts"]["pin_blocked"] == 10
    third = await wait_ready(client, owner, clf["id"], version=3)
    assert "pin_blocked" in third["labels"] and third["example_count"] == 40
    r = await client.post(
        f"{BASE}/{clf['id']}/predict",
        json={"texts": ["My PIN is blocked, how do I unblock it?"]},
        headers=owner.headers,
    )
    assert r.json()["predictions"][0]["label"] == "pin_blocked"
    assert r.json()["model_version"] == 3

    # a floor given by the admin is used as is: 0 always answers a label
    r = await client.post(
        f"{BASE}/{clf['id']}/train", json={"confidence_floor": 0}, headers=owner.headers
    )
    assert r.status_code == 202
    fourth = await wait_ready(client, owner, clf["id"], version=4)
    assert fourth["confidence_floor"] == 0 and fourth["floor_source"] == "given"
    r = await client.post(
        f"{BASE}/{clf['id']}/predict", json={"texts": UNRELATED}, headers=owner.headers
    )
    assert all(p["label"] is not None for p in r.json()["predictions"])

    # examples as CSV too
    r = await client.post(
        f"{BASE}/{clf['id']}/examples",
        files={"file": ("more.csv", b"text,label\nwhat is the rate for euros,exchange_rate\n")},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    await wait_ready(client, owner, clf["id"], version=5)

    assert (await client.delete(f"{BASE}/{clf['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get(f"{BASE}/{clf['id']}", headers=owner.headers)).status_code == 404


async def test_other_tenants_see_nothing(client: httpx.AsyncClient) -> None:
    a = await register(client)
    b = await register(client)
    clf = await create(client, a)
    assert (await client.get(BASE, headers=b.headers)).json()["items"] == []
    for method, path, body in [
        ("GET", f"{BASE}/{clf['id']}", None),
        ("POST", f"{BASE}/{clf['id']}/predict", {"texts": ["hi"]}),
        ("POST", f"{BASE}/{clf['id']}/examples", {"examples": examples(3)}),
        ("POST", f"{BASE}/{clf['id']}/train", {}),
        ("DELETE", f"{BASE}/{clf['id']}", None),
    ]:
        r = await client.request(method, path, json=body, headers=b.headers)
        assert r.status_code == 404, (method, path, r.text)
    # b may use the same name in its own organization
    await create(client, b, {"name": clf["name"], "examples": examples(5)})
