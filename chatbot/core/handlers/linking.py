"""One city in several chats: `/link` gives a one-time code in a city's chat, `/link
CODE` in another chat (on any platform) makes that chat part of the same city, and
`/unlink` lets a chat leave it again.

A city is one state: its sessions, poll, venues and settings are the same from every
linked chat, and its news is posted in each (`Context.each_chat_of`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

from chatbot.core.actions import ClosePoll
from chatbot.core.commands import spec_for
from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.handlers.polls import POLL_CLOSED
from chatbot.core.model import LinkedChat, PollState
from chatbot.core.text import excerpt, one_line
from chatbot.i18n import Translator

# no 0/O, 1/I/L: a code is read off one screen and typed on another
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
CODE_VALID = timedelta(minutes=15)
EXAMPLE_CODE = "K7M-4QX"
MAX_TITLE = 100
PLATFORM_NAMES = {"telegram": "Telegram", "matrix": "Matrix", "console": "Console"}


def new_code() -> str:
    """Six letters and digits, shown in two halves: "K7M-4QX"."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return code[:3] + "-" + code[3:]


def normalize_code(text: str) -> str | None:
    """What someone typed ("k7m 4qx", "K7M-4QX") as the code's six characters; None
    when it cannot be a code."""
    code = "".join(ch for ch in text.upper() if ch not in " -–_.")
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def chat_label(chat: LinkedChat) -> str:
    """ "Matrix: Coworking Ruhr"; without a title, the chat's id."""
    platform = PLATFORM_NAMES.get(chat.chat.platform, chat.chat.platform)
    return f"{platform}: {chat.title or chat.chat.id}"


def chats_line(ctx: Context, chats: Sequence[LinkedChat]) -> str:
    """The chats of the city, this one marked."""
    labels = []
    for chat in chats:
        label = chat_label(chat)
        if chat.chat == ctx.origin.chat:
            label = ctx._("{chat} (this chat)").format(chat=label)
        labels.append(label)
    return ", ".join(labels)


def chat_title(ctx: Context) -> str | None:
    title = one_line(ctx.origin.chat_title or "")
    return excerpt(title, MAX_TITLE) if title else None


def _typed(ctx: Context, prefix: str, code: str) -> str:
    return f"{prefix}{spec_for('link').name(ctx.t.language)} {code}"


def _link_example(ctx: Context) -> str:
    return ctx.cmd("link") + " " + EXAMPLE_CODE


async def link(ctx: Context, args: str) -> None:
    """`/link`: a code for this city; `/link CODE`: this chat joins that code's city."""
    if ctx.origin.is_private:
        raise UserError(
            ctx._(
                "Chats are linked in group chats: an admin sends {link} in the city's group"
                " chat, and {link} CODE in the other group chat."
            ).format(link=ctx.cmd("link"))
        )
    if args.strip():
        await _use_code(ctx, args)
    else:
        await _give_code(ctx)


async def _give_code(ctx: Context) -> None:
    if ctx.group is None:
        raise UserError(
            ctx._(
                "This chat is not a city group yet. To make it part of a city that has a"
                " chat already, an admin sends {link} in that chat and then {link} CODE here."
                " Or an admin sets this chat up as a city of its own:"
            ).format(link=ctx.cmd("link")),
            example=ctx.cmd("setup") + " " + ctx._("Duisburg | Europe/Berlin | de"),
        )
    group = ctx.group
    await ctx.require_admin()
    now = ctx.now()
    async with ctx.repo.atomic():
        while True:
            code = new_code()
            stored = await ctx.repo.cities.add_link_code(
                group.id, code_hash(normalize_code(code) or code), now, now + CODE_VALID
            )
            if stored:
                break
        if chat_title(ctx):
            await ctx.repo.cities.link_chat(ctx.origin.chat, group.id, chat_title(ctx))
    ctx.reply(
        "\n".join(
            [
                ctx._("Link code for {city}: {code}").format(city=group.name, code=code),
                ctx._(
                    "It is valid for 15 minutes and works once. An admin of the other chat"
                    " (a Telegram group or a Matrix room with me in it) sends there:"
                ),
                ctx._("{command} (in a Matrix room: {matrix_command})").format(
                    command=_typed(ctx, "/", code), matrix_command=_typed(ctx, "!", code)
                ),
                ctx._(
                    "Then both chats are one city: the same sessions, poll, venues and"
                    " settings, and news is posted in each."
                ),
            ]
        )
    )


