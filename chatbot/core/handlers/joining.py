"""Joining and leaving a session, and finding the session a person means.

Every reference the bot prints for a session is accepted here: its number (in the
group; it names that session until the session's day is over) and `sN`, the id its
buttons carry (in any chat, the private chat with the bot too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chatbot.core.actions import SendVenue
from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import Person
from chatbot.core.handlers import pings
from chatbot.core.handlers.sessions import open_example, standing_of_the_day, todays_sessions
from chatbot.core.model import Session, SessionState
from chatbot.core.render import time_range
from chatbot.core.text import excerpt, parse_number
from chatbot.i18n import Translator

_BY_ID = re.compile(r"[sS]([0-9]{1,12})")


def _example(ctx: Context, key: str, session: Session | None = None) -> str:
    return f"{ctx.cmd(key)} {session.number if session else 1}"


async def _visible(ctx: Context, session: Session) -> bool:
    """May this person act on the session from here? In its own group; from anywhere
    when the group is publicly listed, or when they take part in the session or get
    the group's pings (a ping's button works for every subscriber)."""
    if ctx.group is not None and ctx.group.id == session.group_id:
        return True
    me = ctx.origin.sender
    if session.is_participant(me):
        return True
    group = await ctx.repo.cities.group(session.group_id)
    if group is None:
        return False
    if group.settings.public:
        return True
    return any(s.group_id == group.id for s in await ctx.repo.people.subscriptions_of(me.ref))


def _gone(ctx: Context, session: Session) -> UserError:
    if session.state == SessionState.CANCELLED:
        return UserError(
            ctx._("Session {number} ({place}, {time}) was cancelled.").format(
                number=session.number, place=session.place, time=time_range(ctx, session)
            )
        )
    return UserError(
        ctx._("Session {number} ({place}, {time}) is over.").format(
            number=session.number, place=session.place, time=time_range(ctx, session)
        )
    )


async def find_session(
    ctx: Context, arg: str, key: str, candidates: Sequence[Session], what: str
) -> Session:
    """The session `arg` names (a number or an `sN` id), or the only candidate when
    there is no argument. `what` says what the candidates are, for the question."""
    arg = arg.strip()
    if not arg:
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise UserError(what, example=open_example(ctx) if key == "join" else None)
        raise UserError(
            ctx.ngettext(
                "{count} session fits. Which one?",
                "{count} sessions fit. Which one?",
                len(candidates),
            ).format(count=len(candidates)),
            example=_example(ctx, key, candidates[0]),
        )
    by_id = _BY_ID.fullmatch(arg)
    if by_id:
        session = await ctx.repo.sessions.session(int(by_id.group(1)))
        if session is None or not await _visible(ctx, session):
            raise UserError(
                ctx._("I don't know a session “{value}”.").format(value=excerpt(arg)),
                example=_example(ctx, key),
            )
    else:
        number = parse_number(arg)
        if number is None:
            raise UserError(
                ctx._("“{value}” is not a session number. {today} shows the numbers.").format(
                    value=excerpt(arg), today=ctx.cmd("today")
                ),
                example=_example(ctx, key),
            )
        if ctx.group is None and not ctx.origin.is_private:
            ctx.require_group()  # a group that is no city yet says so
        if ctx.group is None:
            raise UserError(
                ctx._(
                    "Here in our private chat, use the buttons, or write the session as I"
                    " showed it to you:"
                ),
                example=f"{ctx.cmd(key)} s1",
            )
        await standing_of_the_day(ctx, ctx.group)  # today's series get their numbers first
        found = await ctx.repo.sessions.sessions_numbered(ctx.group.id, number, ctx.today())
        if not found:
            raise UserError(
                ctx._("There is no session number {number}. {today} lists them.").format(
                    number=number, today=ctx.cmd("today")
                ),
                example=_example(ctx, key),
            )
        session = found[-1]
    if session.state != SessionState.OPEN or session.ends_at <= ctx.now():
        raise _gone(ctx, session)
    return session


async def join_session(ctx: Context, args: str) -> None:
    me = ctx.origin.sender
    candidates: list[Session] = []
    if not args.strip():
        group = ctx.require_group()
        candidates = await todays_sessions(ctx, group)
    session = await find_session(
        ctx, args, "join", candidates, ctx._("There are no sessions today.")
    )
    if session.opener.ref == me.ref:
        ctx.reply(ctx._("You opened this session, so you are in already."))
        return
    if session.has_joined(me):
        ctx.reply(
            ctx._("You are in already: {place}, {time}.").format(
                place=session.place, time=time_range(ctx, session)
            )
        )
        return
    async with ctx.repo.atomic():
        await ctx.repo.people.remember_person(me, ctx.now())
        await ctx.repo.sessions.add_joiner(session.id, me, ctx.now())
        joined = await ctx.repo.sessions.session(session.id)
        assert joined is not None
        waiting = joined.is_waiting(me)
        session_group = await ctx.repo.cities.group(session.group_id)
        if session_group is not None and not waiting:
            await pings.queue_reminder(ctx, session_group, joined, me)
    if waiting:
        ctx.reply(
            ctx._(
                "{place}, {time} is full ({seats} seats): {name} is number {position} on the"
                " waiting list. I'll tell you when a seat is free."
            ).format(
                place=session.place,
                time=_when(ctx, session),
                seats=session.seats,
                name=me.name,
                position=len(joined.waiting),
            )
        )
        return
    ctx.reply(
        ctx._("{name} joins {place}, {time}.").format(
            name=me.name, place=session.place, time=_when(ctx, session)
        )
    )
    await _tell_the_group(ctx, session, me)


async def _tell_the_group(ctx: Context, session: Session, me: Person) -> None:
    """A join is news for the group's other chats: all of them for a join from
    elsewhere (a visitor's private chat), the others of a city in several chats (on
    other platforms, `/link`) for a join in one of them."""
    group = await ctx.repo.cities.group(session.group_id)
    if group is None:
        return
    private = ctx.group is None or ctx.group.id != session.group_id
    for chat_ctx in await ctx.each_chat_of(group):
        if chat_ctx.origin.chat == ctx.origin.chat:
            continue
        if private:
            text = chat_ctx._(
                "{name} joins session {number} ({place}, {time}) from a private chat."
            )
        else:
            text = chat_ctx._("{name} joins session {number} ({place}, {time}).")
        chat_ctx.post(
            text.format(
                name=me.name,
                number=session.number,
                place=session.place,
                time=_when(chat_ctx, session),
            )
        )
        ctx.actions.extend(chat_ctx.actions)


async def show_place(ctx: Context, args: str) -> None:
    """/where N: the session's place as the platform shows places, with its address."""
    candidates: list[Session] = []
    if not args.strip() and ctx.group is not None:
        candidates = await todays_sessions(ctx, ctx.group)
    session = await find_session(
        ctx, args, "where", candidates, ctx._("There are no sessions today.")
    )
    address = ""
    if session.venue_id is not None:
        venue = next(
            (
                v
                for v in await ctx.repo.venues.of_group(session.group_id)
                if v.id == session.venue_id
            ),
            None,
        )
        address = venue.address if venue else ""
    ctx.actions.append(
        SendVenue(
            ctx.origin.chat,
            ctx._("{number}. {place}").format(number=session.number, place=session.place),
            session.latitude,
            session.longitude,
            address,
            thread=ctx.origin.thread,
        )
    )


