"""The venue list: anyone reads it, admins keep it."""

from __future__ import annotations

from dataclasses import replace

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import LocationEvent
from chatbot.core.handlers.cancelling import venue_removed
from chatbot.core.handlers.common import bad_input
from chatbot.core.model import Venue
from chatbot.core.names import MAX_NAME, clean_name, name_key, name_problem
from chatbot.core.parsing import BadInput, match_venue, parse_coordinates, parse_tags
from chatbot.core.render import venue_line
from chatbot.core.text import excerpt, fold, one_line, parse_number

MAX_VENUE_NAME = MAX_NAME
CLEAR = "-"  # `/venue edit 1 address -` removes the address
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
    venues = await ctx.repo.venues.of_group(group.id)
    if not venues:
        ctx.reply(ctx._("No venues yet. An admin adds one:") + "\n" + add_example(ctx))
        return
    lines = [ctx._("Venues of {city}:").format(city=group.name)]
    lines += [venue_line(ctx, v) for v in venues]
    ctx.reply("\n".join(lines))


def _name_refusal(ctx: Context, name: str, reason: str) -> str:
    """Why a venue cannot be called that, in the chat's language (see names.REASONS)."""
    command = ctx.cmd("open")
    texts = {
        "empty": ctx._("The venue needs a name."),
        "long": ctx._("The name is too long: at most {limit} characters."),
        "pipe": ctx._("A venue's name cannot contain “|”: it separates the venue's parts."),
        "number": ctx._("A venue's name cannot be just a number."),
        "separator": ctx._(
            "“{name}”: a lone dash cannot be part of a venue's name: in {command}, “ - ”"
            " starts the topic."
        ),
        "keyword": ctx._(
            "“{name}”: a venue's name cannot contain “here”: {command} here means the"
            " location you shared."
        ),
        "every": ctx._(
            "“{name}”: a venue's name cannot contain “every”: in {command} it starts a weekly"
            " session."
        ),
        "weekday": ctx._(
            "“{name}”: a venue's name cannot contain a weekday (mon, tue, monday …):"
            " {command} would read it as the day."
        ),
        "day": ctx._(
            "“{name}”: a venue's name cannot contain “today” or “tomorrow”: {command} would"
            " read it as the day."
        ),
        "series": ctx._(
            "“{name}”: a venue's name cannot contain “series”: the commands read it as a"
            " weekly series."
        ),
        "max": ctx._(
            "“{name}”: a venue's name cannot contain “max” and a number: {command} would read"
            " it as a limit of people."
        ),
        "id": ctx._(
            "“{name}”: a venue's name cannot contain a word like s12: the commands read it as"
            " a session."
        ),
        "date": ctx._(
            "“{name}”: a venue's name cannot contain a date: {command} would read it as the day."
        ),
        "time": ctx._(
            "“{name}”: a venue's name cannot contain a time (9:30, 10-14, 14 h): {command}"
            " would read it as the time."
        ),
    }
    text = texts.get(reason) or ctx._(
        "“{name}”: {command} would read part of this name as something else."
    )
    return text.format(name=excerpt(name), command=command, limit=MAX_VENUE_NAME)


def _checked_name(ctx: Context, text: str, others: list[Venue], example: str) -> str:
    """A venue's name, cleaned (no invisible characters, single spaces), that /open can
    find and that no other venue's name looks like."""
    name = clean_name(text)
    reason = name_problem(name)
    if reason is not None:
        raise UserError(_name_refusal(ctx, text if reason == "empty" else name, reason), example)
    key = name_key(name)
    same = next((v for v in others if name_key(v.name) == key), None)
    if same is not None:
        raise UserError(
            ctx._("There is a venue called “{name}” already.").format(name=same.name),
            example=example,
        )
    return name


def _checked_text(ctx: Context, text: str, limit: int, example: str) -> str:
    """An address or notes: one line, at most `limit` characters."""
    text = one_line(text)
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
    venues = list(await ctx.repo.venues.of_group(group_id))
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
    venues = list(await ctx.repo.venues.of_group(group.id))
    name = _checked_name(ctx, event.title or "", venues, example)
    address = _checked_text(ctx, event.address or "", MAX_ADDRESS, example)
    await _store_new_venue(ctx, Venue(0, group.id, name, event.latitude, event.longitude, address))


