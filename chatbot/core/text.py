"""Text normalization for matching what people type."""

from __future__ import annotations

import functools
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


# Characters that are in Unicode's Default_Ignorable_Code_Point set without being
# format characters: fillers that show nothing (Hangul fillers), the combining grapheme
# joiner, variation selectors, Mongolian free variation selectors.
_IGNORABLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0]
    + list(range(0x180B, 0x1810))
    + list(range(0xFE00, 0xFE10))
    + list(range(0xE0100, 0xE01F0))
)


# Characters that change how text looks or reads without being visible: zero-width
# spaces and joiners, bidi overrides and isolates, soft hyphens (Unicode category Cf),
# control characters other than the line break (Cc), the ignorable fillers above, and
# lone surrogates (Cs: no text, and nothing a database can store).
def _invisible(ch: str) -> bool:
    category = unicodedata.category(ch)
    return (
        category in ("Cf", "Cs") or (category == "Cc" and ch not in "\n\t") or ord(ch) in _IGNORABLE
    )


def normalize_input(text: str) -> str:
    """What a person typed, as the parsers read it: NFKC (so "²" is "2" and a
    full-width "１" is "1"), without invisible format and control characters, tabs as
    spaces. Line breaks stay; `one_line` folds them where one line is wanted."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if ch == "\t" else ch for ch in text if not _invisible(ch))
    # again: an invisible character between a letter and its accent kept them apart
    return unicodedata.normalize("NFKC", text)


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


@functools.cache
def _latin_look_alikes() -> dict[str, str]:
    """Letters of other scripts that look like a Latin letter or digit, from Unicode's
    confusables table (TR39) as the confusable_homoglyphs package ships it: Cyrillic
    "С" → "C", Greek "ο" → "o", Cyrillic "І" → "I". Latin letters themselves are left
    alone ("rn" is not "m" here), and so are look-alikes of no ASCII letter or digit."""
    from confusable_homoglyphs import categories  # type: ignore[import-untyped]
    from confusable_homoglyphs.utils import load  # type: ignore[import-untyped]

    table: dict[str, list[dict[str, str]]] = load("confusables.json")
    mapping: dict[str, str] = {}
    for key, glyphs in table.items():
        char = key.replace("\u200e", "")  # right-to-left letters come wrapped in LRMs
        if len(char) != 1 or char.isascii():
            continue
        if categories.alias(char) in ("LATIN", "COMMON", "INHERITED"):
            continue
        targets = sorted(
            {
                target
                for glyph in glyphs
                if (target := glyph["c"].replace("\u200e", "")).isascii() and target.isalnum()
            }
        )
        if not targets:
            continue
        target = targets[0]
        if target == "l" and unicodedata.category(char) == "Lu":
            target = "I"  # a capital that looks like "l" looks like "I" as well
        mapping[char] = target
    return mapping


def skeleton(text: str) -> str:
    """Text with look-alike letters of other scripts replaced by the Latin letters
    they imitate, so that a Cyrillic "Сafé" reads as "Café" (a TR39-style skeleton,
    restricted to imitations of ASCII letters and digits)."""
    table = _latin_look_alikes()
    return "".join(table.get(ch, ch) for ch in text)
