"""Every way a session can end early, and the weekly series.

Nothing changes silently: whatever the cause (the opener or an admin, a series that
ends, a venue that is removed, an opener who asks to be forgotten), the people who
joined are told by a direct message that goes through the outbox, and their pending
reminders are taken back, in the same transaction as the change itself.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chatbot.core.clock import wall_clock_range
from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import Person, PersonRef
from chatbot.core.handlers.joining import find_session
from chatbot.core.handlers.sessions import todays_sessions
from chatbot.core.model import POLL, CityGroup, Session, SessionState, StandingSession, Venue
from chatbot.core.parsing import BadInput, match_venue, take_weekly
from chatbot.core.render import time_range
from chatbot.core.text import excerpt, fold, parse_number
from chatbot.i18n import Translator

SERIES_WORDS = {"serie", "series", "reihe"}


async def cancel_with_notice(
    ctx: Context, group: CityGroup, session: Session, reason: str, *, tell: Person | None = None
) -> None:
    """Cancel a session inside the caller's transaction: its pings and reminders are
    taken back and each joiner (and `tell`, e.g. the opener when an admin cancels) gets
    a direct message saying why."""
    await ctx.repo.sessions.set_session_state(session.id, SessionState.CANCELLED)
    await ctx.repo.outbox.drop_messages(session.id, ("ping", "reminder"))
    t = Translator(group.settings.language)
    when = t.time_range(session.start, session.end)
    if session.local_date != ctx.today():  # a session planned for another day names it
        when = t.date(session.local_date) + ", " + when
    text = t.gettext("Cancelled in {city}: {place}, {time}.").format(
        city=group.name, place=session.place, time=when
    )
    text += "\n" + reason
    told = [j.ref for j in session.joiners]
    if tell is not None and tell.ref not in told and tell.ref != POLL.ref:
        told.append(tell.ref)
    for person in told:
        await ctx.repo.outbox.enqueue(
            "cancelled",
            person,
            text,
            due_at=ctx.now(),
            session_id=session.id,
            expires_at=session.ends_at,
        )


def _told_line(ctx: Context, session: Session) -> str:
    if not session.joiners:
        return ""
    return "\n" + ctx._("Told: {names}.").format(names=", ".join(j.name for j in session.joiners))


async def require_opener_or_admin(ctx: Context, opener: Person) -> None:
    me = ctx.origin.sender
    if opener.ref != me.ref and not await ctx.is_admin(ctx.origin.chat, me):
        raise UserError(ctx._("Only the person who opened it or an admin can cancel it."))


async def cancel_session(ctx: Context, args: str) -> None:
    if ctx.group is None and ctx.origin.is_private:
        await _cancel_from_private_chat(ctx, args)
        return
    group = ctx.require_group()
    me = ctx.origin.sender
    words = args.split()
    if words and fold(words[0]) in SERIES_WORDS:
        await end_series(ctx, group, " ".join(words[1:]))
        return
    try:
        rest, weekdays = take_weekly(args)
    except BadInput:
        rest, weekdays = args, ()
    if len(weekdays) == 1:
        await _end_series_by_day(ctx, group, weekdays[0], rest)
        return
    if weekdays:
        raise UserError(
            ctx._("Which series? Give its number from {series}.").format(series=ctx.cmd("series")),
            example=_end_example(ctx),
        )
    sessions = await todays_sessions(ctx, group)
    mine = [s for s in sessions if s.opener.ref == me.ref]
    session = await find_session(
        ctx, args, "cancel", mine if mine else sessions, ctx._("There are no sessions today.")
    )
    if session.group_id != group.id:
        raise UserError(ctx._("That session belongs to another city group."))
    await require_opener_or_admin(ctx, session.opener)
    reason = ctx._("{name} cancelled it.").format(name=me.name)
    async with ctx.repo.atomic():
        tell = session.opener if session.opener.ref != me.ref and not session.from_poll else None
        await cancel_with_notice(ctx, group, session, reason, tell=tell)
    for chat_ctx in await ctx.each_chat_of(group):  # every chat of the city hears of it
        text = _cancelled(chat_ctx, session, me)
        if session.standing_id is not None:
            text += "\n" + chat_ctx._("Only this day: the series goes on next week.")
        chat_ctx.post(text + _told_line(chat_ctx, session))
        ctx.actions.extend(chat_ctx.actions)


async def _cancel_from_private_chat(ctx: Context, args: str) -> None:
    """In the private chat with the bot, an opener cancels a session of theirs (by the
    `sN` the bot showed them, or the only one); the group hears of it."""
    me = ctx.origin.sender
    mine = [
        s
        for s in await ctx.repo.sessions.live_sessions_of(me.ref, ctx.now())
        if s.opener.ref == me.ref
    ]
    session = await find_session(ctx, args, "cancel", mine, ctx._("You have opened no session."))
    group = await ctx.repo.cities.group(session.group_id)
    if session.opener.ref != me.ref or group is None:
        raise UserError(ctx._("Only the person who opened it or an admin can cancel it."))
    async with ctx.repo.atomic():
        await cancel_with_notice(
            ctx, group, session, ctx._("{name} cancelled it.").format(name=me.name)
        )
    for chat_ctx in await ctx.each_chat_of(group):
        chat_ctx.post(_cancelled(chat_ctx, session, me) + _told_line(chat_ctx, session))
        ctx.actions.extend(chat_ctx.actions)
    ctx.reply(_cancelled(ctx, session, me))


def _cancelled(ctx: Context, session: Session, by: Person) -> str:
    return ctx._("Session {number} is cancelled: {place}, {time} (by {name}).").format(
        number=session.number, place=session.place, time=time_range(ctx, session), name=by.name
    )


# --- series ------------------------------------------------------------------------


def series_line(ctx: Context, standing: StandingSession) -> str:
    return ctx._("{number}. every {weekday}, {time}, {place}, opened by {name}").format(
        number=standing.number,
        weekday=ctx.t.weekday(standing.weekday),
        time=ctx.t.time_range(standing.start, standing.end),
        place=standing.place,
        name=standing.opener.name or "–",
    )


async def list_series(ctx: Context, args: str) -> None:
    """/series: the city's weekly series with their numbers."""
    group = ctx.require_group()
    series = await ctx.repo.sessions.standing_sessions(group.id)
    if not series:
        ctx.reply(
            ctx._("{city} has no weekly series yet. Start one:").format(city=group.name)
            + "\n"
            + ctx.cmd("open")
            + " "
            + ctx._("every tue 9-13 {venue}").format(venue=ctx._("Café Museum"))
        )
        return
    lines = [ctx._("Weekly series of {city}:").format(city=group.name)]
    lines += [series_line(ctx, s) for s in series]
    lines += ["", ctx._("{command} ends one.").format(command=_end_example(ctx, series[0]))]
    ctx.reply("\n".join(lines))


