"""Profiles (what people can do) and projects, with the talent search.

Skills are stored as typed (one per line) and in a folded search form; an FTS5 index
with the trigram tokenizer over the search form (kept in step by triggers, see
migration 10) finds word parts: `video` finds "videoschnitt". A query shorter than three
characters, or a database whose SQLite has no trigram tokenizer, is answered by a
`LIKE` scan of the group's profiles instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import aiosqlite

from chatbot.core.events import Person, PersonRef
from chatbot.core.talent import (
    MIN_QUERY,
    Found,
    Profile,
    Project,
    ProjectState,
    skill_terms,
)
from chatbot.storage.base import Store, from_iso, to_iso

# how well a skill matches the query (?1, folded; see chatbot.core.talent.search_text):
# a skill is the query, a skill starts with it, a word of a skill does, a skill contains
# it; 0: only a synonym matched
QUALITY = (
    "CASE WHEN instr(p.search, char(2) || ?1 || char(3)) THEN 4"
    " WHEN instr(p.search, char(2) || ?1) THEN 3"
    " WHEN instr(p.search, ' ' || ?1) THEN 2"
    " WHEN instr(p.search, ?1) THEN 1 ELSE 0 END"
)
# who opened or joined a session of the groups (?2, a JSON array) on a day since ?3
RECENT = (
    "WITH recent(platform, person_id) AS ("
    " SELECT s.opener_platform, s.opener_id FROM sessions s"
    " WHERE s.group_id IN (SELECT value FROM json_each(?2)) AND s.local_date >= ?3"
    " AND s.state != 'cancelled'"
    " UNION SELECT j.platform, j.person_id FROM session_joiners j"
    " JOIN sessions s ON s.id = j.session_id"
    " WHERE s.group_id IN (SELECT value FROM json_each(?2)) AND s.local_date >= ?3"
    " AND s.state != 'cancelled')"
)
ACTIVE = (
    "EXISTS (SELECT 1 FROM recent r WHERE r.platform = p.platform AND r.person_id = p.person_id)"
)
IN_GROUPS = "p.group_id IN (SELECT value FROM json_each(?2))"


_LAST = "\U0010ffff"  # after every character: the end of a prefix range
# what a Profile is made of (the search text stays in the database)
_COLUMNS = (
    "p.id, p.group_id, p.platform, p.person_id, p.name, p.language, p.skills, p.about,"
    " p.area, p.centre_lat, p.centre_lon, p.muted"
)


# the query (?1) or one of its synonyms (?7, a JSON array) is part of the search text
CONTAINS = (
    "(instr(p.search, ?1) OR EXISTS (SELECT 1 FROM json_each(?7) WHERE instr(p.search, value)))"
)


def _ranked_sql() -> str:
    """The ranked search as one statement, the same text for every query, so that
    SQLite prepares it once per connection: ?1 the (folded) query, ?2 the groups (a
    JSON array), ?3 the day since which people count as active, ?4 the limit, ?5 the
    end of the query's prefix range, ?6 the FTS query for the query (NULL when it is
    shorter than three characters), ?7 its synonyms (a JSON array) and ?8 their FTS
    query (NULL without synonyms).

    The matching profiles of the recently active (few) are read first (`act`); then,
    for each level of match, best first: the active ones of that level, then the
    others from an index. A skill is the query (4), starts with it (3), a word of it
    does (2): ranges of the term index; contains it (1), only a synonym matched (0):
    the trigram index (a query of one or two letters, which has no trigram, scans
    for level 1, and only when the better levels leave room). The levels are joined
    by UNION ALL without an ORDER BY, so SQLite reads them in this order and stops at
    the limit: the time does not grow with how many profiles match. A profile is
    listed at its best level, once."""
    terms = (
        "FROM profile_terms t CROSS JOIN profiles p ON p.id = t.profile_id"
        " WHERE t.group_id IN (SELECT value FROM json_each(?2)) AND "
    )
    fts = (
        "FROM profile_search f CROSS JOIN profiles p ON p.id = f.rowid"
        " WHERE {param} IS NOT NULL AND profile_search MATCH {param} AND " + IN_GROUPS + " AND "
    )
    levels = (
        (4, terms + "t.kind = 0 AND t.term = ?1 AND "),
        (3, terms + "t.kind = 0 AND t.term > ?1 AND t.term < ?5 AND "),
        (2, terms + "t.kind = 1 AND t.term >= ?1 AND t.term < ?5 AND "),
        (1, fts.format(param="?6")),
        # a query of one or two letters: no trigram, a scan of the groups' profiles
        (1, f"FROM profiles p WHERE ?6 IS NULL AND {IN_GROUPS} AND "),
        (0, fts.format(param="?8")),
    )
    arms: list[str] = []
    for n, (level, source) in enumerate(levels):
        if levels[n - 1][0] != level:
            arms.append(f"SELECT * FROM (SELECT *, 1 FROM act WHERE quality = {level} ORDER BY id)")
        arms.append(
            f"SELECT DISTINCT {_COLUMNS}, {level}, 0 {source}"
            f"{QUALITY} = {level} AND p.id NOT IN (SELECT id FROM act)"
        )
    return (
        f"{RECENT}, act AS MATERIALIZED (SELECT {_COLUMNS}, {QUALITY} AS quality"
        " FROM recent r JOIN profiles p ON p.platform = r.platform"
        f" AND p.person_id = r.person_id WHERE {IN_GROUPS} AND {CONTAINS})"
        " SELECT * FROM (" + " UNION ALL ".join(arms) + ") LIMIT ?4"
    )


RANKED = _ranked_sql()


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 query for any of the terms, each as a quoted string (a substring for the
    trigram tokenizer)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


class TalentStore(Store):
    _has_trigram: bool | None = None

    async def talent_index(self) -> bool:
        """Whether the trigram index exists (SQLite 3.34 or newer at migration time)."""
        if self._has_trigram is None:
            row = await self._one(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'profile_search'"
            )
            self._has_trigram = row is not None
        return self._has_trigram

    # --- profiles ---------------------------------------------------------------------

    @staticmethod
    def _profile(r: aiosqlite.Row) -> Profile:
        centre = (r["centre_lat"], r["centre_lon"]) if r["centre_lat"] is not None else None
        return Profile(
            group_id=r["group_id"],
            person=Person(PersonRef(r["platform"], r["person_id"]), r["name"], r["language"]),
            skills=tuple(s for s in r["skills"].split("\n") if s),
            about=r["about"],
            area=r["area"],
            centre=centre,
            muted=bool(r["muted"]),
        )

    async def profile(self, group_id: int, person: PersonRef) -> Profile | None:
        row = await self._one(
            "SELECT * FROM profiles WHERE group_id = ? AND platform = ? AND person_id = ?",
            (group_id, person.platform, person.id),
        )
        return self._profile(row) if row else None

    async def profiles_of(self, person: PersonRef) -> Sequence[Profile]:
        rows = await self._all(
            "SELECT * FROM profiles WHERE platform = ? AND person_id = ? ORDER BY group_id",
            (person.platform, person.id),
        )
        return [self._profile(r) for r in rows]

    async def save_profile(self, profile: Profile, search: str, at: datetime) -> None:
        """Store or replace a person's profile in a group; muting stays as it was."""
        p = profile
        await self._write(
            "INSERT INTO profiles (group_id, platform, person_id, name, language, skills,"
            " search, about, area, centre_lat, centre_lon, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (group_id, platform, person_id) DO UPDATE SET name = excluded.name,"
            " language = COALESCE(excluded.language, profiles.language),"
            " skills = excluded.skills, search = excluded.search, about = excluded.about,"
            " area = excluded.area, centre_lat = excluded.centre_lat,"
            " centre_lon = excluded.centre_lon, updated_at = excluded.updated_at",
            (
                p.group_id,
                p.person.ref.platform,
                p.person.ref.id,
                p.person.name,
                p.person.language,
                "\n".join(p.skills),
                search,
                p.about,
                p.area,
                p.centre[0] if p.centre else None,
                p.centre[1] if p.centre else None,
                to_iso(at),
            ),
        )
        row = await self._one(
            "SELECT id FROM profiles WHERE group_id = ? AND platform = ? AND person_id = ?",
            (p.group_id, p.person.ref.platform, p.person.ref.id),
        )
        assert row is not None
        await self._write("DELETE FROM profile_terms WHERE profile_id = ?", (row["id"],))
        await self.db.executemany(
            "INSERT INTO profile_terms (profile_id, group_id, kind, term) VALUES (?, ?, ?, ?)",
            [(row["id"], p.group_id, kind, term) for kind, term in skill_terms(p.skills)],
        )

    async def delete_profile(self, group_id: int | None, person: PersonRef) -> int:
        """Delete the person's profile in a group (None: in every group); how many went."""
        sql = "DELETE FROM profiles WHERE platform = ? AND person_id = ?"
        params: list[Any] = [person.platform, person.id]
        if group_id is not None:
            sql += " AND group_id = ?"
            params.append(group_id)
        cursor = await self._write(sql, params)
        return cursor.rowcount

    async def set_profile_muted(self, group_id: int | None, person: PersonRef, muted: bool) -> int:
        sql = "UPDATE profiles SET muted = ? WHERE platform = ? AND person_id = ?"
        params: list[Any] = [int(muted), person.platform, person.id]
        if group_id is not None:
            sql += " AND group_id = ?"
            params.append(group_id)
        cursor = await self._write(sql, params)
        return cursor.rowcount

    async def member_groups(self, person: PersonRef) -> Sequence[int]:
        """The groups where the person has a profile, or opened or joined a session."""
        who = (person.platform, person.id)
        rows = await self._all(
            "SELECT group_id FROM profiles WHERE platform = ?1 AND person_id = ?2"
            " UNION SELECT group_id FROM sessions WHERE opener_platform = ?1 AND opener_id = ?2"
            " UNION SELECT s.group_id FROM session_joiners j JOIN sessions s"
            " ON s.id = j.session_id WHERE j.platform = ?1 AND j.person_id = ?2",
            who,
        )
        return sorted(int(r[0]) for r in rows)

    async def find_profiles(
        self,
        group_ids: Sequence[int],
        query: str,
        synonyms: Sequence[str] = (),
        *,
        active_since: date,
        limit: int,
    ) -> Sequence[Found]:
        """Profiles of these groups with a skill containing the (folded) query or one of
        its synonyms: best match first, then who opened or joined a session of the
        groups since that day, then in the order the profiles were made.

        With the index this is one statement, one trip to the database thread: each
        level of match is an index lookup, the levels joined by UNION ALL in their
        order, and SQLite stops reading at the limit, so the time does not grow with
        how many profiles match (see `_ranked_sql`)."""
        groups = "[" + ",".join(str(int(g)) for g in group_ids) + "]"
        every = [query, *(t for t in synonyms if len(t) >= 3 and t != query)]
        if not await self.talent_index():  # no trigram tokenizer: a scan
            contains = " OR ".join(f"instr(p.search, ?{4 + i})" for i in range(len(every)))
            rows = await self._all(
                f"{RECENT} SELECT {_COLUMNS}, {QUALITY} AS quality, {ACTIVE} AS active"
                f" FROM profiles p WHERE {IN_GROUPS} AND ({contains})"
                f" ORDER BY quality DESC, active DESC, p.id LIMIT ?{4 + len(every)}",
                (query, groups, active_since.isoformat(), *every, limit),
            )
        else:
            synonyms = every[1:]
            rows = await self._all(
                RANKED,
                (
                    query,
                    groups,
                    active_since.isoformat(),
                    limit,
                    query + _LAST,
                    fts_query([query]) if len(query) >= MIN_QUERY else None,
                    json.dumps(synonyms),
                    fts_query(synonyms) if synonyms else None,
                ),
            )
        return [Found(self._profile(r), r[-2], bool(r[-1]), profile_id=r["id"]) for r in rows]

    # --- projects ---------------------------------------------------------------------

    async def _project(self, r: aiosqlite.Row) -> Project:
        members = await self._all(
            "SELECT platform, person_id, name, role FROM project_members WHERE project_id = ?"
            " ORDER BY at, rowid",
            (r["id"],),
        )
        people = {
            role: tuple(
                Person(PersonRef(m["platform"], m["person_id"]), m["name"])
                for m in members
                if m["role"] == role
            )
            for role in ("offer", "team")
        }
        return Project(
            id=r["id"],
            group_id=r["group_id"],
            number=r["number"],
            name=r["name"],
            skills=tuple(s for s in r["skills"].split("\n") if s),
            text=r["text"],
            lead=Person(
                PersonRef(r["lead_platform"], r["lead_id"]), r["lead_name"], r["lead_language"]
            ),
            created_at=from_iso(r["created_at"]),
            state=ProjectState(r["state"]),
            ended_at=from_iso(r["ended_at"]) if r["ended_at"] else None,
            offers=people["offer"],
            team=people["team"],
        )

    async def add_project(
        self,
        group_id: int,
        name: str,
        skills: Sequence[str],
        text: str,
        lead: Person,
        at: datetime,
    ) -> Project:
        """Store a project with the group's next project number (never one given before)."""
        await self._write(
            "UPDATE city_groups SET project_seq = project_seq + 1 WHERE id = ?", (group_id,)
        )
        cursor = await self._write(
            "INSERT INTO projects (group_id, number, name, skills, text, lead_platform,"
            " lead_id, lead_name, lead_language, created_at) VALUES (?,"
            " (SELECT project_seq FROM city_groups WHERE id = ?), ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                group_id,
                group_id,
                name,
                "\n".join(skills),
                text,
                lead.ref.platform,
                lead.ref.id,
                lead.name,
                lead.language,
                to_iso(at),
            ),
        )
        assert cursor.lastrowid is not None
        project = await self.project(cursor.lastrowid)
        assert project is not None
        return project

    async def project(self, project_id: int) -> Project | None:
        row = await self._one("SELECT * FROM projects WHERE id = ?", (project_id,))
        return await self._project(row) if row else None

    async def project_numbered(self, group_id: int, number: int) -> Project | None:
        row = await self._one(
            "SELECT * FROM projects WHERE group_id = ? AND number = ?", (group_id, number)
        )
        return await self._project(row) if row else None

    async def open_projects(self, group_id: int) -> Sequence[Project]:
        rows = await self._all(
            "SELECT * FROM projects WHERE group_id = ? AND state = 'open' ORDER BY number",
            (group_id,),
        )
        return [await self._project(r) for r in rows]

    async def projects_led_by(self, person: PersonRef) -> Sequence[Project]:
        """Open projects the person leads, in any group."""
        rows = await self._all(
            "SELECT * FROM projects WHERE lead_platform = ? AND lead_id = ? AND state = 'open'"
            " ORDER BY id",
            (person.platform, person.id),
        )
        return [await self._project(r) for r in rows]

    async def add_project_member(
        self, project_id: int, person: Person, role: str, at: datetime
    ) -> None:
        """role: 'offer' (offered help) or 'team' (the lead took them)."""
        await self._write(
            "INSERT INTO project_members (project_id, platform, person_id, name, role, at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, platform, person_id)"
            " DO UPDATE SET role = excluded.role, name = excluded.name",
            (project_id, person.ref.platform, person.ref.id, person.name, role, to_iso(at)),
        )

    async def end_project(self, project_id: int, state: ProjectState, at: datetime) -> bool:
        """False when the project had ended already."""
        cursor = await self._write(
            "UPDATE projects SET state = ?, ended_at = ? WHERE id = ? AND state = 'open'",
            (state.value, to_iso(at), project_id),
        )
        return cursor.rowcount == 1
