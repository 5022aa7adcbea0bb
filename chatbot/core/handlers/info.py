"""Help and greetings."""

from __future__ import annotations

import difflib

from chatbot.core.commands import COMMANDS, CommandSpec, find_command, spec_for
from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.text import excerpt, fold


async def help_text(ctx: Context, args: str) -> None:
    """/help: what works here (in a group: admin commands last); /help COMMAND: that
    command's syntax and two examples."""
    wanted = args.strip().lstrip("/!").strip()
    if wanted:
        ctx.reply(_one_command(ctx, wanted))
        return
    if ctx.origin.is_private:
        ctx.reply(_private_help(ctx))
        return
    prefix = ctx.origin.command_prefix
    language = ctx.t.language
    lines = [ctx._("What I can do (German and English command names both work):")]
    everyone = [s for s in COMMANDS if not s.admin_only and s.key != "help"]
    for spec in everyone:
        lines.append(f"{prefix}{spec.name(language)} – {ctx._(spec.summary)}")
    lines.append(f"{ctx.cmd('help')} – {ctx._('this help')}")
    lines.append(_one_command_hint(ctx))
    admins = [s for s in COMMANDS if s.admin_only]
    if admins:
        lines.append("")
        lines.append(ctx._("For admins:"))
        for spec in admins:
            lines.append(f"{prefix}{spec.name(language)} – {ctx._(spec.summary)}")
    lines.append("")
    lines.append(
        ctx._(
            "To find sessions near you, share a location: in a group as a reply to one of my"
            " messages (attach → location), or in a private chat with me."
        )
    )
    lines.append(
        ctx._("Example: {example}").format(
            example=ctx.cmd("open")
            + " "
            + ctx._("10-14 {venue} - tax return").format(venue=ctx._("Café Museum"))
        )
    )
    if ctx.group is None:
        lines.append(
            ctx._("This chat is not a city group yet. An admin sets it up:")
            + " "
            + ctx.cmd("setup")
            + " "
            + ctx._("Duisburg | Europe/Berlin | de")
        )
    ctx.reply("\n".join(lines))


def _one_command_hint(ctx: Context) -> str:
    return ctx._("{help} COMMAND shows one command with examples.").format(help=ctx.cmd("help"))


def _private_help(ctx: Context) -> str:
    """In a private chat: only what works here."""
    lines = [ctx._("In a private chat with me:")]
    for spec in COMMANDS:
        if spec.private:
            lines.append(ctx._(spec.private).format(command=ctx.cmd(spec.key)))
    lines.append(
        ctx._(
            "Share a location with me and I list today's sessions near it, in every"
            " publicly listed city."
        )
    )
    lines.append(ctx._("Everything else works in your city's group chat."))
    return "\n".join(lines)


def _command_names(ctx: Context) -> dict[str, str]:
    """Every command as it is typed here, by key: {"open": "/neu", ...}."""
    return {spec.key: ctx.cmd(spec.key) for spec in COMMANDS}


def takes_no_arguments(ctx: Context, key: str) -> UserError:
    """What a command that takes no arguments says when it gets some: its usage."""
    spec = spec_for(key)
    return UserError(
        ctx._("{command} takes nothing after it.").format(command=ctx.cmd(key))
        + "\n"
        + _one_command(ctx, spec.en)
    )


def _one_command(ctx: Context, wanted: str) -> str:
    spec = find_command(wanted.split()[0])
    if spec is None:
        return _unknown_command(ctx, wanted)
    names = _command_names(ctx)
    other = spec.en if ctx.t.language == "de" else spec.de
    heading = f"{ctx.cmd(spec.key)} ({ctx.origin.command_prefix}{other})"
    if spec.admin_only:
        heading += " – " + ctx._("for admins")
    lines = [heading]
    usage = ctx._(spec.usage) if spec.usage else "{command} – " + ctx._(spec.summary)
    lines.append(usage.format(command=ctx.cmd(spec.key), **names))
    if spec.examples:
        lines.append(ctx._("Examples:"))
        for example in spec.examples:
            lines.append("• " + ctx._(example).format(command=ctx.cmd(spec.key), **names))
    return "\n".join(lines)


def _unknown_command(ctx: Context, wanted: str) -> str:
    """The closest command names (German, English), shown as typed in this chat."""
    key = fold(wanted.split()[0])
    by_name: dict[str, CommandSpec] = {}
    for spec in COMMANDS:
        for name in (spec.en, spec.de, *spec.aliases):
            by_name[name] = spec
    close = difflib.get_close_matches(key, list(by_name), n=6, cutoff=0.6)
    found: list[str] = []
    for name in close:
        shown = ctx.cmd(by_name[name].key)
        if shown not in found:
            found.append(shown)
    text = ctx._("I don't know the command “{value}”.").format(value=excerpt(wanted, 30))
    if found:
        return text + " " + ctx._("Did you mean: {names}?").format(names=", ".join(found[:3]))
    return text + " " + ctx._("{help} lists what I can do.").format(help=ctx.cmd("help"))


def greet(ctx: Context) -> None:
    """The bot was added to a chat."""
    text = ctx._("Hello! I help this group cowork in cafés.")
    if ctx.group is None:
        text += "\n" + ctx._("An admin makes this chat a city group:") + "\n"
        text += ctx.cmd("setup") + " " + ctx._("Duisburg | Europe/Berlin | de")
    text += "\n" + ctx._("{help} lists what I can do.").format(help=ctx.cmd("help"))
    ctx.post(text)