def _end_example(ctx: Context, standing: StandingSession | None = None) -> str:
    number = standing.number if standing else 1
    return ctx.cmd("cancel") + " " + ctx._("series {number}").format(number=number)


async def end_series(ctx: Context, group: CityGroup, arg: str) -> None:
    """`/cancel series N`."""
    series = await ctx.repo.sessions.standing_sessions(group.id)
    number = parse_number(arg)
    if number is None:
        raise UserError(
            ctx._("Which series? Give its number from {series}.").format(series=ctx.cmd("series")),
            example=_end_example(ctx, series[0] if series else None),
        )
    found = [s for s in series if s.number == number]
    if not found:
        raise UserError(
            ctx._("There is no series number {number}. {series} lists them.").format(
                number=number, series=ctx.cmd("series")
            ),
            example=_end_example(ctx, series[0] if series else None),
        )
    await _end(ctx, group, found[0])


async def _end_series_by_day(ctx: Context, group: CityGroup, weekday: int, place: str) -> None:
    """`/cancel every tue [venue]`: the one series on that day (at that venue)."""
    series = list(await ctx.repo.sessions.standing_sessions(group.id, weekday))
    if place.strip():
        match = match_venue(place, await ctx.repo.venues.of_group(group.id))
        series = [s for s in series if match.venue and s.venue_id == match.venue.id]
    if len(series) != 1:
        text = ctx._("There is no single series on {weekday}{venue}.").format(
            weekday=ctx.t.weekday(weekday),
            venue=f" ({excerpt(place)})" if place.strip() else "",
        )
        if series:
            text += "\n" + "\n".join(series_line(ctx, s) for s in series)
        raise UserError(text, example=_end_example(ctx, series[0] if series else None))
    await _end(ctx, group, series[0])