def _when(ctx: Context, session: Session) -> str:
    """The time range, with the day when it is not today."""
    if session.local_date == ctx.today():
        return time_range(ctx, session)
    return ctx.t.date(session.local_date) + ", " + time_range(ctx, session)


async def seat_freed(ctx: Context, before: Session) -> None:
    """Inside the transaction of a leave (or more seats): those who move up from the
    waiting list get a direct message and their reminder."""
    after = await ctx.repo.sessions.session(before.id)
    group = await ctx.repo.cities.group(before.group_id)
    if after is None or group is None:
        return
    was_waiting = {p.ref for p in before.waiting}
    t = Translator(group.settings.language)
    for person in after.coming:
        if person.ref in was_waiting:
            await ctx.repo.outbox.enqueue(
                "moved_up",
                person.ref,
                t.gettext("A seat is free: you are in for {place}, {day}, {time} ({city}).").format(
                    place=after.place,
                    day=t.date(after.local_date),
                    time=t.time_range(after.start, after.end),
                    city=group.name,
                ),
                due_at=ctx.now(),
                session_id=after.id,
                expires_at=after.ends_at,
            )
            await pings.queue_reminder(ctx, group, after, person)


async def leave_session(ctx: Context, args: str) -> None:
    """Leave a session you joined: in the group by number, anywhere by `sN`, or without
    an argument the only one you joined (in a private chat: in any city)."""
    me = ctx.origin.sender
    if ctx.group is not None:
        mine = [s for s in await todays_sessions(ctx, ctx.group) if s.has_joined(me)]
    elif ctx.origin.is_private:
        mine = [
            s
            for s in await ctx.repo.sessions.live_sessions_of(me.ref, ctx.now())
            if s.has_joined(me)
        ]
    else:
        ctx.require_group()
        return
    if not args.strip() and not mine:
        opened = await ctx.repo.sessions.live_sessions_of(me.ref, ctx.now())
        if any(s.opener.ref == me.ref for s in opened):
            raise UserError(
                ctx._("You opened that session. To call it off, use {cancel}.").format(
                    cancel=ctx.cmd("cancel")
                )
            )
    session = await find_session(
        ctx, args, "leave", mine, ctx._("You have not joined a session today.")
    )
    if session.opener.ref == me.ref:
        raise UserError(
            ctx._("You opened that session. To call it off, use {cancel}.").format(
                cancel=ctx.cmd("cancel")
            )
        )
    if not session.has_joined(me):
        raise UserError(ctx._("You have not joined that session."))
    async with ctx.repo.atomic():
        await ctx.repo.sessions.remove_joiner(session.id, me)
        await ctx.repo.outbox.drop_messages(session.id, ("reminder", "moved_up"), me.ref)
        await seat_freed(ctx, session)
    ctx.reply(
        ctx._("{name} is not coming to {place} after all.").format(
            name=me.name, place=session.place
        )
    )
