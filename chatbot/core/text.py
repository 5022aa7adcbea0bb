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


# Characters that change how text looks or reads without being visible: zero-width
# spaces and joiners, bidi overrides and isolates, soft hyphens (Unicode category Cf),
# and control characters other than the line break (Cc).
def _invisible(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category == "Cf" or (category == "Cc" and ch not in "\n\t")


def normalize_input(text: str) -> str:
    """What a person typed, as the parsers read it: NFKC (so "²" is "2" and a
    full-width "１" is "1"), without invisible format and control characters, tabs as
    spaces. Line breaks stay; `one_line` folds them where one line is wanted."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(" " if ch == "\t" else ch for ch in text if not _invisible(ch))


def one_line(text: str) -> str:
    """Text as one line: every run of white space (line breaks too) is one space."""
    return " ".join(text.split())


def excerpt(text: str, limit: int = 40) -> str:
    """A short, one-line excerpt of what someone typed, to quote it back."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def parse_number(text: str) -> int | None:
    """A positive whole number written with ASCII digits ("3", " 12 "); else None.
    Other digits ("٣", "²") are not numbers here: normalize the input first."""
    text = text.strip()
    if not text or len(text) > 6 or not all("0" <= ch <= "9" for ch in text):
        return None
    return int(text)
