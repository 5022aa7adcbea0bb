"""City groups and their chats (one city in several chats: `/link`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

import aiosqlite

from chatbot.core.events import ChatRef
from chatbot.core.model import (
    CityGroup,
    GroupSettings,
    LinkCode,
    LinkedChat,
)
from chatbot.storage.base import Store, from_iso, to_hm, to_iso


class CityStore(Store):
    @staticmethod
    def _group(row: aiosqlite.Row) -> CityGroup:
        hours = None
        if row["default_start"] and row["default_end"]:
            hours = (
                time.fromisoformat(row["default_start"]),
                time.fromisoformat(row["default_end"]),
            )
        settings = GroupSettings(
            language=row["language"],
            timezone=row["timezone"],
            default_hours=hours,
            default_duration_minutes=row["default_duration_minutes"],
            public=bool(row["public"]),
            poll_time=time.fromisoformat(row["poll_time"]) if row["poll_time"] else None,
            poll_close=time.fromisoformat(row["poll_close"]),
            poll_days=tuple(int(d) for d in row["poll_days"].split(",") if d),
            poll_since=from_iso(row["poll_since"]) if row["poll_since"] else None,
            radius_km=row["radius_km"],
            reminder_minutes=row["reminder_minutes"],
            retention_days=row["retention_days"],
            travel_minutes=row["travel_minutes"],
            invite_url=row["invite_url"],
        )
        return CityGroup(id=row["id"], name=row["name"], settings=settings)

    async def group_for_chat(self, chat: ChatRef) -> CityGroup | None:
        row = await self._one(
            "SELECT g.* FROM city_groups g JOIN chats c ON c.group_id = g.id"
            " WHERE c.platform = ? AND c.chat_id = ?",
            (chat.platform, chat.id),
        )
        return self._group(row) if row else None

    async def group(self, group_id: int) -> CityGroup | None:
        row = await self._one("SELECT * FROM city_groups WHERE id = ?", (group_id,))
        return self._group(row) if row else None

    async def create_group(
        self, chat: ChatRef, name: str, settings: GroupSettings, at: datetime
    ) -> CityGroup:
        async with self.atomic():
            # the row with what it cannot be without; update_group below writes the settings
            cursor = await self._write(
                "INSERT INTO city_groups (name, language, timezone, created_at)"
                " VALUES (?, ?, ?, ?)",
                (name, settings.language, settings.timezone, to_iso(at)),
            )
            group_id = cursor.lastrowid
            assert group_id is not None
            await self._write(
                "INSERT INTO chats (platform, chat_id, group_id) VALUES (?, ?, ?)"
                " ON CONFLICT (platform, chat_id) DO UPDATE SET group_id = excluded.group_id,"
                " active = 1",
                (chat.platform, chat.id, group_id),
            )
            group = CityGroup(id=group_id, name=name, settings=settings)
            await self.update_group(group)
        return group

    async def update_group(self, group: CityGroup) -> None:
        s = group.settings
        await self._write(
            "UPDATE city_groups SET name = ?, language = ?, timezone = ?, default_start = ?,"
            " default_end = ?, default_duration_minutes = ?, public = ?, poll_time = ?,"
            " poll_close = ?, poll_days = ?, poll_since = ?, radius_km = ?,"
            " reminder_minutes = ?, retention_days = ?, travel_minutes = ?, invite_url = ?"
            " WHERE id = ?",
            (
                group.name,
                s.language,
                s.timezone,
                to_hm(s.default_hours[0]) if s.default_hours else None,
                to_hm(s.default_hours[1]) if s.default_hours else None,
                s.default_duration_minutes,
                int(s.public),
                to_hm(s.poll_time),
                to_hm(s.poll_close),
                ",".join(str(d) for d in s.poll_days),
                to_iso(s.poll_since) if s.poll_since else None,
                s.radius_km,
                s.reminder_minutes,
                s.retention_days,
                s.travel_minutes,
                s.invite_url,
                group.id,
            ),
        )

    async def chats_of_group(self, group_id: int) -> Sequence[ChatRef]:
        rows = await self._all(
            "SELECT platform, chat_id FROM chats WHERE group_id = ? AND active = 1"
            " ORDER BY platform, chat_id",
            (group_id,),
        )
        return [ChatRef(r["platform"], r["chat_id"]) for r in rows]

    async def set_chat_active(self, chat: ChatRef, active: bool) -> None:
        """The bot was removed from the chat (or blocked), or is back: an inactive chat
        keeps its group but gets no posts (`chats_of_group` leaves it out)."""
        async with self.atomic():
            await self._write(
                "UPDATE chats SET active = ? WHERE platform = ? AND chat_id = ?",
                (int(active), chat.platform, chat.id),
            )

    async def linked_chats(self, group_id: int) -> Sequence[LinkedChat]:
        """The group's active chats with their titles, in the order `chats_of_group`
        gives them."""
        rows = await self._all(
            "SELECT platform, chat_id, title FROM chats WHERE group_id = ? AND active = 1"
            " ORDER BY platform, chat_id",
            (group_id,),
        )
        return [LinkedChat(ChatRef(r["platform"], r["chat_id"]), r["title"]) for r in rows]

    async def add_link_code(
        self, group_id: int, code_hash: str, created_at: datetime, expires_at: datetime
    ) -> bool:
        """Store a new code's hash; False when that hash is stored already (a code
        drawn twice: draw another). Codes that expired a day ago are dropped."""
        await self._write(
            "DELETE FROM link_codes WHERE expires_at < ?",
            (to_iso(created_at - timedelta(days=1)),),
        )
        cursor = await self._write(
            "INSERT OR IGNORE INTO link_codes (code_hash, group_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (code_hash, group_id, to_iso(created_at), to_iso(expires_at)),
        )
        return cursor.rowcount == 1

    async def link_code(self, code_hash: str) -> LinkCode | None:
        row = await self._one("SELECT * FROM link_codes WHERE code_hash = ?", (code_hash,))
        if row is None:
            return None
        return LinkCode(
            group_id=row["group_id"],
            expires_at=from_iso(row["expires_at"]),
            used_at=from_iso(row["used_at"]) if row["used_at"] else None,
        )

    async def use_link_code(self, code_hash: str, at: datetime) -> bool:
        """Mark the code used, once: False when it was used or has expired."""
        cursor = await self._write(
            "UPDATE link_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL"
            " AND expires_at > ?",
            (to_iso(at), code_hash, to_iso(at)),
        )
        return cursor.rowcount == 1

    async def link_chat(self, chat: ChatRef, group_id: int, title: str | None) -> None:
        """The chat becomes (or stays) a chat of the group; a group it leaves that has no
        chat left is deleted with what little it had (`group_has_data` said: nothing
        that people made)."""
        before = await self._one(
            "SELECT group_id FROM chats WHERE platform = ? AND chat_id = ?",
            (chat.platform, chat.id),
        )
        await self._write(
            "INSERT INTO chats (platform, chat_id, group_id, title) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (platform, chat_id) DO UPDATE SET group_id = excluded.group_id,"
            " active = 1, title = COALESCE(excluded.title, chats.title)",
            (chat.platform, chat.id, group_id, title),
        )
        if before is not None and before["group_id"] != group_id:
            await self._write(
                "DELETE FROM city_groups WHERE id = ?"
                " AND NOT EXISTS (SELECT 1 FROM chats WHERE group_id = city_groups.id)",
                (before["group_id"],),
            )

    async def unlink_chat(self, chat: ChatRef) -> None:
        """The chat leaves its group; the group keeps everything else."""
        await self._write(
            "DELETE FROM chats WHERE platform = ? AND chat_id = ?", (chat.platform, chat.id)
        )

    async def group_has_data(self, group_id: int) -> bool:
        """Whether people made anything in the group: sessions, series, polls,
        subscriptions, profiles or projects (venues and settings are an admin's setup)."""
        for table in (
            "sessions",
            "standing_sessions",
            "venue_polls",
            "subscriptions",
            "profiles",
            "projects",
        ):
            row = await self._one(
                f"SELECT 1 FROM {table} WHERE group_id = ? LIMIT 1",  # noqa: S608 - fixed names
                (group_id,),
            )
            if row is not None:
                return True
        return False

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """A chat was replaced (Matrix room upgrade): its city group lives on in `new`.
        If `new` belongs to a group already, that stays and `old` is deactivated."""
        async with self.atomic():
            taken = await self._one(
                "SELECT 1 FROM chats WHERE platform = ? AND chat_id = ?", (new.platform, new.id)
            )
            if taken:
                await self._write(
                    "UPDATE chats SET active = 0 WHERE platform = ? AND chat_id = ?",
                    (old.platform, old.id),
                )
            else:
                await self._write(
                    "UPDATE chats SET platform = ?, chat_id = ? WHERE platform = ? AND chat_id = ?",
                    (new.platform, new.id, old.platform, old.id),
                )

    async def groups(self) -> Sequence[CityGroup]:
        return [self._group(r) for r in await self._all("SELECT * FROM city_groups ORDER BY id")]