async def _end(ctx: Context, group: CityGroup, standing: StandingSession) -> None:
    await require_opener_or_admin(ctx, standing.opener)
    me = ctx.origin.sender
    reason = ctx._("{name} ended the weekly series.").format(name=me.name)
    cancelled: list[Session] = []
    async with ctx.repo.atomic():
        await ctx.repo.sessions.end_standing(standing.id)
        for session in await ctx.repo.sessions.open_sessions_from(group.id, ctx.today()):
            if session.standing_id == standing.id and session.ends_at > ctx.now():
                await cancel_with_notice(ctx, group, session, reason)
                cancelled.append(session)
    for chat_ctx in await ctx.each_chat_of(group):  # every chat of the city hears of it
        text = chat_ctx._("Series {number} has ended: every {weekday}, {place}.").format(
            number=standing.number,
            weekday=chat_ctx.t.weekday(standing.weekday),
            place=standing.place,
        )
        for session in cancelled:
            text += "\n" + chat_ctx._("Session {number} on {date} is cancelled too.").format(
                number=session.number, date=chat_ctx.t.date(session.local_date)
            )
            text += _told_line(chat_ctx, session)
        chat_ctx.post(text)
        ctx.actions.extend(chat_ctx.actions)


# --- other causes --------------------------------------------------------------------


async def venue_removed(ctx: Context, group: CityGroup, venue: Venue) -> list[str]:
    """Inside the removal's transaction: the venue's series end, its sessions that have
    not started are cancelled (joiners told), and it leaves every open poll. Sessions
    already running go on. Returns lines for the admin's answer."""
    lines: list[str] = []
    reason = ctx._("The venue {place} was removed from the list.").format(place=venue.name)
    for standing in await ctx.repo.sessions.standing_sessions(group.id):
        if standing.venue_id == venue.id:
            await ctx.repo.sessions.end_standing(standing.id)
            lines.append(
                ctx._("Series {number} (every {weekday}) has ended.").format(
                    number=standing.number, weekday=ctx.t.weekday(standing.weekday)
                )
            )
    for session in await ctx.repo.sessions.open_sessions_from(group.id, ctx.today()):
        if session.venue_id == venue.id and session.starts_at > ctx.now():
            await cancel_with_notice(ctx, group, session, reason, tell=session.opener)
            lines.append(
                ctx._("Session {number} ({time}) is cancelled.").format(
                    number=session.number, time=time_range(ctx, session)
                )
                + _told_line(ctx, session)
            )
    votes = await ctx.repo.polls.drop_venue_from_open_polls(venue.id)
    if votes:
        lines.append(
            ctx.ngettext(
                "It left today's poll; {count} vote for it no longer counts.",
                "It left today's poll; {count} votes for it no longer count.",
                votes,
            ).format(count=votes)
        )
    return lines