async def _use_code(ctx: Context, args: str) -> None:
    await ctx.require_admin()
    code = normalize_code(args)
    if code is None:
        raise UserError(
            ctx._(
                "“{value}” is not a link code. A code has six letters and digits, like {code}."
            ).format(value=excerpt(args), code=EXAMPLE_CODE),
            example=_link_example(ctx),
        )
    hashed = code_hash(code)
    found = await ctx.repo.cities.link_code(hashed)
    ask_again = ctx._("Ask an admin of the city's chat for a new one: {link} there.").format(
        link=ctx.cmd("link")
    )
    if found is None:
        raise UserError(
            ctx._("I don't know the link code {code}.").format(code=code[:3] + "-" + code[3:])
            + " "
            + ask_again
        )
    if found.used_at is not None:
        raise UserError(
            ctx._("That link code has been used already; each code works once.") + " " + ask_again
        )
    if found.expires_at <= ctx.now():
        raise UserError(
            ctx._("That link code has expired: codes are valid for 15 minutes.") + " " + ask_again
        )
    city = await ctx.repo.cities.group(found.group_id)
    if city is None:
        raise UserError(ctx._("That city does not exist any more.") + " " + ask_again)
    old = ctx.group
    if old is not None and old.id == city.id:
        raise UserError(ctx._("This chat is part of {city} already.").format(city=city.name))
    if old is not None and await ctx.repo.cities.group_has_data(old.id):
        raise UserError(
            ctx._(
                "This chat is the city group {city} already, with its own sessions or"
                " members' data, so it cannot join another city: two cities cannot be merged."
                " The other way round works if the other chat has no sessions yet: {link}"
                " here, and {link} CODE there."
            ).format(city=old.name, link=ctx.cmd("link"))
        )
    async with ctx.repo.atomic():
        if not await ctx.repo.cities.use_link_code(hashed, ctx.now()):
            raise UserError(
                ctx._("That link code has been used already; each code works once.")
                + " "
                + ask_again
            )
        await ctx.repo.cities.link_chat(ctx.origin.chat, city.id, chat_title(ctx))
    ctx.group = city
    ctx.t = Translator(city.settings.language)
    chats = await ctx.repo.cities.linked_chats(city.id)
    here = next(c for c in chats if c.chat == ctx.origin.chat)
    for chat_ctx in await ctx.each_chat_of(city):
        if chat_ctx.origin.chat == ctx.origin.chat:
            continue
        chat_ctx.post(
            chat_ctx._(
                "{chat} is now part of {city}: sessions, the poll and their news are shared"
                " there. {unlink} in that chat undoes it."
            ).format(chat=chat_label(here), city=city.name, unlink=_unlink_there(chat_ctx, here))
        )
        ctx.actions.extend(chat_ctx.actions)
    lines = [
        ctx._("This chat is now part of the city {city}: {chats}.").format(
            city=city.name, chats=chats_line(ctx, chats)
        ),
        ctx._(
            "Sessions, the poll, venues and settings are the same in every chat of the"
            " city; {today} shows today's sessions."
        ).format(today=ctx.cmd("today")),
    ]
    if old is not None:
        lines.append(
            ctx._(
                "It no longer belongs to {city}; that city's settings and venues are not used here."
            ).format(city=old.name)
        )
    ctx.reply("\n".join(lines))


def _unlink_there(ctx: Context, chat: LinkedChat) -> str:
    """The unlink command as it is typed in that chat."""
    prefix = ctx.prefix(chat.chat.platform)
    return prefix + spec_for("unlink").name(ctx.t.language)


async def unlink(ctx: Context, args: str) -> None:
    """`/unlink`: this chat leaves its city; the city keeps its data and other chats."""
    if ctx.origin.is_private:
        raise UserError(ctx._("This works in a group chat, not in a private chat."))
    group = ctx.require_group()
    await ctx.require_admin()
    chats = await ctx.repo.cities.linked_chats(group.id)
    others = [c for c in chats if c.chat != ctx.origin.chat]
    if not others:
        raise UserError(
            ctx._(
                "This is the only chat of {city}, so it cannot leave it: the city would have"
                " no chat left. {link} links another chat first."
            ).format(city=group.name, link=ctx.cmd("link"))
        )
    mine = [c for c in chats if c.chat == ctx.origin.chat]
    here = mine[0] if mine else LinkedChat(ctx.origin.chat, chat_title(ctx))
    poll = await ctx.repo.polls.poll_on(group.id, ctx.today())
    async with ctx.repo.atomic():
        await ctx.repo.cities.unlink_chat(ctx.origin.chat)
    if poll is not None and poll.state == PollState.OPEN:
        # the poll goes on in the other chats; its copy here would take votes for nothing
        ctx.actions.append(ClosePoll(ctx.origin.chat, str(poll.id), ctx._(POLL_CLOSED)))
    for chat_ctx in await ctx.each_chat_of(group):
        chat_ctx.post(
            chat_ctx._("{chat} has left {city}; its news is no longer posted there.").format(
                chat=chat_label(here), city=group.name
            )
        )
        ctx.actions.extend(chat_ctx.actions)
    ctx.reply(
        "\n".join(
            [
                ctx._("This chat has left the city {city}.").format(city=group.name),
                ctx._(
                    "The city keeps its sessions, venues and settings, and its chats: {chats}."
                ).format(chats=", ".join(chat_label(c) for c in others)),
                ctx._(
                    "{setup} makes this chat a city of its own; {link} CODE links it to a"
                    " city again."
                ).format(setup=ctx.cmd("setup"), link=ctx.cmd("link")),
            ]
        )
    )


def settings_lines(ctx: Context, chats: Sequence[LinkedChat]) -> list[str]:
    """The city's chats, for /settings (when there is more than one)."""
    return [
        ctx._("Chats of this city: {chats}").format(chats=chats_line(ctx, chats)),
        ctx._(
            "{link} gives a code to link another chat (Telegram or Matrix); {unlink} lets a"
            " chat leave the city."
        ).format(link=ctx.cmd("link"), unlink=ctx.cmd("unlink")),
    ]
