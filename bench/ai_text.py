"""Text understanding figures: analyze() latency (in process and over HTTP), the built-in intent
model on its independent hand-written test set against a majority-class and a keyword-rules
baseline, sentiment on the TweetEval test split (and two out-of-domain checks) against the
majority class, language identification on a small multilingual sample, the models' memory and
the size of what ships.

    .venv/bin/python bench/ai_text.py
    .venv/bin/python bench/ai_text.py --skip-http --skip-tweeteval

Test data: tests/ai_text/data/ (intent_test.tsv, sentiment_crm_test.tsv, language_sample.tsv,
all hand-written for this project). TweetEval and the UCI sentences come from AICRM_EVAL_DIR
(default ../shared/eval next to the repository) and are only read here, never shipped.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, VENV_BIN, machine, rerun_command

sys.path.insert(0, str(ROOT / "src"))

DATA = ROOT / "tests" / "ai_text" / "data"
EVAL = Path(os.environ.get("AICRM_EVAL_DIR", ROOT.parent / "shared" / "eval"))
TARGETS = {"analyze_p99_ms": 20}
REFERENCE = {"tweeteval_tfidf_lr_macro_recall": 0.628}

# A keyword baseline: the first rule whose words appear wins (order matters: spam and
# cancellation before the broader ones), else "other".
KEYWORD_RULES: list[tuple[str, tuple[str, ...]]] = [
    (
        "spam",
        (
            "click here",
            "winner",
            "won",
            "prize",
            "free",
            "seo",
            "backlink",
            "crypto",
            "bitcoin",
            "verify your",
            "lottery",
            "viagra",
            "casino",
            "followers",
            "$$$",
        ),
    ),
    (
        "cancellation",
        (
            "cancel",
            "terminate",
            "not renew",
            "close my account",
            "unsubscribe from",
            "switching to",
            "stop my subscription",
            "leave",
        ),
    ),
    (
        "billing",
        (
            "invoice",
            "charged",
            "charge",
            "refund",
            "payment",
            "receipt",
            "billing",
            "vat",
            "credit card",
            "paid",
        ),
    ),
    ("pricing", ("price", "pricing", "cost", "quote", "how much", "discount", "plan")),
    (
        "booking_request",
        (
            "schedule",
            "book",
            "appointment",
            "meeting",
            "reschedule",
            "call on",
            "available",
            "slot",
            "calendar",
            "reservation",
        ),
    ),
    (
        "technical_issue",
        (
            "error",
            "bug",
            "crash",
            "down",
            "not working",
            "broken",
            "doesn't work",
            "can't log",
            "cannot",
            "fails",
            "failed",
            "outage",
            "slow",
        ),
    ),
    (
        "complaint",
        (
            "complaint",
            "unacceptable",
            "disappointed",
            "terrible",
            "worst",
            "rude",
            "angry",
            "poor service",
            "not happy",
        ),
    ),
    (
        "support_request",
        (
            "how do i",
            "how can i",
            "how to",
            "help",
            "where can i",
            "setting",
            "configure",
            "set up",
            "reset",
        ),
    ),
    (
        "sales_inquiry",
        (
            "demo",
            "interested",
            "learn more",
            "information",
            "trial",
            "integrate",
            "looking for",
            "fit for",
            "solution",
        ),
    ),
    (
        "feedback",
        (
            "suggestion",
            "feature request",
            "love",
            "great",
            "would be nice",
            "idea",
            "feedback",
            "thanks",
            "thank you",
            "review",
        ),
    ),
]


def keyword_intent(text: str) -> str:
    low = text.lower()
    for label, words in KEYWORD_RULES:
        if any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", low) for w in words):
            return label
    return "other"


def read_tsv(path: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        labels.append(label)
        texts.append(text.replace("\\n", "\n"))
    return texts, labels


def read_csv(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def scores(y_true: list[str], y_pred: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    return {
        "accuracy": round(accuracy_score(y_true, y_pred), 4),
        "macro_f1": round(f1_score(y_true, y_pred, average="macro", zero_division=0), 4),
        "macro_recall": round(recall_score(y_true, y_pred, average="macro", zero_division=0), 4),
    }


def percentiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 3),
        "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 3),
        "max_ms": round(ms[-1], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# -- the parts -------------------------------------------------------------------------------------


def load_models() -> tuple[Any, dict[str, Any]]:
    """The analyzer, trained from scratch (no disk cache), with its cost in time and memory."""
    from aicrm.ai.text.analyzer import Analyzer

    gc.collect()
    start_rss = rss_mb()
    # the libraries (shared with the rest of the API process) first, then the models
    import dateparser
    import phonenumbers  # noqa: F401
    import py3langid  # noqa: F401
    import scipy.optimize  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.svm  # noqa: F401

    dateparser.parse("tomorrow at 3pm", languages=["en"])
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    analyzer = Analyzer(cache_dir=None)
    took = time.perf_counter() - start
    gc.collect()
    return analyzer, {
        "load_and_train_seconds": round(took, 2),
        "seconds_by_model": analyzer.load_seconds,
        "rss_mb_process_start": start_rss,
        "libraries_rss_mb": round(before - start_rss, 1),
        "models_rss_mb": round(rss_mb() - before, 1),
        "rss_mb_after": rss_mb(),
    }


def latency(analyzer: Any, texts: list[str]) -> dict[str, Any]:
    from aicrm.ai.text.analyzer import warm

    options = {
        "products": ["Pro Plan", "Business Plan", "Telephony Add-on", "Mobile App", "Dashboards"],
        "known_names": ["Acme Corporation", "Brightwave Ltd", "Helix Labs", "Nordwind GmbH"],
        "timezone": "Europe/Berlin",
        "now": datetime(2025, 3, 4, 10, 0, tzinfo=UTC),
    }
    import aicrm.ai.text.analyzer as mod

    mod._analyzer = analyzer  # warm() the same instance
    warm()
    for t in texts[:50]:
        analyzer.analyze(t, **options)
    runs = []
    for _ in range(3):
        for t in texts:
            start = time.perf_counter()
            analyzer.analyze(t, **options)
            runs.append((time.perf_counter() - start) * 1000)
    chars = [len(t) for t in texts]
    batch_start = time.perf_counter()
    analyzer.analyze_many(texts[:100], **options)
    batch_ms = (time.perf_counter() - batch_start) * 1000
    return {
        "what": "analyze() of each test message, 3 passes, after warm-up, with 5 products and "
        "4 known company names",
        "message_chars": {"median": int(statistics.median(chars)), "max": max(chars)},
        **percentiles(runs),
        "batch_of_100_ms": round(batch_ms, 1),
    }


def intent_quality(analyzer: Any) -> dict[str, Any]:
    from sklearn.metrics import classification_report

    from aicrm.ai.text import corpus

    texts, labels = read_tsv(DATA / "intent_test.tsv")
    train_texts, train_labels, _ = corpus.training_set()
    predictions = analyzer.intent.predict(texts)
    pred = [p.label for p in predictions]
    majority = Counter(train_labels).most_common(1)[0][0]
    report = classification_report(labels, pred, output_dict=True, zero_division=0)
    confusions = Counter((t, p) for t, p in zip(labels, pred, strict=True) if t != p)
    buckets = []
    for lo, hi in ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01)):
        sel = [
            p.label == t
            for p, t in zip(predictions, labels, strict=True)
            if lo <= p.confidence < hi
        ]
        if sel:
            buckets.append(
                {
                    "confidence": f"{lo:.1f}-{min(hi, 1):.1f}",
                    "n": len(sel),
                    "accuracy": round(sum(sel) / len(sel), 3),
                }
            )
    return {
        "test_set": "tests/ai_text/data/intent_test.tsv (hand-written, no shared templates)",
        "test_rows": len(texts),
        "train_rows": len(train_texts),
        "labels": len(set(labels)),
        "model": {"version": analyzer.intent.version, **scores(labels, pred)},
        "baseline_majority": {"predicts": majority, **scores(labels, [majority] * len(labels))},
        "baseline_keywords": scores(labels, [keyword_intent(t) for t in texts]),
        "per_label_f1": {k: round(v["f1-score"], 3) for k, v in report.items() if k in set(labels)},
        "top_confusions": [
            {"true": t, "predicted": p, "n": n} for (t, p), n in confusions.most_common(6)
        ],
        "accuracy_by_confidence": buckets,
    }


def sentiment_quality(analyzer: Any, tweeteval: bool) -> dict[str, Any]:
    model = analyzer.sentiment
    out: dict[str, Any] = {"version": model.version, "trained": model.meta.get("trained_on")}

    def predict(texts: list[str]) -> list[str]:
        return [s.label for s in model.analyse(texts)]

    crm_texts, crm_labels = read_tsv(DATA / "sentiment_crm_test.tsv")
    out["crm_messages"] = {
        "test_set": "tests/ai_text/data/sentiment_crm_test.tsv (hand-written)",
        "rows": len(crm_texts),
        "model": scores(crm_labels, predict(crm_texts)),
        "baseline_majority": scores(crm_labels, ["neutral"] * len(crm_labels)),
    }
    if not tweeteval:
        return out
    tw = EVAL / "tweeteval_sentiment"
    if not (tw / "test.csv").exists():
        out["tweeteval"] = f"skipped: {tw} not found"
        return out
    x_test, y_test = read_csv(tw / "test.csv")
    _, y_train = read_csv(tw / "train.csv")
    majority = Counter(y_train).most_common(1)[0][0]
    start = time.perf_counter()
    pred = predict(x_test)
    out["tweeteval_test"] = {
        "rows": len(x_test),
        "model": scores(y_test, pred),
        "baseline_majority": {"predicts": majority, **scores(y_test, [majority] * len(y_test))},
        "reference_tfidf_word_char_lr": {
            "macro_recall": REFERENCE["tweeteval_tfidf_lr_macro_recall"]
        },
        "texts_per_second": round(len(x_test) / (time.perf_counter() - start)),
    }
    sls = EVAL / "sentiment_labelled_sentences" / "all.csv"
    if sls.exists():
        x, y = read_csv(sls)
        probs = model.predict_proba(x)
        pos, neg = model.labels.index("positive"), model.labels.index("negative")
        binary = ["positive" if p[pos] > p[neg] else "negative" for p in probs]
        by_source: dict[str, Any] = {}
        with sls.open(newline="", encoding="utf-8") as fh:
            sources = [r["source"] for r in csv.DictReader(fh)]
        for src in sorted(set(sources)):
            idx = [i for i, s in enumerate(sources) if s == src]
            by_source[src] = round(sum(binary[i] == y[i] for i in idx) / len(idx), 4)
        out["out_of_domain_review_sentences"] = {
            "what": "UCI sentiment labelled sentences (Amazon/Yelp/IMDB), positive vs negative "
            "by comparing the two probabilities; text not shipped",
            "rows": len(x),
            "accuracy": round(sum(a == b for a, b in zip(binary, y, strict=True)) / len(y), 4),
            "by_source": by_source,
            "baseline_majority": 0.5,
        }
    return out


def language_quality(analyzer: Any) -> dict[str, Any]:
    texts, codes = read_tsv(DATA / "language_sample.tsv")
    pred = [analyzer.language.detect(t).code for t in texts]
    wrong = [
        {"text": t, "expected": c, "got": p}
        for t, c, p in zip(texts, codes, pred, strict=True)
        if c != p
    ]
    return {
        "sample": "tests/ai_text/data/language_sample.tsv (hand-written)",
        "rows": len(texts),
        "languages": len(set(codes)),
        "accuracy": round(sum(a == b for a, b in zip(codes, pred, strict=True)) / len(codes), 4),
        "baseline_always_en": round(codes.count("en") / len(codes), 4),
        "errors": wrong,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_latency(texts: list[str]) -> dict[str, Any]:
    """A real `aicrm serve` on a fresh SQLite database: POST /api/v1/ai/analyze, one at a time."""
    tmp = Path(tempfile.mkdtemp(prefix="aicrm-bench-text-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'text.db'}",
        "DATA_DIR": str(tmp),
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
    }
    subprocess.run([VENV_BIN / "aicrm", "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [VENV_BIN / "aicrm", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        c = httpx.Client(base_url=base, timeout=120)
        r = c.post(
            "/api/v1/auth/register",
            json={"email": "bench@example.com", "password": "bench-password-1", "full_name": "B"},
        )
        r.raise_for_status()
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        start = time.perf_counter()
        c.post("/api/v1/ai/analyze", json={"text": "warm up"}).raise_for_status()
        first = time.perf_counter() - start
        for t in texts[:30]:
            c.post("/api/v1/ai/analyze", json={"text": t}).raise_for_status()
        runs = []
        for t in texts:
            start = time.perf_counter()
            c.post("/api/v1/ai/analyze", json={"text": t}).raise_for_status()
            runs.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        c.post("/api/v1/ai/analyze", json={"texts": texts[:100]}).raise_for_status()
        batch = (time.perf_counter() - start) * 1000
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return {
        "what": "POST /api/v1/ai/analyze {text} one request at a time (auth, audit entry and "
        "commit included), `aicrm serve` on SQLite",
        "first_request_seconds": round(first, 2),
        **percentiles(runs),
        "batch_of_100_ms": round(batch, 1),
    }


def shipped() -> dict[str, Any]:
    data = ROOT / "src" / "aicrm" / "ai" / "text" / "data"
    files = {p.name: p.stat().st_size for p in sorted(data.iterdir()) if p.is_file()}
    return {"folder": "src/aicrm/ai/text/data", "bytes": files, "total_bytes": sum(files.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-tweeteval", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "targets": TARGETS}
    analyzer, result["models"] = load_models()
    result["models"]["versions"] = analyzer.model_versions
    texts, _ = read_tsv(DATA / "intent_test.tsv")
    crm, _ = read_tsv(DATA / "sentiment_crm_test.tsv")
    result["analyze_in_process"] = latency(analyzer, texts + crm)
    result["intent"] = intent_quality(analyzer)
    result["sentiment"] = sentiment_quality(analyzer, not args.skip_tweeteval)
    result["language"] = language_quality(analyzer)
    if not args.skip_http:
        result["analyze_http"] = http_latency(texts + crm)
    result["shipped"] = shipped()
    result["rerun"] = rerun_command()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
