"""Share a location, find a session nearby.

A shared position is used for the answer and then forgotten (it stays in memory for a
few minutes so that `/open here` can use it). The answer lists today's live sessions
within the radius, nearest first, from this city group and every publicly listed one;
a visitor in a private chat sees those of every public group.
"""

from __future__ import annotations

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import LocationEvent
from chatbot.core.handlers.common import bad_input
from chatbot.core.handlers.sessions import join_button
from chatbot.core.handlers.venues import add_shared_venue
from chatbot.core.model import CityGroup, Session
from chatbot.core.parsing import BadInput, check_coordinates, parse_distance_km

DEFAULT_RADIUS_KM = 5.0
MAX_RADIUS_KM = 100.0
FAR_CAP_M = 200_000.0
MAX_RESULTS = 10


def nearby_example(ctx: Context) -> str:
    return ctx.cmd("nearby") + " 2"


async def ask_for_location(ctx: Context, args: str) -> None:
    """/nearby [km]: ask for a location (and remember the radius for it)."""
    if args.strip():
        # "2", "2 km", "2,5km", "500 m"; ASCII digits only: "١", "1e9" are no radius
        km = parse_distance_km(args)
        if km is None or not 0.1 <= km <= MAX_RADIUS_KM:
            raise UserError(
                ctx._("The radius is given in km, from 0.1 to {max}.").format(
                    max=int(MAX_RADIUS_KM)
                ),
                example=nearby_example(ctx),
            )
        ctx.memory.want_radius(ctx.origin.sender.ref, km, ctx.now())
    if ctx.origin.is_private:
        ctx.reply(
            ctx._("Share your location with me and I'll list today's sessions near it."),
            ask_location=True,
        )
    else:
        ctx.reply(
            ctx._(
                "Reply to this message with your location (attach → location), and I'll list"
                " today's sessions near it. Your position is not stored."
            )
        )


def radius_km(ctx: Context) -> float:
    wanted = ctx.memory.take_radius(ctx.origin.sender.ref, ctx.now())
    if wanted is not None:
        return wanted
    return ctx.group.settings.radius_km if ctx.group else DEFAULT_RADIUS_KM


async def answer_location(ctx: Context, event: LocationEvent) -> None:
    try:
        latitude, longitude = check_coordinates(event.latitude, event.longitude)
    except BadInput as error:
        raise bad_input(ctx, error, "geo:51.4344,6.7623") from None
    me = ctx.origin.sender.ref
    if ctx.group is not None and event.title and await _adding_venue(ctx, event):
        return
    ctx.memory.remember_position(me, latitude, longitude, ctx.now())
    radius = radius_km(ctx)
    group_id = ctx.group.id if ctx.group else None
    found = await ctx.repo.sessions.live_sessions_near(
        latitude, longitude, radius * 1000, now=ctx.now(), group_id=group_id, limit=MAX_RESULTS
    )
    if not found:
        far = await ctx.repo.sessions.nearest_live_session(
            latitude, longitude, now=ctx.now(), group_id=group_id, cap_m=FAR_CAP_M
        )
        text = ctx._("No session today within {radius}.").format(
            radius=ctx.t.distance(radius * 1000)
        )
        if far is not None:
            session, distance = far
            text += " " + ctx._("The nearest is {place} ({city}), {time}, {distance} away.").format(
                place=session.place,
                city=await _city(ctx, session),
                time=ctx.t.time_range(session.start, session.end),
                distance=ctx.t.distance(distance),
            )
            ctx.reply(text, (join_button(ctx, session),))
            return
        text += "\n" + ctx._("Open one yourself: {example}").format(
            example=ctx.cmd("open") + " " + ctx._("here 10-14")
        )
        ctx.reply(text)
        return
    lines = [
        ctx._("Today's sessions within {radius}, nearest first:").format(
            radius=ctx.t.distance(radius * 1000)
        )
    ]
    buttons = []
    for session, distance in found:  # each with its own number, as its city shows it
        lines.append(
            ctx._("{number}. {place} ({city}), {time} · {distance}").format(
                number=session.number,
                place=session.place,
                city=await _city(ctx, session),
                time=ctx.t.time_range(session.start, session.end),
                distance=ctx.t.distance(distance),
            )
        )
        buttons.append(join_button(ctx, session))
    ctx.reply("\n".join(lines), tuple(buttons))


async def _city(ctx: Context, session: Session) -> str:
    if ctx.group is not None and session.group_id == ctx.group.id:
        return ctx.group.name
    group: CityGroup | None = await ctx.repo.cities.group(session.group_id)
    return group.name if group else "?"


async def _adding_venue(ctx: Context, event: LocationEvent) -> bool:
    """A shared venue (name and position) after an admin's `/venue add` adds it."""
    if not ctx.memory.take_venue(ctx.origin.chat, ctx.origin.sender.ref, ctx.now()):
        return False
    await add_shared_venue(ctx, event)
    return True
