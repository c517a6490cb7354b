"""Fit the shipped sentiment model (`src/aicrm/ai/text/data/sentiment.npz`).

Trains a class-balanced logistic regression on hashed word + character n-grams
(aicrm.ai.text.sentiment.Featurizer) of the TweetEval/SemEval tweets (train + val) and the
package's own CRM-style examples (`data/sentiment_crm.tsv`, weighted up). Only the fitted
coefficients are written — int8 with a scale per class — never any tweet text: the tweets are
under X/Twitter's terms and stay in ../shared.

    .venv/bin/python scripts/train_sentiment.py            # fit, report, write the .npz
    .venv/bin/python scripts/train_sentiment.py --dry-run  # fit and report only

The data folder comes from AICRM_EVAL_DIR (default ../shared/eval next to the repository).
Measurements on the test split are in bench/ai_text.py; this prints them too for convenience.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, recall_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aicrm.ai.text import sentiment  # noqa: E402

EVAL = Path(os.environ.get("AICRM_EVAL_DIR", ROOT.parent / "shared" / "eval"))


def read_csv(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def read_tsv(path: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        texts.append(text.replace("\\n", "\n"))
        labels.append(label)
    return texts, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crm-weight", type=float, default=10.0)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--out", type=Path, default=sentiment.WEIGHTS)
    args = parser.parse_args()

    tw = EVAL / "tweeteval_sentiment"
    x_train, y_train = read_csv(tw / "train.csv")
    x_val, y_val = read_csv(tw / "val.csv")
    x_crm, y_crm = read_tsv(sentiment.DATA / "sentiment_crm.tsv")
    texts = x_train + x_val + x_crm
    labels = y_train + y_val + y_crm
    weights = np.r_[np.ones(len(x_train) + len(x_val)), np.full(len(x_crm), args.crm_weight)]

    featurize = sentiment.Featurizer()
    start = time.perf_counter()
    model = LogisticRegression(C=args.C, class_weight="balanced", max_iter=3000)
    model.fit(featurize(texts), labels, sample_weight=weights)
    took = time.perf_counter() - start
    classes = [str(c) for c in model.classes_]

    x_test, y_test = read_csv(tw / "test.csv")
    pred = np.array(classes)[model.predict_proba(featurize(x_test)).argmax(axis=1)]
    report = {
        "train_rows": {"tweets": len(x_train) + len(x_val), "crm": len(x_crm)},
        "fit_seconds": round(took, 1),
        "tweeteval_test": {
            "macro_recall": round(recall_score(y_test, pred, average="macro"), 4),
            "accuracy": round(accuracy_score(y_test, pred), 4),
        },
    }
    digest = hashlib.sha256(model.coef_.astype(np.float32).tobytes()).hexdigest()[:8]
    meta = {
        "version": f"sentiment-hash-lr-{digest}",
        "labels": classes,
        "trained_on": "TweetEval/SemEval-2017 4A train+val (labels CC BY 3.0) + sentiment_crm.tsv",
        "word_features": sentiment.WORD_FEATURES,
        "char_features": sentiment.CHAR_FEATURES,
        "C": args.C,
        "crm_weight": args.crm_weight,
        "tweeteval_test": report["tweeteval_test"],
    }
    report["version"] = meta["version"]
    if not args.dry_run:
        sentiment.save(args.out, model.coef_, model.intercept_, meta)
        report["written"] = {
            "path": str(args.out.relative_to(ROOT)),
            "bytes": args.out.stat().st_size,
        }
    print(json.dumps(report, indent=2))  # noqa: T201 - a script reporting its result


if __name__ == "__main__":
    main()
