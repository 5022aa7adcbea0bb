"""How sessions and venues read in a chat, in the chat's language."""

from __future__ import annotations

from collections.abc import Sequence

from chatbot.core.context import Context
from chatbot.core.model import PollState, Session, Venue, VenuePoll
from chatbot.i18n import N_, Translator

TAG_LABELS = {
    "wifi": N_("Wi-Fi"),
    "power": N_("power outlets"),
    "quiet": N_("quiet"),
    "food": N_("food"),
}


def names(people: Sequence[str]) -> str:
    return ", ".join(people)


def time_range(ctx: Context, session: Session) -> str:
    return ctx.t.time_range(session.start, session.end)


def opened_by(t: Translator, session: Session) -> str:
    """ "opened by Ben", or where a poll opened it, "from today's poll"."""
    if session.from_poll:
        return t.gettext("from the venue poll")
    return t.gettext("opened by {name}").format(name=session.opener.name)


def session_block(ctx: Context, session: Session, address: str = "") -> str:
    """One session with its own number: place and time, the venue's address, who opened
    it, who comes, the topic."""
    lines = [
        ctx._("{number}. {place}, {time}").format(
            number=session.number, place=session.place, time=time_range(ctx, session)
        ),
        *([f"   {address}"] if address else []),
        "   " + opened_by(ctx.t, session),
    ]
    lines += [f"   {line}" for line in attendance(ctx, session)]
    if session.topic:
        lines.append("   " + ctx._("Topic: {topic}").format(topic=session.topic))
    if session.standing_id is not None:
        lines.append(
            "   "
            + ctx._("every {weekday}").format(weekday=ctx.t.weekday(session.local_date.weekday()))
        )
    return "\n".join(lines)


def attendance(ctx: Context, session: Session) -> list[str]:
    """Who comes (the opener counted), "3/4" where seats are limited, and who waits.
    Nothing while only the opener comes and there is no limit."""
    coming = [p.name for p in session.coming]
    if session.seats is None and not session.joiners:
        return []
    if session.seats is None:
        line = ctx.ngettext(
            "{count} coming: {names}", "{count} coming: {names}", len(coming)
        ).format(count=len(coming), names=names(coming))
    else:
        line = ctx._("{count}/{seats} coming: {names}").format(
            count=len(coming), seats=session.seats, names=names(coming) or "–"
        )
    lines = [line]
    if session.waiting:
        lines.append(
            ctx._("Waiting list: {names}").format(names=names([p.name for p in session.waiting]))
        )
    return lines


def venue_line(ctx: Context, venue: Venue) -> str:
    """A venue with its own number (never reused), its address and attributes."""
    line = ctx._("{number}. {name}").format(number=venue.number, name=venue.name)
    details = []
    if venue.address:
        details.append(venue.address)
    details.extend(ctx._(TAG_LABELS[tag]) for tag in venue.tags if tag in TAG_LABELS)
    if venue.notes:
        details.append(venue.notes)
    if details:
        line += " · " + " · ".join(details)
    return line


def poll_state_line(ctx: Context, poll: VenuePoll | None) -> str | None:
    """One line for /today about today's poll."""
    if poll is None:
        return None
    if poll.state == PollState.OPEN:
        votes = len(poll.votes)
        return ctx.ngettext(
            "Poll open until {time}: {count} vote so far. Vote with {vote} N.",
            "Poll open until {time}: {count} votes so far. Vote with {vote} N.",
            votes,
        ).format(
            time=ctx.t.time(poll.closes_at.astimezone(ctx.zone).time()),
            count=votes,
            vote=ctx.cmd("vote"),
        )
    best = poll.winner()
    if best is None:
        return ctx._("Today's poll closed without votes.")
    return ctx._("Today's poll is closed: {place} won.").format(place=best.name)
