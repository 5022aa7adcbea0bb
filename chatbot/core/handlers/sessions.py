"""Sessions: open, join, leave, cancel, and today's list."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chatbot.core.actions import Button
from chatbot.core.clock import wall_clock_instant
from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import Person
from chatbot.core.handlers import pings
from chatbot.core.handlers.common import bad_input
from chatbot.core.model import (
    CityGroup,
    NewSession,
    Session,
    SessionState,
    StandingSession,
    Venue,
)
from chatbot.core.parsing import BadInput, match_venue, parse_open, round_position, take_weekly
from chatbot.core.ports import Repository
from chatbot.core.render import poll_state_line, session_block, time_range
from chatbot.core.text import fold

MAX_TOPIC = 200
LAST_MINUTE = time(23, 59)


def open_example(ctx: Context, venue_name: str | None = None) -> str:
    return (
        ctx.cmd("open")
        + " "
        + ctx._("10-14 {venue} - tax return").format(venue=venue_name or ctx._("Café Museum"))
    )


async def todays_sessions(ctx: Context, group: CityGroup) -> list[Session]:
    """Today's open sessions that have not ended, in start order: /today's numbering."""
    await standing_of_the_day(ctx, group)
    now = ctx.now()
    sessions = await ctx.repo.sessions_on(group.id, ctx.today())
    return [s for s in sessions if s.ends_at > now]


async def standing_of_the_day(ctx: Context, group: CityGroup) -> None:
    """Materialize today's standing sessions once per group and day (per process)."""
    day = (group.id, ctx.today())
    if day not in ctx.memory.materialized:
        await materialize_standing(ctx.repo, group, ctx.today(), ctx.zone)
        ctx.memory.materialized.add(day)


async def materialize_standing(
    repo: Repository, group: CityGroup, day: date, zone: ZoneInfo
) -> list[Session]:
    """Give each standing session of that weekday its row for the day (once: a day that
    has a row, open or skipped, keeps it). Returns the sessions created now."""
    created = []
    for standing in await repo.standing_sessions(group.id, day.weekday()):
        async with repo.atomic():
            session = await repo.add_session(
                NewSession(
                    group_id=group.id,
                    place=standing.place,
                    venue_id=standing.venue_id,
                    latitude=standing.latitude,
                    longitude=standing.longitude,
                    local_date=day,
                    start=standing.start,
                    end=standing.end,
                    starts_at=wall_clock_instant(day, standing.start, zone),
                    ends_at=wall_clock_instant(day, standing.end, zone),
                    opener=standing.opener,
                    topic=standing.topic,
                    standing_id=standing.id,
                )
            )
        if session is not None:
            created.append(session)
    return created


def default_hours(ctx: Context, group: CityGroup, start_at: datetime) -> tuple[time, time]:
    """A session's hours when nobody gave them: the group's default hours while they
    are still ahead, otherwise from `start_at` (rounded down to 5 minutes) for the
    group's default duration, ending by midnight."""
    settings = group.settings
    if settings.default_hours and ctx.instant(ctx.today(), settings.default_hours[1]) > ctx.now():
        return settings.default_hours
    local = start_at.astimezone(ctx.zone)
    start = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    return start.time(), _plus(start.time(), settings.default_duration_minutes)


def _plus(start: time, minutes: int) -> time:
    end = datetime.combine(datetime.min.date(), start) + timedelta(minutes=minutes)
    return end.time() if end.date() == datetime.min.date() else LAST_MINUTE


def unknown_venue(ctx: Context, query: str, suggestions: Sequence[Venue]) -> UserError:
    if suggestions:
        text = ctx._("I don't know a venue “{query}”. Did you mean: {names}?").format(
            query=query, names=", ".join(v.name for v in suggestions)
        )
        return UserError(text, example=open_example(ctx, suggestions[0].name))
    text = ctx._("I don't know a venue “{query}”. {venues} lists the venues.").format(
        query=query, venues=ctx.cmd("venues")
    )
    return UserError(text, example=open_example(ctx))


