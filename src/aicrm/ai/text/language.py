"""Language identification with py3langid, kept small and steady on short messages.

py3langid scores 97 languages; a CRM mostly hears a few dozen, and the rarer ones (Aragonese,
Acehnese, Latin …) are what short business texts get mistaken for ("ok thx" → Acehnese). So the
model is cut to `LANGUAGES` when loaded, which also drops two thirds of its probability table
from memory, and a mild prior for the organization's usual language (English by default)
settles texts too short to carry their own evidence. Probabilities are normalised over the
languages kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

LANGUAGES = (
    "af ar bg bn ca cs cy da de el en es et eu fa fi fr ga gl he hi hr hu hy id is it ja ka ko "
    "lt lv mk ms mt nl no pl pt ro ru sk sl sq sr sv sw ta th tl tr uk ur vi zh"
).split()
# how much more likely the default language is than any other before reading the text
PRIOR_WEIGHT = 4.0
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, or "und" when the text has no letters
    confidence: float
    alternatives: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "confidence": self.confidence, "alternatives": self.alternatives}


class LanguageModel:
    def __init__(self, languages: tuple[str, ...] | list[str] = tuple(LANGUAGES)) -> None:
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
        from py3langid.modelio import load_model

        ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
        keep = [i for i, c in enumerate(classes) if c in set(languages)]
        # first column of each code only (the model lists a few codes twice)
        seen: set[str] = set()
        keep = [i for i in keep if not (classes[i] in seen or seen.add(classes[i]))]
        self._ident = LanguageIdentifier(
            np.ascontiguousarray(ptc[:, keep]),
            np.asarray(pc)[keep],
            [classes[i] for i in keep],
            nextmove,
            output,
            norm_probs=True,
            tk_row=row,
        )
        self.codes = [classes[i] for i in keep]
        self.version = f"py3langid-{metadata.version('py3langid')}-{len(self.codes)}lang"

    def detect(self, text: str, *, default: str = "en") -> Language:
        letters = len(_LETTERS.findall(text))
        if not letters:
            return Language("und", 0.0, {})
        ranked = dict(self._ident.rank(text))
        if default in ranked:
            ranked[default] *= PRIOR_WEIGHT
        total = sum(ranked.values()) or 1.0
        top = sorted(ranked.items(), key=lambda kv: kv[1], reverse=True)[:3]
        return Language(
            code=top[0][0],
            confidence=round(top[0][1] / total, 4),
            alternatives={code: round(p / total, 4) for code, p in top[1:]},
        )
