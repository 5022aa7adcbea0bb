"""Planning ahead: the week at a glance, tomorrow, a public city's plan for visitors,
and changing a session (it keeps its number and its people, who are told)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

from chatbot.core.actions import Button
from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.handlers import calendar
from chatbot.core.handlers.cancelling import require_opener_or_admin
from chatbot.core.handlers.common import bad_input
from chatbot.core.handlers.joining import find_session, seat_freed
from chatbot.core.handlers.sessions import (
    MAX_TOPIC,
    join_button,
    open_example,
    planned_day,
    refuse_duplicate,
    session_instants,
    sessions_of_day,
    unknown_venue,
)
from chatbot.core.model import CityGroup, Session
from chatbot.core.parsing import BadInput, match_venue, parse_open
from chatbot.core.render import attendance, poll_state_line, session_block, time_range
from chatbot.core.text import excerpt, fold, one_line
from chatbot.i18n import Translator

WEEK_DAYS = 7
MAX_TEXT = 4000  # Telegram's limit is 4,096 characters
MAX_PER_DAY = 10
MAX_BUTTONS = 30


async def city_for(ctx: Context, args: str, key: str) -> CityGroup:
    """The chat's city group; in a private chat the publicly listed city named in args."""
    if ctx.group is not None:
        return ctx.group
    if not ctx.origin.is_private:
        return ctx.require_group()
    wanted = fold(args.strip())
    cities = [g for g in await ctx.repo.cities.groups() if g.settings.public]
    if not wanted:
        raise UserError(
            ctx._("Which city? Publicly listed: {cities}.").format(
                cities=", ".join(g.name for g in cities) or "–"
            ),
            example=f"{ctx.cmd(key)} {cities[0].name if cities else 'Duisburg'}",
        )
    found = [g for g in cities if fold(g.name) == wanted] or [
        g for g in cities if fold(g.name).startswith(wanted)
    ]
    if len(found) != 1:
        raise UserError(
            ctx._("I know no publicly listed city “{city}”. Publicly listed: {cities}.").format(
                city=excerpt(args), cities=", ".join(g.name for g in cities) or "–"
            ),
            example=f"{ctx.cmd(key)} {cities[0].name if cities else 'Duisburg'}",
        )
    return found[0]


def _in_city(ctx: Context, group: CityGroup) -> Context:
    """The context seen from a city (its zone), in the language of this chat."""
    return replace(ctx, group=group, actions=ctx.actions)


async def day_list(ctx: Context, args: str, offset: int, key: str) -> None:
    """/today and /tomorrow: one day's sessions with their numbers and join buttons."""
    group = await city_for(ctx, args, key)
    city = _in_city(ctx, group)
    day = city.today() + timedelta(days=offset)
    sessions = await sessions_of_day(city, group, day)
    if offset == 0:
        header = city._("Today in {city}, {date}").format(city=group.name, date=city.t.date(day))
    else:
        header = city._("Tomorrow in {city}, {date}").format(city=group.name, date=city.t.date(day))
    state = (
        poll_state_line(city, await ctx.repo.polls.poll_on(group.id, day)) if offset == 0 else None
    )
    poll_line = "\n\n" + state if state else ""
    if not sessions:
        venues = await ctx.repo.venues.of_group(group.id)
        example = open_example(city, venues[0].name if venues else None)
        if offset:
            example = (
                city.cmd("open")
                + " "
                + city._("tomorrow 10-14 {venue}").format(
                    venue=venues[0].name if venues else city._("Café Museum")
                )
            )
        ctx.reply(header + "\n" + city._("No sessions yet. Open one:") + "\n" + example + poll_line)
        return
    blocks = [session_block(city, s, s.address) for s in sessions]
    buttons = tuple(join_button(city, s) for s in sessions)
    ctx.reply(header + "\n\n" + "\n\n".join(blocks) + poll_line, buttons)


async def today(ctx: Context, args: str) -> None:
    await day_list(ctx, args, 0, "today")


async def tomorrow(ctx: Context, args: str) -> None:
    await day_list(ctx, args, 1, "tomorrow")


def _week_line(ctx: Context, session: Session) -> str:
    line = ctx._("{number}. {time} {place}").format(
        number=session.number, time=time_range(ctx, session), place=session.place
    )
    details = ([session.address] if session.address else []) + attendance(ctx, session)
    if session.topic:
        details.append(session.topic)
    if session.standing_id is not None:
        details.append(ctx._("weekly"))
    return "  " + " · ".join([line, *details])


