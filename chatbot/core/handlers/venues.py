"""The venue list: anyone reads it, admins keep it."""

from __future__ import annotations

from dataclasses import replace

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import LocationEvent
from chatbot.core.handlers.common import bad_input
from chatbot.core.model import Venue
from chatbot.core.parsing import BadInput, match_venue, parse_coordinates, parse_tags
from chatbot.core.render import venue_line
from chatbot.core.text import fold

MAX_VENUE_NAME = 80
MAX_ADDRESS = 200
MAX_NOTES = 300


def add_example(ctx: Context) -> str:
    return (
        ctx.cmd("venue")
        + " "
        + ctx._("add Café Museum | 51.4344, 6.7623 | Königstraße 1, Duisburg | wifi, power")
    )


def edit_example(ctx: Context) -> str:
    return ctx.cmd("venue") + " " + ctx._("edit 1 address Königstraße 1, Duisburg")


async def list_venues(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    venues = await ctx.repo.venues(group.id)
    if not venues:
        ctx.reply(ctx._("No venues yet. An admin adds one:") + "\n" + add_example(ctx))
        return
    lines = [ctx._("Venues of {city}:").format(city=group.name)]
    lines += [venue_line(ctx, n, v) for n, v in enumerate(venues, start=1)]
    ctx.reply("\n".join(lines))


def _checked_name(ctx: Context, name: str, others: list[Venue], example: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise UserError(ctx._("The venue needs a name."), example=example)
    if name.isdigit():
        raise UserError(ctx._("A venue's name cannot be just a number."), example=example)
    if len(name) > MAX_VENUE_NAME:
        raise UserError(
            ctx._("The name is too long: at most {limit} characters.").format(limit=MAX_VENUE_NAME),
            example=example,
        )
    if any(fold(v.name) == fold(name) for v in others):
        raise UserError(
            ctx._("There is a venue called “{name}” already.").format(name=name), example=example
        )
    return name


def _checked_text(ctx: Context, text: str, limit: int, example: str) -> str:
    text = text.strip()
    if len(text) > limit:
        raise UserError(
            ctx._("That text is too long: at most {limit} characters.").format(limit=limit),
            example=example,
        )
    return text


async def manage_venue(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    await ctx.require_admin()
    words = args.split(maxsplit=1)
    action = fold(words[0]) if words else ""
    rest = words[1] if len(words) > 1 else ""
    if action in ("add", "neu", "hinzufuegen"):
        await _add(ctx, group.id, rest)
    elif action in ("edit", "aendern", "bearbeiten"):
        await _edit(ctx, group.id, rest)
    elif action in ("remove", "delete", "entfernen", "loeschen"):
        await _remove(ctx, group.id, rest)
    else:
        raise UserError(
            ctx._("Please say add, edit or remove."),
            example=add_example(ctx),
        )


async def _add(ctx: Context, group_id: int, text: str) -> None:
    example = add_example(ctx)
    if not text.strip():
        # the admin may share the venue instead (Telegram: attach → location → a place)
        ctx.memory.want_venue(ctx.origin.chat, ctx.origin.sender.ref, ctx.now())
        ctx.reply(
            ctx._("Share the venue as a location with a name (reply to this message), or write:")
            + "\n"
            + example
        )
        return
    parts = [p.strip() for p in text.split("|")]
    if len(parts) < 2 or len(parts) > 5:
        raise UserError(
            ctx._("A venue needs a name and coordinates, separated by |."), example=example
        )
    venues = list(await ctx.repo.venues(group_id))
    name = _checked_name(ctx, parts[0], venues, example)
    try:
        latitude, longitude = parse_coordinates(parts[1])
        tags = parse_tags(parts[3]) if len(parts) > 3 else ()
    except BadInput as error:
        raise bad_input(ctx, error, example) from None
    address = _checked_text(ctx, parts[2], MAX_ADDRESS, example) if len(parts) > 2 else ""
    notes = _checked_text(ctx, parts[4], MAX_NOTES, example) if len(parts) > 4 else ""
    await _store_new_venue(ctx, Venue(0, group_id, name, latitude, longitude, address, tags, notes))


async def add_shared_venue(ctx: Context, event: LocationEvent) -> None:
    """An admin shared a venue (name, address, position) after `/venue add`."""
    group = ctx.require_group()
    await ctx.require_admin()
    example = add_example(ctx)
    venues = list(await ctx.repo.venues(group.id))
    name = _checked_name(ctx, event.title or "", venues, example)
    address = _checked_text(ctx, event.address or "", MAX_ADDRESS, example)
    await _store_new_venue(ctx, Venue(0, group.id, name, event.latitude, event.longitude, address))


async def _store_new_venue(ctx: Context, venue: Venue) -> None:
    """Store a checked venue and say which number /venues gives it."""
    async with ctx.repo.atomic():
        added = await ctx.repo.add_venue(venue)
    venues = await ctx.repo.venues(venue.group_id)
    number = next(n for n, v in enumerate(venues, start=1) if v.id == added.id)
    ctx.reply(ctx._("Added venue {number}: {name}.").format(number=number, name=venue.name))


async def _find(ctx: Context, group_id: int, query: str, example: str) -> Venue:
    venues = await ctx.repo.venues(group_id)
    match = match_venue(query, venues)
    if match.venue is not None:
        return match.venue
    if query.strip().isdigit():
        raise UserError(
            ctx._("There is no venue number {number}. {venues} lists them.").format(
                number=query.strip(), venues=ctx.cmd("venues")
            ),
            example=example,
        )
    raise UserError(
        ctx._("I don't know a venue “{query}”. {venues} lists the venues.").format(
            query=query, venues=ctx.cmd("venues")
        ),
        example=example,
    )


_FIELDS = {
    "name": "name",
    "coordinates": "coordinates",
    "koordinaten": "coordinates",
    "position": "coordinates",
    "address": "address",
    "adresse": "address",
    "tags": "tags",
    "notes": "notes",
    "notiz": "notes",
    "notizen": "notes",
}


async def _edit(ctx: Context, group_id: int, text: str) -> None:
    example = edit_example(ctx)
    words = text.split(maxsplit=2)
    if len(words) < 2 or not words[0].isdigit():
        raise UserError(
            ctx._("Say which venue (its number), which field and the new value."), example=example
        )
    venue = await _find(ctx, group_id, words[0], example)
    field = _FIELDS.get(fold(words[1]))
    if field is None:
        raise UserError(
            ctx._(
                "“{value}” is not a venue field. Fields: name, coordinates, address, tags, notes."
            ).format(value=words[1]),
            example=example,
        )
    value = words[2] if len(words) > 2 else ""
    try:
        if field == "name":
            others = [v for v in await ctx.repo.venues(group_id) if v.id != venue.id]
            venue = replace(venue, name=_checked_name(ctx, value, others, example))
        elif field == "coordinates":
            latitude, longitude = parse_coordinates(value)
            venue = replace(venue, latitude=latitude, longitude=longitude)
        elif field == "address":
            venue = replace(venue, address=_checked_text(ctx, value, MAX_ADDRESS, example))
        elif field == "tags":
            venue = replace(venue, tags=parse_tags(value))
        else:
            venue = replace(venue, notes=_checked_text(ctx, value, MAX_NOTES, example))
    except BadInput as error:
        raise bad_input(ctx, error, example) from None
    async with ctx.repo.atomic():
        await ctx.repo.update_venue(venue)
    ctx.reply(ctx._("Saved venue {name}.").format(name=venue.name))


async def _remove(ctx: Context, group_id: int, text: str) -> None:
    example = ctx.cmd("venue") + " " + ctx._("remove 2")
    if not text.strip():
        raise UserError(ctx._("Which venue? Give its number."), example=example)
    venue = await _find(ctx, group_id, text, example)
    async with ctx.repo.atomic():
        await ctx.repo.remove_venue(venue.id)
    ctx.reply(ctx._("Removed venue {name}.").format(name=venue.name))
