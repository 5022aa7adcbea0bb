"""Sessions: open one, today's list, and how a session is announced.

Joining and leaving live in `joining.py`; cancelling, series and every other way a
session can end early in `cancelling.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chatbot.core.actions import Button
from chatbot.core.clock import wall_clock_range
from chatbot.core.context import Context
from chatbot.core.days import MAX_DAYS_AHEAD, DaySpec, resolve
from chatbot.core.errors import UserError
from chatbot.core.handlers import calendar, pings
from chatbot.core.handlers.common import bad_input
from chatbot.core.model import (
    CityGroup,
    NewSession,
    Session,
    StandingSession,
    Venue,
)
from chatbot.core.parsing import BadInput, match_venue, parse_open, round_position
from chatbot.core.ports import Repository
from chatbot.core.render import opened_by, session_block, time_range
from chatbot.core.text import excerpt, fold, one_line

MAX_TOPIC = 200
LAST_MINUTE = time(23, 59)


def open_example(ctx: Context, venue_name: str | None = None) -> str:
    return (
        ctx.cmd("open")
        + " "
        + ctx._("10-14 {venue} - tax return").format(venue=venue_name or ctx._("Café Museum"))
    )


async def todays_sessions(ctx: Context, group: CityGroup) -> list[Session]:
    """Today's open sessions that have not ended, in start order (each with its own
    number)."""
    return await sessions_of_day(ctx, group, ctx.today())


async def sessions_of_day(ctx: Context, group: CityGroup, day: date) -> list[Session]:
    """A day's open sessions not over yet, series included, in start order."""
    await standing_of(ctx, group, day)
    now = ctx.now()
    return [s for s in await ctx.repo.sessions.sessions_on(group.id, day) if s.ends_at > now]


async def standing_of_the_day(ctx: Context, group: CityGroup) -> None:
    """Materialize today's standing sessions (the schedule's daily work)."""
    await standing_of(ctx, group, ctx.today())


async def standing_of(ctx: Context, group: CityGroup, day: date) -> None:
    """Materialize a day's standing sessions once per group and day (per process)."""
    key = (group.id, day)
    if key not in ctx.memory.materialized:
        await materialize_standing(ctx.repo, group, day, ctx.zone, ctx.today(), ctx.now())
        ctx.memory.materialized.add(key)


async def materialize_standing(
    repo: Repository, group: CityGroup, day: date, zone: ZoneInfo, today: date, now: datetime
) -> list[Session]:
    """Give each standing session of that weekday its row for the day (once: a day that
    has a row, open or skipped, keeps it). Returns the sessions created now."""
    created = []
    for standing in await repo.sessions.standing_sessions(group.id, day.weekday()):
        starts_at, ends_at = wall_clock_range(day, standing.start, standing.end, zone)
        async with repo.atomic():
            session = await repo.sessions.add_session(
                NewSession(
                    group_id=group.id,
                    place=standing.place,
                    venue_id=standing.venue_id,
                    latitude=standing.latitude,
                    longitude=standing.longitude,
                    local_date=day,
                    start=standing.start,
                    end=standing.end,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    opener=standing.opener,
                    topic=standing.topic,
                    standing_id=standing.id,
                    today=today,
                    created_at=now,
                )
            )
        if session is not None:
            created.append(session)
    return created


def default_hours(
    ctx: Context, group: CityGroup, start_at: datetime, *, not_before: bool = False
) -> tuple[time, time]:
    """A session's hours when nobody gave them: the group's default hours while they
    are still ahead, otherwise from `start_at` (rounded down to 5 minutes) for the
    group's default duration, ending by midnight. `not_before` (a poll's session): it
    starts no earlier than `start_at`, within the default hours if they are still long
    enough, else for the default duration."""
    settings = group.settings
    local = start_at.astimezone(ctx.zone)
    if not_before and local.minute % 5:
        local += timedelta(minutes=5 - local.minute % 5)  # up, not down: not before
    start = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    hours = settings.default_hours
    if hours and ctx.instant(ctx.today(), hours[1]) > ctx.now():
        if not not_before or start.time() <= hours[0]:
            return hours
        if (datetime.combine(start.date(), hours[1]) - start.replace(tzinfo=None)) >= timedelta(
            hours=1
        ):
            return start.time(), hours[1]
    return start.time(), _plus(start.time(), settings.default_duration_minutes)


def _plus(start: time, minutes: int) -> time:
    end = datetime.combine(datetime.min.date(), start) + timedelta(minutes=minutes)
    return end.time() if end.date() == datetime.min.date() else LAST_MINUTE


def unknown_venue(ctx: Context, query: str, suggestions: Sequence[Venue]) -> UserError:
    if suggestions:
        text = ctx._("I don't know a venue “{query}”. Did you mean: {names}?").format(
            query=excerpt(query), names=", ".join(v.name for v in suggestions)
        )
        return UserError(text, example=open_example(ctx, suggestions[0].name))
    text = ctx._("I don't know a venue “{query}”. {venues} lists the venues.").format(
        query=excerpt(query), venues=ctx.cmd("venues")
    )
    return UserError(text, example=open_example(ctx))