async def week(ctx: Context, args: str) -> None:
    """/week: the next 7 days, a heading per day, series included, one message."""
    group = await city_for(ctx, args, "week")
    city = _in_city(ctx, group)
    first = city.today()
    parts = [city._("The week in {city}").format(city=group.name)]
    buttons: list[Button] = []
    total = 0
    left_out = 0
    size = len(parts[0])
    for offset in range(WEEK_DAYS):
        day = first + timedelta(days=offset)
        sessions = await sessions_of_day(city, group, day)
        if not sessions:
            continue
        lines = [_day_heading(city, day, offset)]
        size += len(lines[0]) + 2
        for session in sessions[:MAX_PER_DAY]:
            line = _week_line(city, session)
            if size + len(line) + 1 > MAX_TEXT - 200:  # room for the closing line
                left_out += 1
                continue
            lines.append(line)
            size += len(line) + 1
            total += 1
            if len(buttons) < MAX_BUTTONS:
                buttons.append(join_button(city, session))
        left_out += max(0, len(sessions) - MAX_PER_DAY)
        if len(lines) > 1:
            parts.append("\n".join(lines))
        else:
            size -= len(lines[0]) + 2
    if total == 0 and left_out == 0:
        parts.append(city._("Nothing planned yet. Plan a session:"))
        parts.append(
            city.cmd("open")
            + " "
            + city._("tomorrow 10-14 {venue}").format(venue=city._("Café Museum"))
        )
    if left_out:
        parts.append(
            city.ngettext(
                "{count} more session is not shown here: {today} and {tomorrow} show each day.",
                "{count} more sessions are not shown here: {today} and {tomorrow} show each day.",
                left_out,
            ).format(count=left_out, today=city.cmd("today"), tomorrow=city.cmd("tomorrow"))
        )
    page = await calendar.city_url(ctx, group)
    if page:
        parts.append(city._("On the web, with the calendar: {url}").format(url=page))
    ctx.reply("\n\n".join(parts), tuple(buttons))


def _day_heading(ctx: Context, day: date, offset: int) -> str:
    if offset == 0:
        return ctx._("Today, {date}").format(date=ctx.t.date(day))
    if offset == 1:
        return ctx._("Tomorrow, {date}").format(date=ctx.t.date(day))
    return ctx.t.date(day)


# --- changing a session --------------------------------------------------------------


def change_example(ctx: Context, number: int = 1) -> str:
    return f"{ctx.cmd('change')} {number} " + ctx._("11-15")


