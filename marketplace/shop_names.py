"""Shop names that cannot impersonate each other.

``normalize_name`` is what we store and show: NFKC (full-width and "mathematical" letters become
plain ones), no bidi controls or zero-width characters (they reorder or hide text), whitespace
collapsed. ``name_skeleton`` is what must be unique: two names with the same skeleton look
alike (``Bob's Bikes``, ``BOB'S BIKES``, ``Bob’s Bikes``, ``Вob's Bikes`` with a Cyrillic В,
``B0b's B1kes``) and the second is refused.

The skeleton follows Unicode's UTS #39 idea (map every character to the prototype it is
confusable with) on casefolded text. The confusables data is Unicode's ``confusables.txt`` as
shipped by ``confusable-homoglyphs``, which stores each "source → prototype" pair in both
directions; the direction is recovered below.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from confusable_homoglyphs.confusables import confusables_data

# Bidi embeddings/overrides/isolates and marks, zero-width characters, BOM, soft hyphen, and
# other invisible format characters (category Cf) are removed outright.
_WHITESPACE = re.compile(r"\s+")


def _strip_format(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def normalize_name(name: str) -> str:
    """The name as stored and shown (may be empty: the caller refuses that)."""
    text = _strip_format(unicodedata.normalize("NFKC", name or ""))
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return _WHITESPACE.sub(" ", text).strip()


@cache
def _homoglyphs() -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    for char, glyphs in confusables_data.items():
        table.setdefault(_strip_format(char), []).extend(_strip_format(g["c"]) for g in glyphs)
    return {char: tuple(glyphs) for char, glyphs in table.items()}


def _prototype(char: str) -> str:
    """The character's UTS #39 prototype (itself if it is one).

    A source maps to exactly one prototype and is never a prototype itself, so it has exactly
    one entry; a prototype lists all its sources. A pair that only knows each other gets the
    smaller of the two, which keeps the mapping deterministic either way.
    """
    glyphs = _homoglyphs().get(char)
    if not glyphs or len(glyphs) != 1:
        return char
    other = glyphs[0]
    if len(other) > 1 or len(_homoglyphs().get(other, ())) > 1:
        return other
    return min(char, other)


def name_skeleton(name: str) -> str:
    """Equal for names that look alike; compare with ``==`` (stored in ``Shop.name_skeleton``)."""
    text = unicodedata.normalize("NFD", normalize_name(name).casefold())
    out = []
    for char in text:
        # Casefolding hides confusables of capitals (I → l), so those are mapped as capitals.
        upper = char.upper()
        out.append(
            _prototype(upper)
            if len(upper) == 1 and _prototype(upper) != upper
            else _prototype(char)
        )
    return unicodedata.normalize("NFD", "".join(out)).casefold()