async def _store_new_venue(ctx: Context, venue: Venue) -> None:
    """Store a checked venue and say which number /venues gives it."""
    async with ctx.repo.atomic():
        added = await ctx.repo.venues.add_venue(venue, ctx.now())
    ctx.reply(ctx._("Added venue {number}: {name}.").format(number=added.number, name=added.name))


async def _find(ctx: Context, group_id: int, query: str, example: str) -> Venue:
    venues = await ctx.repo.venues.of_group(group_id)
    match = match_venue(query, venues)
    if match.venue is not None:
        return match.venue
    query = query.strip()
    if query.isascii() and query.isdigit():
        raise UserError(
            ctx._("There is no venue number {number}. {venues} lists them.").format(
                number=excerpt(query, 12), venues=ctx.cmd("venues")
            ),
            example=example,
        )
    raise UserError(
        ctx._("I don't know a venue “{query}”. {venues} lists the venues.").format(
            query=excerpt(query), venues=ctx.cmd("venues")
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


def _field_example(ctx: Context, field: str, number: int) -> str:
    examples = {
        "name": ctx._("edit {number} name Café Museum"),
        "coordinates": ctx._("edit {number} coordinates 51.4344, 6.7623"),
        "address": ctx._("edit {number} address Königstraße 1, Duisburg"),
        "tags": ctx._("edit {number} tags wifi, power"),
        "notes": ctx._("edit {number} notes upstairs, ask for the Wi-Fi password"),
    }
    return ctx.cmd("venue") + " " + examples[field].format(number=number)


async def _edit(ctx: Context, group_id: int, text: str) -> None:
    example = edit_example(ctx)
    words = text.split(maxsplit=2)
    if len(words) < 2 or parse_number(words[0]) is None:
        raise UserError(
            ctx._("Say which venue (its number), which field and the new value."), example=example
        )
    venue = await _find(ctx, group_id, words[0], example)
    field = _FIELDS.get(fold(words[1]))
    if field is None:
        raise UserError(
            ctx._(
                "“{value}” is not a venue field. Fields: name, coordinates, address, tags, notes."
            ).format(value=excerpt(words[1], 20)),
            example=example,
        )
    example = _field_example(ctx, field, venue.number)
    value = one_line(words[2]) if len(words) > 2 else ""
    if not value:
        asks = {
            "name": ctx._("Give the new name."),
            "coordinates": ctx._("Give the new coordinates: latitude, longitude."),
            "address": ctx._("Give the new address, or “-” to remove it."),
            "tags": ctx._("Give the new tags (wifi, power, quiet, food), or “-” to remove them."),
            "notes": ctx._("Give the new notes, or “-” to remove them."),
        }
        raise UserError(asks[field], example=example)
    if value == CLEAR and field in ("address", "tags", "notes"):
        await _clear(ctx, venue, field)
        return
    try:
        if field == "name":
            others = [v for v in await ctx.repo.venues.of_group(group_id) if v.id != venue.id]
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
        await ctx.repo.venues.update_venue(venue)
    ctx.reply(ctx._("Saved venue {name}.").format(name=venue.name))


async def _clear(ctx: Context, venue: Venue, field: str) -> None:
    """`/venue edit N address -`: the field is emptied, and the reply says so."""
    if field == "address":
        venue = replace(venue, address="")
        text = ctx._("Removed the address of {name}.")
    elif field == "tags":
        venue = replace(venue, tags=())
        text = ctx._("Removed the tags of {name}.")
    else:
        venue = replace(venue, notes="")
        text = ctx._("Removed the notes of {name}.")
    async with ctx.repo.atomic():
        await ctx.repo.venues.update_venue(venue)
    ctx.reply(text.format(name=venue.name))


async def _remove(ctx: Context, group_id: int, text: str) -> None:
    example = ctx.cmd("venue") + " " + ctx._("remove 2")
    if not text.strip():
        raise UserError(ctx._("Which venue? Give its number."), example=example)
    venue = await _find(ctx, group_id, text, example)
    group = ctx.require_group()
    async with ctx.repo.atomic():
        consequences = await venue_removed(ctx, group, venue)
        await ctx.repo.venues.remove_venue(venue.id)
    text = ctx._("Removed venue {number}: {name}.").format(number=venue.number, name=venue.name)
    ctx.reply("\n".join([text, *consequences]))
