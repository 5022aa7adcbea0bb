"""Help and greetings."""

from __future__ import annotations

from chatbot.core.commands import COMMANDS
from chatbot.core.context import Context


async def help_text(ctx: Context, args: str) -> None:
    language = ctx.t.language
    prefix = ctx.origin.command_prefix
    lines = [ctx._("What I can do (German and English command names both work):")]
    for spec in COMMANDS:
        if spec.key == "help":
            continue
        lines.append(f"{prefix}{spec.name(language)} – {ctx._(spec.summary)}")
    lines.append(f"{prefix}{'hilfe' if language == 'de' else 'help'} – {ctx._('this help')}")
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
    if ctx.group is None and not ctx.origin.is_private:
        lines.append(
            ctx._("This chat is not a city group yet. An admin sets it up:")
            + " "
            + ctx.cmd("setup")
            + " "
            + ctx._("Duisburg | Europe/Berlin | de")
        )
    ctx.reply("\n".join(lines))


def greet(ctx: Context) -> None:
    """The bot was added to a chat."""
    text = ctx._("Hello! I help this group cowork in cafés.")
    if ctx.group is None:
        text += "\n" + ctx._("An admin makes this chat a city group:") + "\n"
        text += ctx.cmd("setup") + " " + ctx._("Duisburg | Europe/Berlin | de")
    text += "\n" + ctx._("{help} lists what I can do.").format(help=ctx.cmd("help"))
    ctx.post(text)