async def change_session(ctx: Context, args: str) -> None:
    """/change N + a new time range, day, venue, topic or `max N`: the session keeps its
    number and its people, who are told what changed; reminders follow the new time."""
    group = ctx.require_group()
    words = args.split(maxsplit=1)
    if len(words) < 2:
        raise UserError(
            ctx._(
                "Which session, and what changes? Give its number and the new time, day,"
                " venue, topic (after “ - ”) or seats (max N)."
            ),
            example=change_example(ctx),
        )
    session = await find_session(ctx, words[0], "change", [], "")
    if session.group_id != group.id:
        raise UserError(ctx._("That session belongs to another city group."))
    if session.from_poll:
        await ctx.require_admin()
    else:
        await require_opener_or_admin(ctx, session.opener)
    rest = words[1].strip()
    if rest[:1] in ("-", "–", "—"):  # only a new topic: "/change 2 - Buchhaltung"
        rest = "x " + rest if rest[1:2] == " " else rest
    try:
        request = parse_open(rest)
        if rest.startswith("x "):
            request = replace(request, place="")
    except BadInput as error:
        raise bad_input(ctx, error, change_example(ctx, session.number)) from None
    if request.weekdays:
        raise UserError(
            ctx._("A session cannot become a series; open the series with {open}.").format(
                open=ctx.cmd("open")
            ),
            example=change_example(ctx, session.number),
        )
    changed = session
    what: list[str] = []
    if request.place:
        match = match_venue(request.place, await ctx.repo.venues.of_group(group.id))
        if match.venue is None:
            raise unknown_venue(ctx, request.place, match.suggestions)
        venue = match.venue
        changed = replace(
            changed,
            place=venue.name,
            venue_id=venue.id,
            latitude=venue.latitude,
            longitude=venue.longitude,
        )
        what.append(ctx._("venue"))
    if request.day is not None:
        day = planned_day(ctx, request.day, request.start or session.start, changed.place)
        changed = replace(changed, local_date=day)
        what.append(ctx._("day"))
    if request.start is not None:
        end = request.end or _shifted_end(session, request.start)
        changed = replace(changed, start=request.start, end=end)
        what.append(ctx._("time"))
    if request.topic or words[1].strip()[:1] in ("-", "–", "—"):
        topic = one_line(request.topic)
        if len(topic) > MAX_TOPIC:
            raise UserError(
                ctx._("The topic is too long: at most {limit} characters.").format(limit=MAX_TOPIC),
                example=change_example(ctx, session.number),
            )
        changed = replace(changed, topic=topic)
        what.append(ctx._("topic"))
    if request.seats is not None:
        changed = replace(changed, seats=request.seats)
        what.append(ctx._("seats"))
    if not what:
        raise UserError(
            ctx._("I see nothing to change in “{value}”.").format(value=excerpt(words[1])),
            example=change_example(ctx, session.number),
        )
    if changed.end <= changed.start:
        raise UserError(
            ctx._("“{value}” is not a time range: the end must come after the start.").format(
                value=ctx.t.time_range(changed.start, changed.end)
            ),
            example=change_example(ctx, session.number),
        )
    starts_at, ends_at = session_instants(
        ctx, changed.local_date, changed.start, changed.end, changed.place
    )
    if ends_at <= ctx.now():
        raise UserError(
            ctx._("That time is already over today."), example=change_example(ctx, session.number)
        )
    changed = replace(changed, starts_at=starts_at, ends_at=ends_at)
    if changed.venue_id is not None:  # a "here" session has no venue to share
        await refuse_duplicate(
            ctx,
            group,
            changed.venue_id,
            changed.local_date,
            changed.start,
            changed.end,
            besides=session.id,
        )
    await _store_change(ctx, group, session, changed)
    summary = _summary(ctx, changed)
    text = ctx._("Session {number} changed ({what}): {summary}.").format(
        number=session.number, what=", ".join(what), summary=summary
    )
    moves = bool(request.place) or request.day is not None or request.start is not None
    if session.joiners and moves:
        text += "\n" + ctx._("Told: {names}.").format(
            names=", ".join(j.name for j in session.joiners)
        )
    for chat_ctx in await ctx.each_chat_of(group):  # every chat of the city hears of it
        chat_ctx.post(text, (join_button(chat_ctx, changed),))
        ctx.actions.extend(chat_ctx.actions)


def _shifted_end(session: Session, start: time) -> time:
    """A new start without an end keeps the session's length (ending by midnight)."""
    length = datetime.combine(date.min, session.end) - datetime.combine(date.min, session.start)
    end = datetime.combine(date.min, start) + length
    return end.time() if end.date() == date.min else time(23, 59)


def _summary(ctx: Context, session: Session) -> str:
    parts = [session.place, ctx.t.date(session.local_date), time_range(ctx, session)]
    if session.seats is not None:
        parts.append(ctx._("room for {seats}").format(seats=session.seats))
    if session.topic:
        parts.append(session.topic)
    return ", ".join(parts)


async def _store_change(ctx: Context, group: CityGroup, before: Session, after: Session) -> None:
    """Write the change; joiners are told; reminders move with the start (or go, when
    it is too close); pending pings follow the new end; who moves up from the waiting
    list (more seats) is told."""
    minutes = group.settings.reminder_minutes
    t = Translator(group.settings.language)
    notice = t.gettext("Changed in {city}: {summary} (before: {before}).").format(
        city=group.name,
        summary=", ".join(
            [after.place, t.date(after.local_date), t.time_range(after.start, after.end)]
            + ([after.topic] if after.topic else [])
        ),
        before=", ".join(
            [before.place, t.date(before.local_date), t.time_range(before.start, before.end)]
        ),
    )
    async with ctx.repo.atomic():
        await ctx.repo.sessions.update_session(after)
        due = after.starts_at - timedelta(minutes=minutes)
        if minutes > 0 and due > ctx.now():
            await ctx.repo.outbox.move_messages(
                after.id, "reminder", due_at=due, expires_at=after.starts_at
            )
        else:
            await ctx.repo.outbox.drop_messages(after.id, ("reminder",))
        moved = (after.place, after.local_date, after.start, after.end) != (
            before.place,
            before.local_date,
            before.start,
            before.end,
        )
        for person in before.joiners if moved else ():
            await ctx.repo.outbox.enqueue(
                "changed",
                person.ref,
                notice,
                due_at=ctx.now(),
                session_id=after.id,
                expires_at=after.ends_at,
                again=True,
            )
        if after.seats is None or (before.seats is not None and after.seats > before.seats):
            await seat_freed(ctx, before)
