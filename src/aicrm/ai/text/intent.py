"""The built-in intent model: what a customer message asks for.

Labels (`corpus.LABELS`) and where the line between neighbours is drawn:

- sales_inquiry — interest in buying or evaluating the product or service (fit, features,
  demos, partnerships) before any price talk; pricing — what it costs, quotes, discounts;
- booking_request — set, move or confirm a meeting, call, visit or reservation;
- support_request — how-to questions and account changes (nothing is broken);
  technical_issue — something is broken, failing, slow or down;
- billing — invoices, charges, payments and refunds of an existing customer;
- complaint — dissatisfaction with the service or people, wanting it acknowledged or fixed;
  cancellation — wanting to cancel, not renew, leave or threatening to (the churn signal);
- feedback — praise, suggestions, feature requests, reviews;
- spam — unsolicited promotion, scams and phishing; other — everything else (auto-replies,
  acknowledgements, job applications, press, wrong recipient …).

Model: TF-IDF of word 1-2-grams and character 2-5-grams, a linear SVM, and a softmax over its
scores whose temperature is fitted on a held-out quarter of the training sources, so
`confidence` behaves like a probability. Trained from the package's files at first use (about
two seconds) and cached in memory and under DATA_DIR/models/.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from aicrm.ai.text import corpus
from aicrm.logging import get_logger

log = get_logger("aicrm.ai")

SVM_C = 1.0
PER_LABEL = 320
FORMAT = 2  # bump when what is pickled changes


@dataclass(frozen=True)
class Intent:
    label: str
    confidence: float
    alternatives: dict[str, float]  # the runners-up, best first

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "alternatives": self.alternatives,
        }


def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, dtype=np.float32
    )
    return words, chars


def _softmax(scores: NDArray[Any], temperature: float) -> NDArray[np.float64]:
    z = np.asarray(scores, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class IntentModel:
    def __init__(self, words: Any, chars: Any, svm: Any, temperature: float, version: str) -> None:
        self.words = words
        self.chars = chars
        self.svm = svm
        self.temperature = temperature
        self.version = version
        self.labels: list[str] = [str(c) for c in svm.classes_]

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        return sparse.hstack(
            [self.words.transform(texts), self.chars.transform(texts)], format="csr"
        )

    def probabilities(self, texts: list[str]) -> NDArray[np.float64]:
        return _softmax(self.svm.decision_function(self.features(texts)), self.temperature)

    def predict(self, texts: list[str], *, alternatives: int = 3) -> list[Intent]:
        out = []
        for row in self.probabilities(texts):
            order = np.argsort(-row)
            out.append(
                Intent(
                    label=self.labels[int(order[0])],
                    confidence=round(float(row[order[0]]), 4),
                    alternatives={
                        self.labels[int(i)]: round(float(row[i]), 4)
                        for i in order[1 : 1 + alternatives]
                    },
                )
            )
        return out


def _fit(texts: list[str], labels: list[str]) -> tuple[Any, Any, Any]:
    from sklearn.svm import LinearSVC

    words, chars = _vectorizers()
    x = sparse.hstack([words.fit_transform(texts), chars.fit_transform(texts)], format="csr")
    svm = LinearSVC(C=SVM_C).fit(x, labels)
    # the n-grams min_df dropped are only kept for inspection; single precision is plenty
    for vectorizer in (words, chars):
        if hasattr(vectorizer, "stop_words_"):
            del vectorizer.stop_words_
    svm.coef_ = svm.coef_.astype(np.float32)
    svm.intercept_ = svm.intercept_.astype(np.float32)
    return words, chars, svm


def _fit_temperature(scores: NDArray[Any], labels: list[str], classes: list[str]) -> float:
    from scipy.optimize import minimize_scalar

    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[lab] for lab in labels])

    def nll(log_t: float) -> float:
        p = _softmax(scores, float(np.exp(log_t)))
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    res = minimize_scalar(nll, bounds=(-5.0, 3.0), method="bounded")
    return float(np.exp(res.x))


def train(
    texts: list[str],
    labels: list[str],
    groups: list[str] | None = None,
    *,
    version: str = "custom",
    seed: int = 7,
) -> IntentModel:
    """Fit on (texts, labels); the softmax temperature comes from a held-out quarter of the
    groups (sources), so near-duplicates of one source never sit on both sides."""
    groups = groups or [str(i) for i in range(len(texts))]
    names = sorted(set(groups))
    held = set(random.Random(seed).sample(names, max(1, len(names) // 4)))
    fit_idx = [i for i, g in enumerate(groups) if g not in held]
    val_idx = [i for i, g in enumerate(groups) if g in held]
    temperature = 1.0
    if val_idx and len({labels[i] for i in fit_idx}) == len(set(labels)):
        words, chars, svm = _fit([texts[i] for i in fit_idx], [labels[i] for i in fit_idx])
        val = [texts[i] for i in val_idx]
        scores = svm.decision_function(
            sparse.hstack([words.transform(val), chars.transform(val)], format="csr")
        )
        temperature = _fit_temperature(
            scores, [labels[i] for i in val_idx], [str(c) for c in svm.classes_]
        )
    words, chars, svm = _fit(texts, labels)
    return IntentModel(words, chars, svm, temperature, version)


def _release_memory() -> None:
    """Hand the memory training freed back to the OS (glibc keeps it otherwise: ~25 MB)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do


def builtin_version() -> str:
    import sklearn

    key = f"{corpus.fingerprint()}:{PER_LABEL}:{SVM_C}:{FORMAT}:{sklearn.__version__}"
    return f"intent-tfidf-svm-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def load_builtin(cache_dir: Path | None = None) -> IntentModel:
    """The built-in model: from the disk cache when it matches the shipped data and this
    scikit-learn, else trained now (and cached)."""
    version = builtin_version()
    path = cache_dir / f"{version}.pkl" if cache_dir else None
    if path is not None and path.exists():
        try:
            with path.open("rb") as fh:
                model = pickle.load(fh)  # noqa: S301 - our own file, keyed by data+library
            if isinstance(model, IntentModel) and model.version == version:
                return model
        except Exception as exc:  # noqa: BLE001 - a bad cache file is retrained, not fatal
            log.warning("intent_cache_unreadable", path=str(path), error=str(exc)[:200])
    texts, labels, groups = corpus.training_set(PER_LABEL)
    model = train(texts, labels, groups, version=version)
    del texts, labels, groups
    _release_memory()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
        except OSError as exc:
            log.warning("intent_cache_unwritable", path=str(path), error=str(exc)[:200])
    return model
