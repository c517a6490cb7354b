"""Message sentiment: a linear model over hashed word and character n-grams.

Trained by `scripts/train_sentiment.py` on the TweetEval/SemEval tweets plus the package's own
CRM-style examples (`data/sentiment_crm.tsv`). Hashing means no vocabulary is kept, so only
fitted numbers ship (`data/sentiment.npz`: int8 coefficients with one scale per class); the
tweet texts themselves never leave the development machine.

Before hashing, text is normalised (lower case, URLs and @handles folded, elongations cut,
emoji and emoticons mapped to `emopos`/`emoneg`) and words inside a negation's scope are
marked (`not happy` → `not neg_happy`), so "not happy" and "happy" are different features.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

DATA = Path(__file__).parent / "data"
WEIGHTS = DATA / "sentiment.npz"
LABELS = ("negative", "neutral", "positive")
WORD_FEATURES = 2**18
CHAR_FEATURES = 2**18

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"(?<!\w)@\w+")
_ELONGATED = re.compile(r"(\w)\1{2,}")
_TOKEN = re.compile(r"[a-z0-9_#@']+|!+|\?+|[.,;:]")
_NEGATORS = frozenset(
    "not no never nothing nobody none nor neither cannot cant dont doesnt didnt isnt arent "
    "wasnt werent wont wouldnt shouldnt couldnt havent hasnt hadnt aint without".split()
)
_SCOPE_END = frozenset(".,;:!?") | {"but", "however", "although", "though"}
_NEGATION_SCOPE = 4

# emoticons and emoji whose sentiment is plain; anything else stays as characters
_POSITIVE = (
    ":) :-) :] :d :-d =) ;) ;-) :p xd <3 😀 😃 😄 😁 😊 🙂 😍 🥰 😘 😉 👍 👏 🙌 🎉 ❤ ❤️ 💯 ✅ "
    "🙏 😎 🤩 ⭐ 🌟 💪 😂 🤣"
).split()
_NEGATIVE = (
    ":( :-( :[ :'( >:( :/ :-/ 😞 😟 😠 😡 🤬 😤 😢 😭 😩 😫 👎 💔 😒 🙄 😕 🙁 ☹️ ☹ 😣 😖 🤮 🤦"
).split()
_EMOJI = re.compile(
    "|".join(re.escape(e) for e in sorted(_POSITIVE + _NEGATIVE, key=len, reverse=True))
)
_EMOJI_TOKEN = {e: " emopos " for e in _POSITIVE} | {e: " emoneg " for e in _NEGATIVE}


def normalise(text: str) -> str:
    text = _URL.sub(" url ", text)
    text = _HANDLE.sub("@user", text)
    text = text.replace("’", "'").replace("‘", "'")
    text = _EMOJI.sub(lambda m: _EMOJI_TOKEN[m.group(0)], text.lower())
    text = _ELONGATED.sub(r"\1\1", text)
    return text


def word_features(text: str) -> list[str]:
    """Unigrams and bigrams of the normalised text, negation scope marked with `neg_`."""
    tokens: list[str] = []
    left = 0
    for tok in _TOKEN.findall(normalise(text)):
        bare = tok.replace("'", "")
        if tok[0] in ".,;:!?" or bare in _SCOPE_END:
            left = 0
            if tok[0] in ".,;:":
                continue
            tokens.append(tok[:2])  # "!" and "!!" (more is the same as two)
            continue
        if left:
            tokens.append("neg_" + bare)
            left -= 1
        else:
            tokens.append(bare)
        if bare in _NEGATORS or bare.endswith("nt") and tok.endswith("n't"):
            left = _NEGATION_SCOPE
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def _hashers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import HashingVectorizer

    words = HashingVectorizer(
        analyzer=word_features, n_features=WORD_FEATURES, alternate_sign=False, norm=None
    )
    chars = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 5),
        preprocessor=normalise,
        n_features=CHAR_FEATURES,
        alternate_sign=False,
        norm=None,
    )
    return words, chars


def _sublinear_l2(x: sparse.csr_matrix) -> sparse.csr_matrix:
    x = x.astype(np.float32)
    x.data = 1.0 + np.log(x.data)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms).dot(x).tocsr()


class Featurizer:
    def __init__(self) -> None:
        self.words, self.chars = _hashers()

    def __call__(self, texts: list[str]) -> sparse.csr_matrix:
        return sparse.hstack(
            [
                _sublinear_l2(self.words.transform(texts)),
                _sublinear_l2(self.chars.transform(texts)),
            ],
            format="csr",
        )


@dataclass(frozen=True)
class Sentiment:
    score: float  # P(positive) − P(negative), in −1..1
    label: str
    confidence: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }


def quantise(coef: NDArray[np.floating[Any]]) -> tuple[NDArray[np.int8], NDArray[np.float32]]:
    """(classes, features) float weights → int8 weights and one scale per class."""
    scale = np.abs(coef).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(coef / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def save(path: Path, coef: NDArray[Any], intercept: NDArray[Any], meta: dict[str, Any]) -> None:
    import json

    q, scale = quantise(np.asarray(coef))
    np.savez_compressed(
        path,
        coef=q,
        scale=scale,
        intercept=np.asarray(intercept, dtype=np.float32),
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )


class SentimentModel:
    """The shipped weights, ready to score texts."""

    def __init__(self, path: Path = WEIGHTS) -> None:
        import json

        with np.load(path, allow_pickle=False) as data:
            q = data["coef"]
            scale = data["scale"]
            self.intercept = data["intercept"].astype(np.float32)
            self.meta: dict[str, Any] = json.loads(str(data["meta"]))
        # features × classes, so a sparse row times it is one small product (one allocation)
        self.weights = np.ascontiguousarray(q.T, dtype=np.float32)
        self.weights *= scale[None, :]
        self.labels = tuple(self.meta.get("labels", LABELS))
        self.version = str(self.meta.get("version", "unknown"))
        self.featurize = Featurizer()

    def predict_proba(self, texts: list[str]) -> NDArray[np.float32]:
        z = self.featurize(texts) @ self.weights + self.intercept
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def analyse(self, texts: list[str]) -> list[Sentiment]:
        out = []
        neg, pos = self.labels.index("negative"), self.labels.index("positive")
        for row in self.predict_proba(texts):
            best = int(row.argmax())
            out.append(
                Sentiment(
                    score=round(float(row[pos] - row[neg]), 4),
                    label=self.labels[best],
                    confidence=round(float(row[best]), 4),
                    probabilities={
                        lab: round(float(v), 4) for lab, v in zip(self.labels, row, strict=True)
                    },
                )
            )
        return out
