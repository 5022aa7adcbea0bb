"""The venue poll: "where do we work today?", one per city group and day.

Started by the schedule at the group's poll time or by /poll; votes come from the
platform's poll UI (VoteEvent) or /vote N; closed at the close time or by /close,
when the winner becomes today's session.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from chatbot.core.actions import Button, ClosePoll, SendPoll
from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import Person, VoteEvent
from chatbot.core.handlers.pings import queue_pings, queue_reminder
from chatbot.core.handlers.sessions import (
    default_hours,
    join_button,
    overlaps,
    sessions_of_day,
)
from chatbot.core.model import (
    POLL,
    CityGroup,
    NewSession,
    PollOption,
    PollState,
    Session,
    VenuePoll,
)
from chatbot.core.ports import Repository
from chatbot.core.render import opened_by
from chatbot.core.text import excerpt, fold, parse_number
from chatbot.i18n import N_

POLL_CLOSED = N_("The poll is closed.")  # a poll end's own text; the result follows
MAX_OPTIONS = 10  # at most, whatever the platforms can show


async def rotated_options(
    repo: Repository, group: CityGroup, limit: int = MAX_OPTIONS
) -> list[PollOption]:
    """At most `limit` of the group's venues, those used longest ago (or never) chosen
    first, shown in the order of their own numbers (which /vote takes)."""
    venues = await repo.venues.of_group(group.id)
    last_used = await repo.venues.venues_last_used(group.id)
    ordered = sorted(
        venues,
        key=lambda v: (v.id in last_used, last_used.get(v.id, date.min), fold(v.name)),
    )
    chosen = sorted(ordered[:limit], key=lambda v: v.number)
    return [
        PollOption(n, v.id, v.name, v.latitude, v.longitude, last_used.get(v.id), v.number)
        for n, v in enumerate(chosen, start=1)
    ]


def option_label(ctx: Context, option: PollOption) -> str:
    """A poll option as the venue list shows the venue: "3. Café Museum"."""
    if option.number is None:
        return option.name
    return ctx._("{number}. {name}").format(number=option.number, name=option.name)


async def open_poll(
    ctx: Context, group: CityGroup, starter: Person | None, closes_at: datetime
) -> VenuePoll | None:
    """Create today's poll and post it to every chat of the group. None: one exists."""
    # as many options as every platform the city's chats are on can show in its poll
    limit = MAX_OPTIONS
    for chat in await ctx.repo.cities.chats_of_group(group.id):
        if chat.platform in ctx.capabilities:
            limit = min(limit, ctx.capabilities[chat.platform].max_poll_options)
    options = await rotated_options(ctx.repo, group, limit)
    if len(options) < 2:
        raise UserError(
            ctx._("A poll needs at least two venues. An admin adds them with {venue}.").format(
                venue=ctx.cmd("venue") + " add"
            )
        )
    async with ctx.repo.atomic():
        poll = await ctx.repo.polls.create_poll(
            group.id, ctx.today(), starter.ref if starter else None, closes_at, options, ctx.now()
        )
    if poll is None:
        return None
    for chat_ctx in await ctx.each_chat_of(group):
        question = chat_ctx._("Where do we work today? Vote until {time} (or {vote} N).").format(
            time=chat_ctx.t.time(closes_at.astimezone(chat_ctx.zone).time()),
            vote=chat_ctx.cmd("vote"),
        )
        chat_ctx.actions.append(
            SendPoll(
                chat_ctx.origin.chat,
                question,
                tuple(option_label(chat_ctx, o) for o in poll.options),
                poll_key=str(poll.id),
                thread=chat_ctx.origin.thread,
            )
        )
        ctx.actions.extend(chat_ctx.actions)
    return poll


async def start_poll(ctx: Context, args: str) -> None:
    """/poll: today's poll, now, if there is none yet."""
    group = ctx.require_group()
    existing = await ctx.repo.polls.poll_on(group.id, ctx.today())
    if existing is not None:
        raise UserError(_already(ctx, existing))
    closes_at = ctx.instant(ctx.today(), group.settings.poll_close)
    if closes_at <= ctx.now() + timedelta(minutes=30):
        # after today's close time: give people an hour, but not past midnight
        closes_at = min(ctx.now() + timedelta(hours=1), ctx.instant(ctx.today(), time(23, 59)))
    if await open_poll(ctx, group, ctx.origin.sender, closes_at) is None:
        existing = await ctx.repo.polls.poll_on(group.id, ctx.today())
        assert existing is not None
        raise UserError(_already(ctx, existing))