def overlaps(session: Session, start: time, end: time) -> bool:
    return session.start < end and start < session.end


async def open_session(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    venues = await ctx.repo.venues.of_group(group.id)
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
    here = fold(request.place) in HERE
    if here and request.weekdays:
        raise UserError(
            ctx._("A weekly session needs a venue from the list, not a shared location."),
            example=ctx.cmd("open")
            + " "
            + ctx._("every tue 9-13 {venue}").format(venue=venues[0].name),
        )
    if here:
        venue = _here(ctx, group)
    else:
        match = match_venue(request.place, venues)
        if match.venue is None:
            raise unknown_venue(ctx, request.place, match.suggestions)
        venue = match.venue
    topic = one_line(request.topic)
    if len(topic) > MAX_TOPIC:
        raise UserError(
            ctx._("The topic is too long: at most {limit} characters.").format(limit=MAX_TOPIC),
            example=open_example(ctx, venue.name),
        )
    if request.weekdays and (request.day is not None or request.seats is not None):
        raise UserError(
            ctx._("A series meets every week: give it a weekday, but no date and no seats."),
            example=ctx.cmd("open")
            + " "
            + ctx._("every tue 9-13 {venue}").format(venue=venue.name),
        )
    today = ctx.today()
    day = today
    if request.day is not None:
        day = planned_day(ctx, request.day, request.start, venue.name)
    if request.start is None:
        if day != today and group.settings.default_hours is None:
            raise UserError(
                ctx._("When on {day}? Please give the time.").format(day=ctx.t.date(day)),
                example=open_example(ctx, venue.name),
            )
        start, end = default_hours(ctx, group, ctx.now())
    else:
        start = request.start
        end = request.end or _plus(start, group.settings.default_duration_minutes)
    if end <= start:
        raise UserError(
            ctx._("A session ends by midnight: {start} is too late to start one today.").format(
                start=ctx.t.time(start)
            ),
            example=open_example(ctx, venue.name),
        )
    if request.weekdays:
        for weekday in request.weekdays:
            await open_series(ctx, group, venue, weekday, start, end, topic)
        return
    starts_at, ends_at = session_instants(ctx, day, start, end, venue.name)
    if ends_at <= ctx.now():
        raise UserError(
            ctx._("That time is already over today."), example=open_example(ctx, venue.name)
        )
    await refuse_duplicate(ctx, group, venue.id or None, day, start, end)
    async with ctx.repo.atomic():
        await ctx.repo.people.remember_person(ctx.origin.sender, ctx.now())
        session = await ctx.repo.sessions.add_session(
            NewSession(
                group_id=group.id,
                place=venue.name,
                venue_id=venue.id or None,
                latitude=venue.latitude,
                longitude=venue.longitude,
                local_date=day,
                start=start,
                end=end,
                starts_at=starts_at,
                ends_at=ends_at,
                opener=ctx.origin.sender,
                topic=topic,
                here=venue.id == 0,
                today=today,
                seats=request.seats,
                created_at=ctx.now(),
            )
        )
        assert session is not None
        await pings.queue_pings(ctx, group, session)
    await announce_session(ctx, group, session, venue.address)


def day_example(ctx: Context, venue_name: str) -> str:
    return ctx.cmd("open") + " " + ctx._("tomorrow 10-14 {venue}").format(venue=venue_name)


def planned_day(ctx: Context, spec: DaySpec, start: time | None, venue_name: str) -> date:
    """The day a phrase names: from today up to 8 weeks ahead."""
    today = ctx.today()
    try:
        day = resolve(spec, today, start, ctx.local_now().time())
    except BadInput as error:
        raise bad_input(ctx, error, day_example(ctx, venue_name)) from None
    if day < today:
        raise UserError(
            ctx._("{day} is over already.").format(day=ctx.t.date(day)),
            example=day_example(ctx, venue_name),
        )
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise UserError(
            ctx._("{day} is too far ahead: sessions can be planned up to 8 weeks ahead.").format(
                day=ctx.t.date(day)
            ),
            example=day_example(ctx, venue_name),
        )
    return day


def session_instants(
    ctx: Context, day: date, start: time, end: time, venue_name: str
) -> tuple[datetime, datetime]:
    """A session's start and end as instants; a time range that does not exist on that
    day (the night the clocks go forward) is refused."""
    starts_at, ends_at = ctx.instant(day, start), ctx.instant(day, end)
    if ends_at <= starts_at:
        raise UserError(
            ctx._(
                "On {day} the clocks change: {time} does not exist that night. Please choose"
                " another time."
            ).format(day=ctx.t.date(day), time=ctx.t.time_range(start, end)),
            example=open_example(ctx, venue_name),
        )
    return starts_at, ends_at


async def refuse_duplicate(
    ctx: Context,
    group: CityGroup,
    venue_id: int | None,
    day: date,
    start: time,
    end: time,
    *,
    besides: int | None = None,
) -> None:
    """One venue, one time: one session. An overlapping session at the same venue (or,
    for a shared location, venue_id None, of the same person) is pointed to instead."""
    me = ctx.origin.sender.ref
    for session in await sessions_of_day(ctx, group, day):
        if session.id == besides:
            continue
        if venue_id is not None:
            same_place = session.venue_id == venue_id
        else:  # a shared location: the same person's other "here" session
            same_place = session.venue_id is None and session.opener.ref == me
        if same_place and overlaps(session, start, end):
            text = ctx._("There is a session there at that time already:") + "\n"
            text += session_block(ctx, session)
            if session.opener.ref != me and not session.has_joined(ctx.origin.sender):
                text += "\n" + ctx._("Join it with {command}.").format(
                    command=join_command(ctx, session)
                )
            raise UserError(text)


def join_command(ctx: Context, session: Session) -> str:
    return f"{ctx.cmd('join')} {session.number}"


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
    name = ctx._("{name}'s shared location").format(name=ctx.origin.sender.name)
    return Venue(0, group.id, name, latitude, longitude)


def join_button(ctx: Context, session: Session) -> Button:
    """A join button carries the session's identity, never a list position, so it
    names the same session wherever and however late it is pressed."""
    return ctx.button(
        ctx._("Join {number}").format(number=session.number), "join", f"s{session.id}"
    )


async def announce_session(
    ctx: Context, group: CityGroup, session: Session, address: str = ""
) -> None:
    """Post a new session in every chat of the group, with its number and a join
    button, in each chat's command syntax."""
    for chat_ctx in await ctx.each_chat_of(group):
        await _announce_in(chat_ctx, group, session, address)
        ctx.actions.extend(chat_ctx.actions)


async def _announce_in(ctx: Context, group: CityGroup, session: Session, address: str) -> None:
    if session.local_date == ctx.today():
        text = ctx._("New session {number}: {place}, {time}, {opened_by}.").format(
            number=session.number,
            place=session.place,
            time=time_range(ctx, session),
            opened_by=opened_by(ctx.t, session),
        )
    else:
        text = ctx._("New session {number} on {day}: {place}, {time}, {opened_by}.").format(
            number=session.number,
            day=ctx.t.date(session.local_date),
            place=session.place,
            time=time_range(ctx, session),
            opened_by=opened_by(ctx.t, session),
        )
    if address:
        text += "\n" + address
    if session.seats is not None:
        text += "\n" + ctx._("Room for {seats}.").format(seats=session.seats)
    if session.topic:
        text += "\n" + ctx._("Topic: {topic}").format(topic=session.topic)
    text += "\n" + ctx._("Join with {command}.").format(command=join_command(ctx, session))
    link = await calendar.session_link(ctx, group, session)
    if link:
        text += "\n" + link
    ctx.post(text, (join_button(ctx, session), where_button(ctx, session)))


def where_button(ctx: Context, session: Session) -> Button:
    """The place on a map, as the platform shows places."""
    return ctx.button(ctx._("Where?"), "where", f"s{session.id}")


async def open_series(
    ctx: Context, group: CityGroup, venue: Venue, weekday: int, start: time, end: time, topic: str
) -> None:
    """`/open every tue 9-13 Café Museum`: a series with its own number."""
    for other in await ctx.repo.sessions.standing_sessions(group.id, weekday):
        if other.venue_id == venue.id and other.start < end and start < other.end:
            raise UserError(
                ctx._(
                    "Series {number} meets there at that time already: every {weekday},"
                    " {time}, {place}."
                ).format(
                    number=other.number,
                    weekday=ctx.t.weekday(weekday),
                    time=ctx.t.time_range(other.start, other.end),
                    place=other.place,
                ),
                example=ctx.cmd("series"),
            )
    async with ctx.repo.atomic():
        await ctx.repo.people.remember_person(ctx.origin.sender, ctx.now())
        standing = await ctx.repo.sessions.add_standing(
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
    for chat_ctx in await ctx.each_chat_of(group):  # every chat of the city hears of it
        chat_ctx.post(
            chat_ctx._(
                "Series {number}: every {weekday}, {time}, {place}, opened by {name}."
            ).format(
                number=standing.number,
                weekday=chat_ctx.t.weekday(weekday),
                time=chat_ctx.t.time_range(start, end),
                place=venue.name,
                name=ctx.origin.sender.name,
            )
            + "\n"
            + chat_ctx._(
                "It shows up in {today} every week. {cancel} N on the day skips that date;"
                " {cancel_series} ends the series."
            ).format(
                today=chat_ctx.cmd("today"),
                cancel=chat_ctx.cmd("cancel"),
                cancel_series=chat_ctx.cmd("cancel")
                + " "
                + chat_ctx._("series {number}").format(number=standing.number),
            )
        )
        ctx.actions.extend(chat_ctx.actions)
