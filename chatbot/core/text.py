"""Text normalization for matching what people type."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower case, German umlauts spelled out, other accents dropped.

    "Schließen" -> "schliessen", "Nähe" -> "naehe", "Café" -> "cafe".
    """
    text = text.casefold()
    for umlaut, spelled in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, spelled)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