def _already(ctx: Context, poll: VenuePoll) -> str:
    if poll.state == PollState.OPEN:
        return ctx._("Today's poll is already running. Vote with {vote} N.").format(
            vote=ctx.cmd("vote")
        )
    return ctx._("Today's poll is already closed. There is one poll a day.")


async def cast_vote(ctx: Context, args: str) -> None:
    """/vote N: the text path beside the platform's poll UI."""
    group = ctx.require_group()
    poll = await ctx.repo.polls.poll_on(group.id, ctx.today())
    if poll is None or poll.state != PollState.OPEN:
        raise UserError(
            ctx._("There is no open poll today. {poll} starts one.").format(poll=ctx.cmd("poll"))
        )
    number = parse_number(args)
    option = next((o for o in poll.options if o.number == number), None)
    if option is None:
        choices = ", ".join(option_label(ctx, o) for o in poll.options)
        text = ctx._("Please vote with the number of a venue in today's poll: {choices}.")
        if args.strip() and number is None:
            text = (
                ctx._("“{value}” is not a venue number.").format(value=excerpt(args)) + " " + text
            )
        raise UserError(
            text.format(choices=choices),
            example=f"{ctx.cmd('vote')} {poll.options[0].number or 1}",
        )
    async with ctx.repo.atomic():
        await ctx.repo.people.remember_person(ctx.origin.sender, ctx.now())
        await ctx.repo.polls.set_vote(poll.id, ctx.origin.sender, option.position, ctx.now())
    ctx.reply(
        ctx._("{name} votes for {place}.").format(name=ctx.origin.sender.name, place=option.name)
    )


async def native_vote(ctx: Context, event: VoteEvent) -> None:
    """A vote from the platform's poll UI; an empty answer takes the vote back."""
    if not event.poll_id.isdigit():
        return
    poll = await ctx.repo.polls.poll(int(event.poll_id))
    if poll is None or poll.state != PollState.OPEN:
        return
    async with ctx.repo.atomic():
        if not event.option_indexes:
            await ctx.repo.polls.remove_vote(poll.id, event.origin.sender)
            return
        index = event.option_indexes[0]
        if 0 <= index < len(poll.options):
            await ctx.repo.people.remember_person(event.origin.sender, ctx.now())
            await ctx.repo.polls.set_vote(poll.id, event.origin.sender, index + 1, ctx.now())


async def close_now(ctx: Context, args: str) -> None:
    """/close: the poll's starter or an admin closes today's poll now."""
    group = ctx.require_group()
    poll = await ctx.repo.polls.poll_on(group.id, ctx.today())
    if poll is None or poll.state != PollState.OPEN:
        raise UserError(ctx._("There is no open poll today."))
    me = ctx.origin.sender
    if poll.starter != me.ref and not await ctx.is_admin(ctx.origin.chat, me):
        raise UserError(ctx._("Only the person who started the poll, or an admin, can close it."))
    await finish_poll(ctx, group, poll)


