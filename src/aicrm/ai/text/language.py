"""Language identification with py3langid, kept small and steady on short messages.

py3langid scores 97 languages; a CRM mostly hears a few dozen, and the rarer ones (Aragonese,
Acehnese, Latin …) are what short business texts get mistaken for ("ok thx" → Acehnese). So the
model is cut to `LANGUAGES` when loaded, which also drops two thirds of its probability table
from memory, and a mild prior for the organization's usual language (English by default)
settles texts too short to carry their own evidence. Probabilities are normalised over the
languages kept.
"""

from __future__ import annotations

import hashlib
import mmap
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
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
    def __init__(
        self,
        languages: tuple[str, ...] | list[str] = tuple(LANGUAGES),
        *,
        cache_dir: Path | None = None,
    ) -> None:
        from py3langid.langid import LanguageIdentifier

        tables = _tables(tuple(languages), cache_dir)
        self._ident = LanguageIdentifier(
            tables["ptc"],
            tables["pc"],
            tables["classes"],
            tables["nextmove"],
            tables["output"],
            norm_probs=True,
            tk_row=tables["row"],
        )
        self.codes = list(tables["classes"])
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


def _cut(languages: tuple[str, ...]) -> dict[str, Any]:
    """py3langid's model with only `languages` kept (the first column of each code: the model
    lists a few codes twice)."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    wanted, seen = set(languages), set()
    keep = [i for i, c in enumerate(classes) if c in wanted and not (c in seen or seen.add(c))]
    return {
        "ptc": np.ascontiguousarray(np.asarray(ptc)[:, keep]),
        "pc": np.asarray(pc)[keep],
        "classes": np.asarray([classes[i] for i in keep]),
        "nextmove": np.asarray(nextmove, dtype=np.uint32),
        "row": np.asarray(row, dtype=np.uint32),
        "output": np.asarray(output, dtype=np.int32),
    }


def _tables(languages: tuple[str, ...], cache_dir: Path | None) -> dict[str, Any]:
    """The cut model's arrays. With a cache folder they are written there once as plain .npy
    files and memory-mapped, so the ~60 MB automaton costs only the pages a text touches (and
    processes on one machine share them) instead of a private copy per process."""
    if cache_dir is None:
        tables = _cut(languages)
    else:
        key = hashlib.blake2b(
            f"{metadata.version('py3langid')}:{','.join(languages)}".encode(), digest_size=6
        ).hexdigest()
        folder = Path(cache_dir) / f"langid-{key}"
        if not (folder / "done").exists():
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".langid-", dir=cache_dir))
            for name, array in _cut(languages).items():
                np.save(tmp / f"{name}.npy", array)
            (tmp / "done").touch()
            try:
                tmp.rename(folder)
            except OSError:  # another process got there first
                shutil.rmtree(tmp, ignore_errors=True)
        tables = {
            name: np.load(folder / f"{name}.npy", mmap_mode="r")
            for name in ("ptc", "pc", "classes", "nextmove", "row", "output")
        }
        for name in ("ptc", "nextmove", "output"):
            _random_access(tables[name])
    tables["classes"] = [str(c) for c in tables["classes"]]
    tables["row"] = [int(r) for r in tables["row"]]
    tables["pc"] = np.asarray(tables["pc"])
    return tables


def _random_access(array: Any) -> None:
    """Tell the kernel a memory-mapped table is read at random (no read-ahead or fault-around,
    which would map tens of megabytes for a few hundred lookups)."""
    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(mmap, "MADV_RANDOM"):
        try:
            handle.madvise(mmap.MADV_RANDOM)
        except OSError:  # pragma: no cover - platform without madvise
            pass
