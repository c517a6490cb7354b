"""The built-in intent model's training set, built from the files the package ships.

`data/intent_examples.txt` holds hand-written messages; `data/intent_templates.txt` holds
templates whose `{slots}` are filled from `data/intent_slots.json`. Each message is then dressed
as one of the channels a CRM receives (email with greeting and signature, chat, SMS, web form),
sometimes with a label-neutral sentence around it and a few typos, so the model learns the intent
rather than the wrapping. Everything is seeded: the same files give the same training set.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data"
FILES = ("intent_examples.txt", "intent_templates.txt", "intent_slots.json")
GENERATOR_VERSION = 1  # bump when the generation below changes

LABELS = (
    "sales_inquiry",
    "pricing",
    "booking_request",
    "support_request",
    "technical_issue",
    "billing",
    "complaint",
    "cancellation",
    "feedback",
    "spam",
    "other",
)

_SECTION = re.compile(r"\[(\w+)\]")
_SLOT = re.compile(r"\{(\w+)\}")

GREETINGS = (
    "Hi,",
    "Hello,",
    "Hi {first},",
    "Dear team,",
    "Good morning,",
    "Hey,",
    "Hi there,",
    "Dear Sir or Madam,",
    "Hello {first},",
    "Good afternoon,",
)
SIGN_OFFS = (
    "Thanks,",
    "Best regards,",
    "Cheers,",
    "Kind regards,",
    "Regards,",
    "Thank you,",
    "Best,",
    "Many thanks,",
    "Thanks in advance,",
)
SMS_WORDS = {
    "you": "u",
    "your": "ur",
    "please": "pls",
    "thanks": "thx",
    "tomorrow": "tmrw",
    "are": "r",
    "because": "bc",
    "for": "4",
    "to": "2",
    "message": "msg",
}


def _sections(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    for raw in (DATA / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _SECTION.fullmatch(line)
        if m:
            current = m.group(1)
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line.replace("\\n", "\n"))
    unknown = set(out) - set(LABELS)
    if unknown:
        raise ValueError(f"{name}: unknown intent sections {sorted(unknown)}")
    return out


@cache
def examples() -> dict[str, list[str]]:
    return _sections("intent_examples.txt")


@cache
def templates() -> dict[str, list[str]]:
    return _sections("intent_templates.txt")


@cache
def slots() -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads((DATA / "intent_slots.json").read_text("utf-8"))
    return data


def fingerprint() -> str:
    """Hash of the training files and the generator: the intent model's version."""
    h = hashlib.sha256(str(GENERATOR_VERSION).encode())
    for name in FILES:
        h.update((DATA / name).read_bytes())
    return h.hexdigest()[:12]


def fill(template: str, rng: random.Random, depth: int = 0) -> str:
    values = slots()

    def one(m: re.Match[str]) -> str:
        choices = values.get(m.group(1))
        if not choices:
            raise KeyError(f"no values for slot {{{m.group(1)}}} in intent_slots.json")
        return fill(rng.choice(choices), rng, depth + 1) if depth < 3 else rng.choice(choices)

    return _SLOT.sub(one, template)


def _typos(text: str, rng: random.Random, rate: float) -> str:
    words = text.split(" ")
    for i, w in enumerate(words):
        if len(w) < 4 or rng.random() > rate:
            continue
        j = rng.randrange(1, len(w) - 1)
        kind = rng.random()
        if kind < 0.4:  # swap two letters
            w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        elif kind < 0.7:  # drop one
            w = w[:j] + w[j + 1 :]
        else:  # double one
            w = w[:j] + w[j] + w[j:]
        words[i] = w
    return " ".join(words)


def _sms(body: str) -> str:
    words = [SMS_WORDS.get(w.lower(), w) for w in body.replace("\n", " ").split()]
    return " ".join(words).lower().rstrip(".")


def dress(body: str, rng: random.Random) -> str:
    """`body` as one of the channel styles, maybe with a neutral sentence or typos."""
    name = f"{rng.choice(slots()['first'])} {rng.choice(slots()['last'])}"
    if rng.random() < 0.25:
        extra = fill(rng.choice(slots()["context"]), rng)
        body = f"{extra} {body}" if rng.random() < 0.5 else f"{body} {extra}"
    style = rng.random()
    if style < 0.35:
        text = body
    elif style < 0.65:
        parts = [fill(rng.choice(GREETINGS), rng), body, f"{rng.choice(SIGN_OFFS)}\n{name}"]
        if rng.random() < 0.3:
            parts[-1] += f"\n{fill('{role}, {company}', rng)}"
        text = "\n\n".join(parts)
    elif style < 0.8:
        text = body.lower() if rng.random() < 0.5 else body
        if rng.random() < 0.4:
            text = rng.choice(("hi ", "hello ", "hey, ", "hi! ")) + text
        text = text.rstrip(".")
    elif style < 0.9:
        text = _sms(body)
    else:
        email = f"{name.split()[0].lower()}@{rng.choice(('gmail.com', 'example.com', 'mail.de'))}"
        text = f"Name: {name}\nEmail: {email}\nCompany: {fill('{company}', rng)}\nMessage: {body}"
    if rng.random() < 0.3:
        text = _typos(text, rng, 0.06)
    return text


def generate(per_label: int = 320, seed: int = 7) -> Iterator[tuple[str, str, str]]:
    """(text, label, group) triples: each hand-written message as written and once dressed,
    then filled templates until the label has `per_label` messages. `group` names the source
    (one hand-written message or one template), for splits that keep a source on one side."""
    rng = random.Random(seed)
    hand, tmpl = examples(), templates()
    for label in LABELS:
        made = 0
        for i, text in enumerate(hand.get(label, ())):
            yield text, label, f"{label}:h{i}"
            yield dress(text, rng), label, f"{label}:h{i}"
            made += 2
        pool = tmpl.get(label, ())
        while pool and made < per_label:
            j = rng.randrange(len(pool))
            yield dress(fill(pool[j], rng), rng), label, f"{label}:t{j}"
            made += 1


def training_set(per_label: int = 320, seed: int = 7) -> tuple[list[str], list[str], list[str]]:
    """Texts, labels and source groups of the training set."""
    rows = list(generate(per_label, seed))
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
