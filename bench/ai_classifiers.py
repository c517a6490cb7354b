"""Custom classifier quality on Banking77, created, trained and queried through the HTTP API.

Protocol (a live server in this process on a fresh SQLite database, or a PostgreSQL one):

1. a classifier is created by uploading Banking77's `train.csv` (10,003 texts, 77 intents) as
   CSV (POST /api/v1/ai/classifiers, `label_column=category`); the script polls GET until the
   training job reports `ready` and takes the wall time and the job's own training seconds;
2. every text of `test.csv` (3,080, never seen in training) is labelled through
   POST /{id}/predict in batches of 1,000; accuracy and macro-F1 use the best label (`top[0]`)
   whatever the floor; throughput is texts/s over those requests, plus the latency of a
   100-text request;
3. out of scope: a second classifier is trained on the train split without 10 intents drawn
   at random (seed 0); its predictions on the test texts of the 67 kept intents (in scope)
   and of the 10 left-out ones (out of scope) give the AUROC of the confidence (in scope
   positive) and, at the floor the classifier chose itself, the share of each answered `null`;
4. baselines on the same split, fitted by this script: TF-IDF word 1-2 + char_wb 2-5 grams
   with a linear SVM, and the majority class.

    .venv/bin/python bench/ai_classifiers.py
    .venv/bin/python bench/ai_classifiers.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/h1_clf
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import random
import secrets
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from live import Server, fresh_database

EVAL = Path(
    os.environ.get("AICRM_EVAL_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "eval")
)
DATA = EVAL / "banking77"
TARGET_ACCURACY = 0.93
HOLD_OUT_INTENTS = 10
BASE = "/api/v1/ai/classifiers"


def load(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(newline="") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def to_csv(rows: list[tuple[str, str]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["text", "category"])
    w.writerows(rows)
    return out.getvalue().encode()


def baselines(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict[str, Any]:
    from collections import Counter

    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.svm import LinearSVC

    xs, ys = [t for t, _ in train], [lab for _, lab in train]
    xt, yt = [t for t, _ in test], [lab for _, lab in test]
    started = time.perf_counter()
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    a = sparse.hstack([words.fit_transform(xs), chars.fit_transform(xs)]).tocsr()
    b = sparse.hstack([words.transform(xt), chars.transform(xt)]).tocsr()
    pred = LinearSVC().fit(a, ys).predict(b)
    seconds = time.perf_counter() - started
    majority = Counter(ys).most_common(1)[0][0]
    return {
        "tfidf_word_char_linear_svm": {
            "accuracy": round(float(accuracy_score(yt, pred)), 4),
            "macro_f1": round(float(f1_score(yt, pred, average="macro")), 4),
            "training_seconds": round(seconds, 2),
        },
        "majority_class": {
            "accuracy": round(float(accuracy_score(yt, [majority] * len(yt))), 4),
            "macro_f1": round(float(f1_score(yt, [majority] * len(yt), average="macro")), 4),
        },
    }


# -- a live server on a fresh database --------------------------------------------------------


# -- the run ----------------------------------------------------------------------------------


async def train_through_api(
    c: Any, headers: dict[str, str], name: str, rows: list[tuple[str, str]]
) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    r = await c.post(
        BASE,
        data={"name": name, "purpose": "intent", "label_column": "category"},
        files={"file": ("train.csv", to_csv(rows), "text/csv")},
        headers=headers,
    )
    assert r.status_code == 202, r.text
    cid = r.json()["id"]
    while True:
        r = await c.get(f"{BASE}/{cid}", headers=headers)
        body = r.json()
        if body["status"] == "ready":
            return body, time.perf_counter() - started
        if body["status"] == "failed":
            raise SystemExit(f"training failed: {body['error']}")
        await asyncio.sleep(0.25)


async def predict_all(
    c: Any, headers: dict[str, str], cid: int, texts: list[str]
) -> tuple[list[dict[str, Any]], float]:
    out: list[dict[str, Any]] = []
    spent = 0.0
    for i in range(0, len(texts), 1000):
        started = time.perf_counter()
        r = await c.post(
            f"{BASE}/{cid}/predict", json={"texts": texts[i : i + 1000]}, headers=headers
        )
        spent += time.perf_counter() - started
        assert r.status_code == 200, r.text
        out += r.json()["predictions"]
    return out, spent


async def run(
    base: str, train: list[tuple[str, str]], test: list[tuple[str, str]]
) -> dict[str, Any]:
    import httpx
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    async with httpx.AsyncClient(base_url=base, timeout=900) as c:
        r = await c.post(
            "/api/v1/auth/register",
            json={
                "email": f"bench-{secrets.token_hex(4)}@example.com",
                "password": "correct horse battery",
                "full_name": "Bench",
                "organization_name": "Banking77",
            },
        )
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

        # 1-2: all 77 intents
        ready, wall = await train_through_api(c, headers, "banking77", train)
        texts = [t for t, _ in test]
        truth = [lab for _, lab in test]
        preds, spent = await predict_all(c, headers, ready["id"], texts)
        best = [p["top"][0]["label"] for p in preds]
        answered = [p["label"] is not None for p in preds]
        latencies = []
        for _ in range(5):
            started = time.perf_counter()
            r = await c.post(
                f"{BASE}/{ready['id']}/predict", json={"texts": texts[:100]}, headers=headers
            )
            latencies.append(time.perf_counter() - started)
        metrics = ready["metrics"]
        full = {
            "accuracy": round(float(accuracy_score(truth, best)), 4),
            "macro_f1": round(float(f1_score(truth, best, average="macro")), 4),
            "meets_target": accuracy_score(truth, best) >= TARGET_ACCURACY,
            "answered_at_floor": round(float(np.mean(answered)), 4),
            "accuracy_when_answered": round(
                float(
                    np.mean([b == t for b, t, a in zip(best, truth, answered, strict=True) if a])
                ),
                4,
            ),
            "floor": ready["confidence_floor"],
            "training_seconds_job": metrics.get("training_seconds"),
            "final_fit_seconds_job": metrics.get("fit_seconds"),
            "create_to_ready_seconds": round(wall, 2),
            "internal_holdout": {
                "evaluation": metrics.get("evaluation"),
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
            },
            "model_version": ready["model_version"],
            "algorithm": metrics.get("algorithm"),
        }
        throughput = {
            "texts_per_second_batches_of_1000": round(len(texts) / spent, 1),
            "batch_100_ms_p50": round(sorted(latencies)[len(latencies) // 2] * 1000, 1),
        }

        # 3: out of scope
        intents = sorted({lab for _, lab in train})
        left_out = set(random.Random(0).sample(intents, HOLD_OUT_INTENTS))
        kept_train = [(t, lab) for t, lab in train if lab not in left_out]
        oos_ready, _ = await train_through_api(c, headers, "banking67", kept_train)
        preds, _ = await predict_all(c, headers, oos_ready["id"], texts)
        out_scope = np.array([lab in left_out for lab in truth])
        conf = np.array([p["confidence"] for p in preds])
        none = np.array([p["label"] is None for p in preds])
        inside = ~out_scope
        best_in = np.array([p["top"][0]["label"] for p in preds])[inside]
        truth_in = np.array(truth)[inside]
        oos = {
            "left_out_intents": sorted(left_out),
            "n_in_scope": int(inside.sum()),
            "n_out_of_scope": int(out_scope.sum()),
            "auroc_confidence_in_vs_out": round(float(roc_auc_score(inside, conf)), 4),
            "floor": oos_ready["confidence_floor"],
            "out_of_scope_answered_none": round(float(none[out_scope].mean()), 4),
            "in_scope_answered_none": round(float(none[inside].mean()), 4),
            "in_scope_accuracy_top1": round(float((best_in == truth_in).mean()), 4),
            "in_scope_accuracy_when_answered": round(
                float((best_in[~none[inside]] == truth_in[~none[inside]]).mean()), 4
            ),
        }
    return {"classifier": full, "throughput": throughput, "out_of_scope": oos}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--db", default="", help="SQLAlchemy URL of a PostgreSQL database to wipe and use"
    )
    args = ap.parse_args()
    if not (DATA / "train.csv").exists():
        raise SystemExit(f"{DATA} is missing (set AICRM_EVAL_DIR)")
    tmp = Path(tempfile.mkdtemp(prefix="aicrm-clf-"))
    os.environ.setdefault("ENVIRONMENT", "test")
    os.environ["DATA_DIR"] = str(tmp)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["LOGIN_IP_RATE_PER_MINUTE"] = "100000"
    os.environ["REDIS_URL"] = ""
    os.environ["JOB_POLL_SECONDS"] = "0.2"
    train, test = load("train.csv"), load("test.csv")
    base = baselines(train, test)
    url = fresh_database(args.db, tmp, "classifiers")
    with Server(url) as server:
        result = asyncio.run(run(server.url, train, test))
    sys.path.insert(0, str(Path(__file__).parent))
    from common import machine

    print(
        json.dumps(
            {
                "bench": "ai_classifiers",
                "data": "Banking77 (CC BY 4.0): 10,003 train / 3,080 test, 77 intents",
                "database": "postgresql" if args.db else "sqlite",
                "target_accuracy": TARGET_ACCURACY,
                **result,
                "baselines": base,
                "machine": machine(),
                "rerun": " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv]),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
