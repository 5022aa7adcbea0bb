"""Profiles (what people can do) and projects, with the talent search.

Skills are stored as typed (one per line) and in a folded search form; an FTS5 index
with the trigram tokenizer over the search form (kept in step by triggers, see
migration 9) finds word parts: `video` finds "videoschnitt". A query shorter than three
characters, or a database whose SQLite has no trigram tokenizer, is answered by a
`LIKE` scan of the group's profiles instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import aiosqlite

from chatbot.core.events import Person, PersonRef
from chatbot.core.talent import Found, Profile, Project, ProjectState
from chatbot.storage.base import SqliteBase, from_iso, to_iso

# how well a skill matches the query (?1, folded): a skill is the query, a skill starts
# with it, a word of a skill does, a skill contains it; 0: only a synonym matched
_WORDS = "replace(replace(replace(p.search, char(10), ' '), '-', ' '), '/', ' ')"
QUALITY = (
    "CASE WHEN instr(char(10) || p.search || char(10), char(10) || ?1 || char(10)) THEN 4"
    " WHEN instr(char(10) || p.search, char(10) || ?1) THEN 3"
    f" WHEN instr(' ' || {_WORDS}, ' ' || ?1) THEN 2"
    " WHEN instr(p.search, ?1) THEN 1 ELSE 0 END"
)
# who opened or joined a session of the groups (?2, a JSON array) since a day (?3)
RECENT = (
    "WITH recent(who) AS ("
    " SELECT s.opener_platform || char(31) || s.opener_id FROM sessions s"
    " WHERE s.group_id IN (SELECT value FROM json_each(?2)) AND s.local_date >= ?3"
    " AND s.state != 'cancelled'"
    " UNION SELECT j.platform || char(31) || j.person_id FROM session_joiners j"
    " JOIN sessions s ON s.id = j.session_id"
    " WHERE s.group_id IN (SELECT value FROM json_each(?2)) AND s.local_date >= ?3"
    " AND s.state != 'cancelled')"
)
ACTIVE = "(p.platform || char(31) || p.person_id) IN recent"


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 query for any of the terms, each as a quoted string (a substring for the
    trigram tokenizer)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


class TalentStore(SqliteBase):
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
        await self.db.execute(
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

    async def delete_profile(self, group_id: int | None, person: PersonRef) -> int:
        """Delete the person's profile in a group (None: in every group); how many went."""
        sql = "DELETE FROM profiles WHERE platform = ? AND person_id = ?"
        params: list[Any] = [person.platform, person.id]
        if group_id is not None:
            sql += " AND group_id = ?"
            params.append(group_id)
        cursor = await self.db.execute(sql, params)
        return cursor.rowcount

    async def set_profile_muted(self, group_id: int | None, person: PersonRef, muted: bool) -> int:
        sql = "UPDATE profiles SET muted = ? WHERE platform = ? AND person_id = ?"
        params: list[Any] = [int(muted), person.platform, person.id]
        if group_id is not None:
            sql += " AND group_id = ?"
            params.append(group_id)
        cursor = await self.db.execute(sql, params)
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
        its synonyms; best match first, then who was active since that day, then by
        name."""
        groups = "[" + ",".join(str(int(g)) for g in group_ids) + "]"
        terms = [t for t in (query, *synonyms) if len(t) >= 3]
        select = f"{RECENT} SELECT p.*, {QUALITY} AS quality, {ACTIVE} AS active FROM profiles p"
        order = " ORDER BY quality DESC, active DESC, p.name COLLATE NOCASE, p.id LIMIT ?5"
        params: tuple[Any, ...]
        if len(query) >= 3 and await self.talent_index():
            sql = (
                select + " JOIN profile_search f ON f.rowid = p.id WHERE profile_search MATCH ?4"
                " AND p.group_id IN (SELECT value FROM json_each(?2))" + order
            )
            params = (query, groups, active_since.isoformat(), fts_query(terms), limit)
        else:  # a short query, or no trigram index: a scan of the groups' profiles
            every = [query, *terms] if len(query) < 3 else terms
            likes = " OR ".join(f"instr(p.search, ?{6 + i})" for i in range(len(every)))
            sql = (
                select + " WHERE p.group_id IN (SELECT value FROM json_each(?2))"
                f" AND ({likes})" + order
            )
            params = (query, groups, active_since.isoformat(), None, limit, *every)
        rows = await self._all(sql, params)
        return [Found(self._profile(r), int(r["quality"]), bool(r["active"])) for r in rows]

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
        await self.db.execute(
            "UPDATE city_groups SET project_seq = project_seq + 1 WHERE id = ?", (group_id,)
        )
        cursor = await self.db.execute(
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
        await self.db.execute(
            "INSERT INTO project_members (project_id, platform, person_id, name, role, at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, platform, person_id)"
            " DO UPDATE SET role = excluded.role, name = excluded.name",
            (project_id, person.ref.platform, person.ref.id, person.name, role, to_iso(at)),
        )

    async def end_project(self, project_id: int, state: ProjectState, at: datetime) -> bool:
        """False when the project had ended already."""
        cursor = await self.db.execute(
            "UPDATE projects SET state = ?, ended_at = ? WHERE id = ? AND state = 'open'",
            (state.value, to_iso(at), project_id),
        )
        return cursor.rowcount == 1
