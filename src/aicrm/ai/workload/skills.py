"""Matching tasks to skills: words of a task's category and title against a member's skills.

Skills are free text on team members ("billing", "technical support", "enterprise sales").
A skill matches a task when

- the task's category is that skill (strongest),
- every word of the skill appears in the title (strong), or
- the title has a word the skill is known to cover ("invoice", "refund" → billing) (weaker).

Words are compared by a light stem so "renewal" matches "renewals" and "renew". When a task has
no category, one is inferred from the organization's own categorised tasks (naive Bayes on
title words) and used when it is confident.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an and are as at be by for from has have in into is it of on or the their this to with "
    "our your we you they about after before up new re fw fwd call email meeting follow task".split()
)
# Words a skill covers beyond its own name (stems, see `stem`).
_COVERS: dict[str, tuple[str, ...]] = {
    "billing": ("invoice", "refund", "payment", "charge", "subscription", "credit", "pric"),
    "payment": ("invoice", "refund", "charge", "card", "billing"),
    "finance": ("invoice", "refund", "payment", "billing", "budget"),
    "support": (
        "bug",
        "error",
        "issue",
        "login",
        "log",
        "password",
        "access",
        "broken",
        "crash",
        "ticket",
        "troubleshoot",
    ),
    "technical": ("api", "integration", "bug", "error", "crash", "outage", "sso", "webhook"),
    "sales": ("demo", "quote", "proposal", "prospect", "pric", "deal", "pitch"),
    "onboarding": ("setup", "kickoff", "training", "welcome", "install", "activation"),
    "renewal": ("renew", "expir", "contract", "upsell"),
    "account": ("renew", "upsell", "qbr", "review", "expansion"),
    "legal": ("contract", "nda", "gdpr", "compliance", "terms", "dpa"),
    "migration": ("import", "export", "csv", "migrat"),
    "marketing": ("campaign", "newsletter", "webinar", "event", "content"),
}


def stem(word: str) -> str:
    """A light English stem: enough for renewals/renewal/renew, invoices/invoicing."""
    for suffix in ("ations", "ation", "ings", "ing", "ers", "er", "ies", "es", "s", "ed", "al"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def words(text: str | None) -> list[str]:
    """Stemmed content words of `text`."""
    if not text:
        return []
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


_COVERS_BY_STEM = {stem(k): tuple(stem(w) for w in v) for k, v in _COVERS.items()}


def originals(text: str | None) -> dict[str, str]:
    """Stem → the word as written, to show users the word that matched."""
    if not text:
        return {}
    return {stem(w): w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= 4 and long_.startswith(short)


def normalise(text: str | None) -> str:
    return " ".join(words(text))


@dataclass(frozen=True)
class Match:
    """How well one skill fits one task: 0 (not at all) .. 1 (it is the task's category)."""

    skill: str
    strength: float
    why: str  # "category", "title", or the covered word that matched


def match(skill: str, category: str | None, title_words: Sequence[str]) -> Match | None:
    """The best way `skill` fits a task with this category and these (stemmed) title words."""
    skill_words = words(skill)
    if not skill_words:
        return None
    cat_words = words(category)
    if cat_words and (
        all(any(_same(s, c) for c in cat_words) for s in skill_words)
        or all(any(_same(c, s) for s in skill_words) for c in cat_words)
    ):
        return Match(skill, 1.0, "category")
    if all(any(_same(s, t) for t in title_words) for s in skill_words):
        return Match(skill, 0.8, "title")
    for s in skill_words:
        for covered in _COVERS_BY_STEM.get(s, ()):
            for t in (*title_words, *cat_words):
                if _same(covered, t):
                    return Match(skill, 0.5, t)
    if any(_same(s, t) for s in skill_words for t in (*title_words, *cat_words)):
        return Match(skill, 0.4, "title")
    return None


def best_match(
    skills: Iterable[str], category: str | None, title_words: Sequence[str]
) -> Match | None:
    best: Match | None = None
    for skill in skills:
        m = match(skill, category, title_words)
        if m is not None and (best is None or m.strength > best.strength):
            best = m
    return best


class CategoryGuesser:
    """Multinomial naive Bayes from title words to category, trained on the organization's own
    categorised tasks; `guess` answers None below `min_probability`."""

    MIN_EXAMPLES = 20

    def __init__(self, examples: Sequence[tuple[str, str]], min_probability: float = 0.6) -> None:
        self.min_probability = min_probability
        by_cat: dict[str, Counter[str]] = {}
        docs: Counter[str] = Counter()
        labels: dict[str, str] = {}
        for title, category in examples:
            key = normalise(category)
            if not key:
                continue
            labels.setdefault(key, category.strip())
            by_cat.setdefault(key, Counter()).update(set(words(title)))
            docs[key] += 1
        self.ready = sum(docs.values()) >= self.MIN_EXAMPLES and len(docs) >= 2
        self.labels = labels
        self.vocab = {w for c in by_cat.values() for w in c}
        total = sum(docs.values()) or 1
        self.prior = {k: math.log(n / total) for k, n in docs.items()}
        self.loglik: dict[str, dict[str, float]] = {}
        self.unseen: dict[str, float] = {}
        v = len(self.vocab) + 1
        for k, counts in by_cat.items():
            denom = sum(counts.values()) + v
            self.loglik[k] = {w: math.log((n + 1) / denom) for w, n in counts.items()}
            self.unseen[k] = math.log(1 / denom)

    def guess(self, title_words: Sequence[str]) -> tuple[str, float] | None:
        if not self.ready:
            return None
        known = [w for w in set(title_words) if w in self.vocab]
        if not known:
            return None
        scores = {
            k: prior + sum(self.loglik[k].get(w, self.unseen[k]) for w in known)
            for k, prior in self.prior.items()
        }
        top = max(scores.values())
        z = sum(math.exp(s - top) for s in scores.values())
        best = max(scores, key=lambda k: scores[k])
        probability = 1.0 / z
        if probability < self.min_probability:
            return None
        return self.labels[best], probability
