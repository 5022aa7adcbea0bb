"""Talent: what people can do (profiles), and teams for one project.

A profile belongs to one person in one city group; nobody appears anywhere without
one. A project has the group's next project number (never reused), a lead, the skills
it needs, the people who offered to help and the team the lead took.

Skills are matched by word parts (`video` finds "Videoschnitt") on their folded form
(case, umlauts and accents ignored), and across German and English through the small
synonym table below.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chatbot.core.events import Person
from chatbot.core.text import fold

MAX_SKILL = 40
MAX_SKILLS = 15
MAX_ABOUT = 200
MAX_AREA = 60
MAX_PROJECT_NAME = 80
MAX_PROJECT_TEXT = 500
MIN_QUERY = 3  # a shorter query is matched by a scan (trigrams need three characters)

# German and English names of the same talent, as folded word stems: a query that
# contains a stem (or is part of one) searches for every stem of its group.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("grafik", "graphic", "graphik"),
    ("fotograf", "photograph", "foto", "photo"),
    ("uebersetz", "translat", "dolmetsch"),
    ("buchhalt", "accounting", "bookkeeping", "buchfuehrung"),
    ("webentwickl", "web develop", "webdevelop", "webseiten", "website"),
    ("text", "copywrit"),
    ("videoschnitt", "video editing", "videobearbeitung"),
    ("illustration", "zeichn", "drawing"),
    ("programmier", "programming", "softwareentwickl", "software develop", "coding"),
    ("lektorat", "korrektur", "proofread"),
    ("steuer", "tax"),
    ("marketing", "werbung", "advertis"),
)


def search_form(skill: str) -> str:
    """What a skill is matched by: folded, hyphens and slashes as spaces
    ("Übersetzung" → "uebersetzung", "Web-Design" → "web design")."""
    return " ".join(fold(skill).replace("-", " ").replace("/", " ").split())


def plain_form(skill: str) -> str:
    """The skill with accents and umlauts dropped rather than spelled out
    ("Übersetzung" → "ubersetzung"), so that a query typed without umlauts matches too."""
    decomposed = unicodedata.normalize("NFKD", skill.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.replace("-", " ").replace("/", " ").split())


@functools.lru_cache(maxsize=4096)
def skill_forms(skill: str) -> str:
    """Both forms of a skill on two lines, to test whether a folded term is part of it
    (`term in skill_forms(skill)`). Memoized: /who tests the skills of every person it
    lists, and the same skills come again and again."""
    return search_form(skill) + "\n" + plain_form(skill)


START, END = "\x02", "\x03"  # around each skill in the search text


def search_text(skills: tuple[str, ...]) -> str:
    """The stored search text of a profile: each skill's folded form between START and
    END (so that "a skill is the query" and "a skill starts with it" are substrings
    too), one per line, followed by the plain forms that differ."""
    forms = [search_form(s) for s in skills]
    forms += [p for s in skills if (p := plain_form(s)) not in forms]
    return "\n".join(START + form + END for form in forms)


def skill_terms(skills: tuple[str, ...]) -> list[tuple[int, str]]:
    """What the term index holds for a profile: each skill's folded (and plain) form
    as kind 0, and the rest of it from each later word on as kind 1, so that "a skill
    is the query", "a skill starts with it" and "a word starts with it" are lookups in
    a B-tree ("graphic design" → (0, "graphic design"), (1, "design"))."""
    terms: list[tuple[int, str]] = []
    forms = [search_form(s) for s in skills]
    forms += [p for s in skills if (p := plain_form(s)) not in forms]
    for form in dict.fromkeys(forms):
        terms.append((0, form))
        terms += [(1, form[i:]) for i in range(1, len(form)) if form[i - 1] == " "]
    return list(dict.fromkeys(terms))


def synonyms_of(query: str) -> tuple[str, ...]:
    """The other stems a folded query stands for (empty when it is in no group)."""
    found: list[str] = []
    for group in SYNONYMS:
        if any(stem in query or (len(query) >= 4 and query in stem) for stem in group):
            found += [stem for stem in group if stem not in query and stem not in found]
    return tuple(found)


@dataclass(frozen=True)
class Profile:
    group_id: int
    person: Person
    skills: tuple[str, ...]
    about: str = ""
    area: str = ""  # free text, e.g. a district
    centre: tuple[float, float] | None = None  # a shared location rounded to about 1 km
    muted: bool = False  # no direct messages about new projects


@dataclass(frozen=True)
class Found:
    """A profile that /who found, how well it matched, and whether the person opened or
    joined a session of the city in the last 30 days."""

    profile: Profile
    quality: int  # 4 a skill is the query, 3 starts with it, 2 a word does, 1 contains it
    active: bool
    distance_m: float | None = None
    profile_id: int = 0


class ProjectState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Project:
    id: int
    group_id: int
    number: int  # the group's own number for it, given once, never reused
    name: str
    skills: tuple[str, ...]
    text: str
    lead: Person
    created_at: datetime
    state: ProjectState = ProjectState.OPEN
    ended_at: datetime | None = None
    offers: tuple[Person, ...] = field(default_factory=tuple)  # offered help, not taken
    team: tuple[Person, ...] = field(default_factory=tuple)

    def in_team(self, person: Person) -> bool:
        return any(p.ref == person.ref for p in self.team)

    def has_offered(self, person: Person) -> bool:
        return any(p.ref == person.ref for p in self.offers)
