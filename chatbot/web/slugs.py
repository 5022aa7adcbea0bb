"""A city's address on the web: a readable ASCII slug of its name.

"Duisburg" -> "duisburg", "Mülheim an der Ruhr" -> "muelheim-an-der-ruhr" (umlauts
spelled out, other accents dropped). Two cities with the same slug are told apart by
their group id: the lowest id keeps the slug, the next gets "-2", and so on, so a
city's slug does not change when another city is set up later. Pure: the core uses it
for the links it posts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from chatbot.core.model import CityGroup

_SPELLED = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"}
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).translate(_SPELLED)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    return slug or "city"


def slugs_of(groups: Iterable[CityGroup]) -> dict[int, str]:
    """Every group's slug (group id -> slug), unique, decided in the order of group ids:
    a city keeps its slug whatever cities come later."""
    taken: set[str] = set()
    result: dict[int, str] = {}
    for group in sorted(groups, key=lambda g: g.id):
        base = slug = slugify(group.name)
        n = 2
        while slug in taken:
            slug = f"{base}-{n}"
            n += 1
        taken.add(slug)
        result[group.id] = slug
    return result


def slug_of(groups: Iterable[CityGroup], group_id: int) -> str | None:
    return slugs_of(groups).get(group_id)
