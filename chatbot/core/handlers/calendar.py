"""/calendar: a secret address of a personal calendar feed (the sessions the person
opened or joined, in every city), and the links to a city's public web page.

The web page is served by `chatbot.web`; the core only knows its base URL
(`Context.public_url`, from the operator's settings through `Bot`).
"""

from __future__ import annotations

import secrets

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.model import CityGroup, Session
from chatbot.core.text import excerpt, fold
from chatbot.web.slugs import slugs_of

_NEW = {"new", "neu", "erneuern", "renew"}
_OFF = {"off", "aus", "delete", "loeschen"}


async def city_url(ctx: Context, group: CityGroup) -> str | None:
    """The city's public page, if the operator set up the web page and the group is
    listed publicly (the page of a group that is not is not found)."""
    if not ctx.public_url or not group.settings.public:
        return None
    slug = slugs_of(await ctx.repo.cities.groups()).get(group.id)
    return f"{ctx.public_url.rstrip('/')}/{slug}" if slug else None


async def session_link(ctx: Context, group: CityGroup, session: Session) -> str | None:
    """The session on the city's page (its anchor), or None without a public page."""
    url = await city_url(ctx, group)
    return f"{url}#s{session.id}" if url else None


async def calendar(ctx: Context, args: str) -> None:
    if not ctx.origin.is_private:
        text = ctx._(
            "Your personal calendar has a secret address: ask me for it in a private chat"
            " with {command}."
        ).format(command=ctx.cmd("calendar"))
        url = await city_url(ctx, ctx.group) if ctx.group else None
        if url:
            text += "\n" + ctx._("The city's public calendar: {url}").format(url=url + ".ics")
        ctx.reply(text)
        return
    if not ctx.public_url:
        raise UserError(
            ctx._(
                "The operator of this bot has not set up its web page, so there is no"
                " calendar address yet."
            )
        )
    me = ctx.origin.sender.ref
    word = fold(args.strip())
    if word in _OFF:
        async with ctx.repo.atomic():
            dropped = await ctx.repo.calendar.drop_calendar_token(me)
        if dropped:
            ctx.reply(ctx._("Done: your calendar address no longer works."))
        else:
            ctx.reply(ctx._("You have no calendar address."))
        return
    if word and word not in _NEW:
        raise UserError(
            ctx._("I don't understand “{value}”.").format(value=excerpt(args)),
            example=ctx.cmd("calendar") + " " + ctx._("new"),
        )
    token = await ctx.repo.calendar.calendar_token(me)
    if token is None or word in _NEW:
        token = secrets.token_urlsafe(24)
        async with ctx.repo.atomic():
            await ctx.repo.calendar.set_calendar_token(me, token, ctx.now())
    url = f"{ctx.public_url.rstrip('/')}/me/{token}.ics"
    ctx.reply(
        ctx._(
            "Your calendar of the sessions you opened or joined, in every city:\n{url}\n"
            "Add it to your calendar app as a subscription. Keep it to yourself: whoever has"
            " the address sees your sessions. {new} gives you a new address (the old one"
            " stops working); {off} deletes it."
        ).format(
            url=url,
            new=ctx.cmd("calendar") + " " + ctx._("new"),
            off=ctx.cmd("calendar") + " " + ctx._("off"),
        )
    )