async def finish_poll(ctx: Context, group: CityGroup, poll: VenuePoll) -> None:
    """Close the poll once and give the winner its session, announced in every chat.

    The voters for the winner join a session there that overlaps the poll's hours, if
    one is planned (no duplicates); otherwise a new session opens, with no personal
    opener (it is the poll's: anyone leaves it, admins cancel it). A poll whose day is
    over (the bot was down at its close) is closed without a session: nobody wants a
    session for yesterday."""
    best = poll.winner()
    session: Session | None = None
    merged = False
    late = poll.local_date < ctx.today()
    async with ctx.repo.atomic():
        fresh = await ctx.repo.polls.poll(poll.id)
        if fresh is None or fresh.state != PollState.OPEN:
            return  # closed meanwhile: nothing is done twice
        poll = fresh
        best = poll.winner()
        if best is not None and not late:
            voters = [v.person for v in poll.votes if v.position == best.position]
            travel = timedelta(minutes=group.settings.travel_minutes)  # time to get there
            start, end = default_hours(
                ctx, group, max(ctx.now(), poll.closes_at) + travel, not_before=True
            )
            session = await _planned_session(ctx, group, poll, best, start, end)
            merged = session is not None
            if session is None:
                session = await ctx.repo.sessions.add_session(
                    NewSession(
                        group_id=group.id,
                        place=best.name,
                        venue_id=best.venue_id,
                        latitude=best.latitude,
                        longitude=best.longitude,
                        local_date=poll.local_date,
                        start=start,
                        end=end,
                        starts_at=ctx.instant(poll.local_date, start),
                        ends_at=ctx.instant(poll.local_date, end),
                        opener=POLL,
                        today=ctx.today(),
                        created_at=ctx.now(),
                    )
                )
                assert session is not None
            for voter in voters:
                if not session.is_participant(voter):
                    await ctx.repo.sessions.add_joiner(session.id, voter, ctx.now())
                    await queue_reminder(ctx, group, session, voter)
            if not merged:
                await queue_pings(ctx, group, session)
            session = await ctx.repo.sessions.session(session.id)
        await ctx.repo.polls.close_poll(poll.id, session.id if session else None)
    for chat_ctx in await ctx.each_chat_of(group):
        chat_ctx.actions.append(
            ClosePoll(chat_ctx.origin.chat, str(poll.id), chat_ctx._(POLL_CLOSED))
        )
        if best is None and not (_by_command(ctx) and chat_ctx.origin.chat == ctx.origin.chat):
            pass  # nobody voted: the poll just ends, no post (/today says it closed)
        elif late:
            chat_ctx.post(_late_announcement(chat_ctx, poll, best))
        else:
            chat_ctx.post(*_announcement(chat_ctx, poll, best, session, merged))
        ctx.actions.extend(chat_ctx.actions)


async def _planned_session(
    ctx: Context, group: CityGroup, poll: VenuePoll, best: PollOption, start: time, end: time
) -> Session | None:
    """An open session at the winning venue on the poll's day that overlaps its hours."""
    if best.venue_id is None:
        return None
    for session in await sessions_of_day(ctx, group, poll.local_date):
        if session.venue_id == best.venue_id and overlaps(session, start, end):
            return session
    return None


def _by_command(ctx: Context) -> bool:
    """Whether a person closed the poll (/close), not the schedule."""
    return ctx.origin.sender.ref.platform != "core"


def _tally(poll: VenuePoll) -> str:
    counts = poll.counts()
    return ", ".join(
        f"{o.name} {counts[o.position]}"
        for o in sorted(poll.options, key=lambda o: -counts[o.position])
    )


def _late_announcement(ctx: Context, poll: VenuePoll, best: PollOption | None) -> str:
    text = ctx._(
        "The poll of {day} closes only now, after its day is over, so no session is opened from it."
    ).format(day=ctx.t.date(poll.local_date))
    if best is not None:
        text += "\n" + ctx._("Votes: {tally}").format(tally=_tally(poll))
    return text


def _announcement(
    ctx: Context,
    poll: VenuePoll,
    best: PollOption | None,
    session: Session | None,
    merged: bool,
) -> tuple[str, tuple[Button, ...]]:
    if best is None or session is None:  # only who closed it by command is told
        text = ctx._("The poll is closed without votes, so there is no session from it today.")
        text += "\n" + ctx._("Anyone can still open one with {open}.").format(open=ctx.cmd("open"))
        return text, ()
    counts = poll.counts()
    tally = _tally(poll)
    lines = [
        ctx.ngettext(
            "The poll is closed: {place} wins with {count} vote.",
            "The poll is closed: {place} wins with {count} votes.",
            counts[best.position],
        ).format(place=best.name, count=counts[best.position]),
        ctx._("Votes: {tally}").format(tally=tally),
    ]
    if merged:
        lines.append(
            ctx._("The voters join session {number} there: {time}, {opened_by}.").format(
                number=session.number,
                time=ctx.t.time_range(session.start, session.end),
                opened_by=opened_by(ctx.t, session),
            )
        )
    else:
        lines.append(
            ctx._("Today's session {number}: {place}, {time}.").format(
                number=session.number,
                place=session.place,
                time=ctx.t.time_range(session.start, session.end),
            )
        )
    coming = [] if session.from_poll else [session.opener.name]
    coming += [j.name for j in session.joiners]
    lines.append(ctx._("Coming: {names}.").format(names=", ".join(coming)))
    return "\n".join(lines), (join_button(ctx, session),)