async def open_session(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    venues = await ctx.repo.venues(group.id)
    if not venues:
        raise UserError(
            ctx._("This group has no venues yet. An admin adds one first:"),
            example=ctx.cmd("venue") + " " + ctx._("add Café Museum | 51.4344, 6.7623"),
        )
    if not args.strip():
        raise UserError(ctx._("Which venue, and when?"), example=open_example(ctx, venues[0].name))
    try:
        request = parse_open(args)
    except BadInput as error:
        raise bad_input(ctx, error, open_example(ctx, venues[0].name)) from None
    if not request.place:
        raise UserError(ctx._("Which venue?"), example=open_example(ctx, venues[0].name))
    if fold(request.place) in HERE:
        venue = _here(ctx, group)
    else:
        match = match_venue(request.place, venues)
        if match.venue is None:
            raise unknown_venue(ctx, request.place, match.suggestions)
        venue = match.venue
    if len(request.topic) > MAX_TOPIC:
        raise UserError(
            ctx._("The topic is too long: at most {limit} characters.").format(limit=MAX_TOPIC),
            example=open_example(ctx, venue.name),
        )
    if request.start is None:
        start, end = default_hours(ctx, group, ctx.now())
    else:
        start = request.start
        end = request.end or _plus(start, group.settings.default_duration_minutes)
    if request.weekday is not None:
        await _open_standing(ctx, group, venue, request.weekday, start, end, request.topic)
        return
    today = ctx.today()
    starts_at, ends_at = ctx.instant(today, start), ctx.instant(today, end)
    if ends_at <= ctx.now():
        raise UserError(
            ctx._("That time is already over today."), example=open_example(ctx, venue.name)
        )
    async with ctx.repo.atomic():
        await ctx.repo.remember_person(ctx.origin.sender, ctx.now())
        session = await ctx.repo.add_session(
            NewSession(
                group_id=group.id,
                place=venue.name,
                venue_id=venue.id or None,
                latitude=venue.latitude,
                longitude=venue.longitude,
                local_date=today,
                start=start,
                end=end,
                starts_at=starts_at,
                ends_at=ends_at,
                opener=ctx.origin.sender,
                topic=request.topic,
                here=venue.id == 0,
            )
        )
        assert session is not None
        await pings.queue_pings(ctx, group, session)
    await announce_session(ctx, group, session)


HERE = {"hier", "here"}


def _here(ctx: Context, group: CityGroup) -> Venue:
    """The position the person just shared, rounded to about 100 m, as a place."""
    position = ctx.memory.position(ctx.origin.sender.ref, ctx.now())
    if position is None:
        raise UserError(
            ctx._("Please share your location first; then open the session “here”."),
            example=ctx.cmd("open") + " " + ctx._("here 10-14"),
        )
    latitude, longitude = round_position(*position)
    name = ctx._("Meeting point near {name}").format(name=ctx.origin.sender.name)
    return Venue(0, group.id, name, latitude, longitude)


async def session_number(ctx: Context, group: CityGroup, session: Session) -> int | None:
    """The session's number in today's list (/today, /join N); None if it is not in
    it (another day's, or over already)."""
    ids = [s.id for s in await todays_sessions(ctx, group)]
    return ids.index(session.id) + 1 if session.id in ids else None


async def _require_opener_or_admin(ctx: Context, opener: Person) -> None:
    me = ctx.origin.sender
    if opener.ref != me.ref and not await ctx.is_admin(ctx.origin.chat, me):
        raise UserError(ctx._("Only the person who opened a session, or an admin, can cancel it."))


async def announce_session(ctx: Context, group: CityGroup, session: Session) -> None:
    """Post a new session in the chat, with its number and a join button."""
    number = await session_number(ctx, group, session)
    text = ctx._("New session: {place}, {time}, opened by {name}.").format(
        place=session.place, time=time_range(ctx, session), name=session.opener.name
    )
    if session.topic:
        text += "\n" + ctx._("Topic: {topic}").format(topic=session.topic)
    if number is None:  # over already (opened in the day's last minutes)
        ctx.post(text)
        return
    text += "\n" + ctx._("Join with {command}.").format(command=f"{ctx.cmd('join')} {number}")
    ctx.post(text, (join_button(ctx, number),))


async def _open_standing(
    ctx: Context, group: CityGroup, venue: Venue, weekday: int, start: time, end: time, topic: str
) -> None:
    async with ctx.repo.atomic():
        await ctx.repo.remember_person(ctx.origin.sender, ctx.now())
        await ctx.repo.add_standing(
            StandingSession(
                id=0,
                group_id=group.id,
                weekday=weekday,
                place=venue.name,
                venue_id=venue.id,
                latitude=venue.latitude,
                longitude=venue.longitude,
                start=start,
                end=end,
                opener=ctx.origin.sender,
                topic=topic,
            ),
            ctx.now(),
        )
    ctx.memory.materialized.discard((group.id, ctx.today()))
    ctx.post(
        ctx._("Standing session: every {weekday}, {time} at {place}, opened by {name}.").format(
            weekday=ctx.t.weekday(weekday),
            time=ctx.t.time_range(start, end),
            place=venue.name,
            name=ctx.origin.sender.name,
        )
        + "\n"
        + ctx._(
            "It shows up in {today} every week. {cancel} on the day skips that date;"
            " {cancel_series} ends the series."
        ).format(
            today=ctx.cmd("today"),
            cancel=ctx.cmd("cancel"),
            cancel_series=ctx.cmd("cancel") + " " + ctx._("every tue"),
        )
    )


async def _live_session_by_id(ctx: Context, session_id: int) -> Session:
    """A session named by id (from a nearby answer's button): still live, and in this
    chat's group or a publicly listed one."""
    session = await ctx.repo.session(session_id)
    group = await ctx.repo.group(session.group_id) if session else None
    visible = group is not None and (
        group.settings.public or (ctx.group is not None and ctx.group.id == group.id)
    )
    if (
        session is None
        or not visible
        or session.state != SessionState.OPEN
        or session.ends_at <= ctx.now()
    ):
        raise UserError(ctx._("That session is over or was cancelled."))
    return session


def join_button_by_id(ctx: Context, number: int, session_id: int) -> Button:
    """A join button that works from any chat (a visitor's private chat, too)."""
    return ctx.button(ctx._("Join {number}").format(number=number), "join", f"s{session_id}")


def join_button(ctx: Context, number: int) -> Button:
    return ctx.button(ctx._("Join {number}").format(number=number), "join", str(number))


def _pick(ctx: Context, sessions: Sequence[Session], args: str, key: str) -> Session:
    """The session a person means: by number from /today, or the only one."""
    arg = args.strip()
    if not sessions:
        raise UserError(ctx._("There are no sessions today."), example=open_example(ctx))
    if not arg:
        if len(sessions) == 1:
            return sessions[0]
        raise UserError(
            ctx._("There are {count} sessions today. Which one?").format(count=len(sessions)),
            example=f"{ctx.cmd(key)} 1",
        )
    if not arg.isdigit():
        raise UserError(
            ctx._("Please give the session's number from {today}.").format(today=ctx.cmd("today")),
            example=f"{ctx.cmd(key)} 1",
        )
    return _by_number(ctx, sessions, int(arg), key)


def _by_number(ctx: Context, sessions: Sequence[Session], number: int, key: str) -> Session:
    if 1 <= number <= len(sessions):
        return sessions[number - 1]
    raise UserError(
        ctx._("There is no session number {number} today. {today} lists them.").format(
            number=number, today=ctx.cmd("today")
        ),
        example=f"{ctx.cmd(key)} 1",
    )


async def join_session(ctx: Context, args: str) -> None:
    by_id = re.fullmatch(r"s(\d+)", args.strip())
    if by_id:
        session = await _live_session_by_id(ctx, int(by_id.group(1)))
    else:
        group = ctx.require_group()
        sessions = await todays_sessions(ctx, group)
        session = _pick(ctx, sessions, args, "join")
    me = ctx.origin.sender
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
        await ctx.repo.remember_person(me, ctx.now())
        await ctx.repo.add_joiner(session.id, me, ctx.now())
        session_group = await ctx.repo.group(session.group_id)
        if session_group is not None:
            await pings.queue_reminder(ctx, session_group, session, me)
    ctx.reply(
        ctx._("{name} joins {place}, {time}.").format(
            name=me.name, place=session.place, time=time_range(ctx, session)
        )
    )


async def leave_session(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    me = ctx.origin.sender
    sessions = await todays_sessions(ctx, group)
    if args.strip():
        session = _pick(ctx, sessions, args, "leave")
    else:
        mine = [s for s in sessions if s.has_joined(me)]
        if len(mine) != 1:
            if not mine and any(s.opener.ref == me.ref for s in sessions):
                raise UserError(
                    ctx._("You opened that session. To call it off, use {cancel}.").format(
                        cancel=ctx.cmd("cancel")
                    )
                )
            if not mine:
                raise UserError(ctx._("You have not joined a session today."))
            raise UserError(
                ctx._("You joined {count} sessions today. Which one?").format(count=len(mine)),
                example=f"{ctx.cmd('leave')} {sessions.index(mine[0]) + 1}",
            )
        session = mine[0]
    if session.opener.ref == me.ref:
        raise UserError(
            ctx._("You opened that session. To call it off, use {cancel}.").format(
                cancel=ctx.cmd("cancel")
            )
        )
    if not session.has_joined(me):
        raise UserError(ctx._("You have not joined that session."))
    async with ctx.repo.atomic():
        await ctx.repo.remove_joiner(session.id, me)
        await ctx.repo.drop_messages(session.id, ("reminder",), me.ref)
    ctx.reply(
        ctx._("{name} is not coming to {place} after all.").format(
            name=me.name, place=session.place
        )
    )


async def cancel_session(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    me = ctx.origin.sender
    try:
        rest, weekday = take_weekly(args)
    except BadInput as error:
        raise bad_input(ctx, error, f"{ctx.cmd('cancel')} {ctx._('every tue')}") from None
    if weekday is not None:
        await _end_series(ctx, group, weekday, rest)
        return
    sessions = await todays_sessions(ctx, group)
    if args.strip():
        session = _pick(ctx, sessions, args, "cancel")
    else:
        mine = [s for s in sessions if s.opener.ref == me.ref]
        session = mine[0] if len(mine) == 1 else _pick(ctx, sessions, args, "cancel")
    await _require_opener_or_admin(ctx, session.opener)
    async with ctx.repo.atomic():
        await ctx.repo.set_session_state(session.id, SessionState.CANCELLED)
        await ctx.repo.drop_messages(session.id, ("ping", "reminder"))
    text = ctx._("Cancelled: {place}, {time} (by {name}).").format(
        place=session.place, time=time_range(ctx, session), name=me.name
    )
    if session.standing_id is not None:
        text += "\n" + ctx._("Only today: the weekly session goes on next week.")
    if session.joiners:
        text += "\n" + ctx._("Told: {names}.").format(
            names=", ".join(j.name for j in session.joiners)
        )
    ctx.post(text)
    notice = ctx._("The session you joined in {city} is cancelled: {place}, {time}.").format(
        city=group.name, place=session.place, time=time_range(ctx, session)
    )
    for joiner in session.joiners:
        ctx.direct(joiner.ref, notice)


async def today(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    sessions = await todays_sessions(ctx, group)
    header = ctx._("Today in {city}, {date}").format(city=group.name, date=ctx.t.date(ctx.today()))
    state = poll_state_line(ctx, await ctx.repo.poll_on(group.id, ctx.today()))
    poll_line = "\n\n" + state if state else ""
    if not sessions:
        venues = await ctx.repo.venues(group.id)
        ctx.reply(
            header
            + "\n"
            + ctx._("No sessions yet. Open one:")
            + "\n"
            + open_example(ctx, venues[0].name if venues else None)
            + poll_line
        )
        return
    blocks = [session_block(ctx, n, s) for n, s in enumerate(sessions, start=1)]
    buttons = tuple(join_button(ctx, n) for n in range(1, len(sessions) + 1))
    ctx.reply(header + "\n\n" + "\n\n".join(blocks) + poll_line, buttons)


async def _end_series(ctx: Context, group: CityGroup, weekday: int, place: str) -> None:
    series = list(await ctx.repo.standing_sessions(group.id, weekday))
    if place.strip():
        match = match_venue(place, await ctx.repo.venues(group.id))
        series = [s for s in series if match.venue and s.venue_id == match.venue.id]
    if len(series) != 1:
        raise UserError(
            ctx._("There is no single weekly session on {weekday}{venue}.").format(
                weekday=ctx.t.weekday(weekday), venue=f" ({place.strip()})" if place.strip() else ""
            ),
            example=f"{ctx.cmd('cancel')} {ctx._('every tue')} {ctx._('Café Museum')}",
        )
    standing = series[0]
    await _require_opener_or_admin(ctx, standing.opener)
    async with ctx.repo.atomic():
        await ctx.repo.end_standing(standing.id)
        for session in await ctx.repo.sessions_on(group.id, ctx.today()):
            if session.standing_id == standing.id:
                await ctx.repo.set_session_state(session.id, SessionState.CANCELLED)
    ctx.post(
        ctx._("The weekly session on {weekday} at {place} has ended.").format(
            weekday=ctx.t.weekday(weekday), place=standing.place
        )
    )