async def before_forgetting(ctx: Context, person: PersonRef) -> None:
    """Inside `/forget`'s transaction, before the person's rows go: a session they
    opened that others joined is handed to the first joiner (who is told, as is the
    group); one nobody joined is cancelled; their series end. The group hears of each,
    without the forgotten person's name."""
    handed: list[tuple[Session, Person]] = []
    cancelled: list[Session] = []
    for session in await ctx.repo.sessions.live_sessions_of(person, ctx.now()):
        if session.opener.ref != person:
            continue
        group = await ctx.repo.cities.group(session.group_id)
        if group is None:
            continue
        here = session.venue_id is None and not session.from_poll
        if here:  # named after the person: say it without the name
            place = Translator(group.settings.language).gettext("a shared location")
            session = replace(session, place=place)
        if session.joiners and not here:  # a "here" session meets at their position
            heir = session.joiners[0]
            await ctx.repo.sessions.set_session_opener(session.id, heir)
            t = Translator(group.settings.language)
            await ctx.repo.outbox.enqueue(
                "handover",
                heir.ref,
                t.gettext(
                    "You now lead session {number} in {city}: {place}, {time}. The person"
                    " who opened it has left."
                ).format(
                    number=session.number,
                    city=group.name,
                    place=session.place,
                    time=t.time_range(session.start, session.end),
                ),
                due_at=ctx.now(),
                session_id=session.id,
                expires_at=session.ends_at,
            )
            handed.append((session, heir))
        else:
            reason = Translator(group.settings.language).gettext(
                "The person who opened it has left."
            )
            await cancel_with_notice(ctx, group, session, reason)
            cancelled.append(session)
    ended: list[StandingSession] = []
    for group in await ctx.repo.cities.groups():
        for standing in await ctx.repo.sessions.standing_sessions(group.id):
            if standing.opener.ref == person:
                await ctx.repo.sessions.end_standing(standing.id)
                ended.append(standing)
    groups = {s.group_id for s, _ in handed} | {s.group_id for s in cancelled}
    groups |= {s.group_id for s in ended}
    for group_id in sorted(groups):
        group = await ctx.repo.cities.group(group_id)
        if group is None:
            continue
        for chat_ctx in await ctx.each_chat_of(group):
            lines = [chat_ctx._("Someone who opened sessions here asked me to forget them:")]
            for session, heir in handed:
                if session.group_id == group_id:
                    lines.append(
                        chat_ctx._("{name} now leads session {number} ({place}, {time}).").format(
                            name=heir.name,
                            number=session.number,
                            place=session.place,
                            time=time_range(chat_ctx, session),
                        )
                    )
            for session in cancelled:
                if session.group_id == group_id:
                    lines.append(
                        chat_ctx._("Session {number} ({place}, {time}) is cancelled.").format(
                            number=session.number,
                            place=session.place,
                            time=time_range(chat_ctx, session),
                        )
                    )
            for standing in ended:
                if standing.group_id == group_id:
                    lines.append(
                        chat_ctx._("Series {number} (every {weekday}, {place}) has ended.").format(
                            number=standing.number,
                            weekday=chat_ctx.t.weekday(standing.weekday),
                            place=standing.place,
                        )
                    )
            chat_ctx.post("\n".join(lines))
            ctx.actions.extend(chat_ctx.actions)


async def keep_wall_clock(ctx: Context, group: CityGroup) -> int:
    """After a change of the group's timezone (inside that transaction): today's and
    later sessions keep the wall-clock times people agreed on, in the new zone, and
    their reminders move with them. Returns how many sessions moved."""
    moved = 0
    yesterday = ctx.today() - timedelta(days=1)
    zone_ctx = replace(ctx, group=group, actions=[])
    for session in await ctx.repo.sessions.open_sessions_from(group.id, yesterday):
        starts_at, ends_at = wall_clock_range(
            session.local_date, session.start, session.end, zone_ctx.zone
        )
        if (starts_at, ends_at) == (session.starts_at, session.ends_at):
            continue
        await ctx.repo.sessions.set_session_times(session.id, starts_at, ends_at)
        minutes = group.settings.reminder_minutes
        await ctx.repo.outbox.move_messages(
            session.id,
            "reminder",
            due_at=starts_at - timedelta(minutes=minutes),
            expires_at=starts_at,
        )
        moved += 1
    return moved
