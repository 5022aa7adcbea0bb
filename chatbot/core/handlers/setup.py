"""Making a chat a city group, and the group's settings."""

from __future__ import annotations

import functools
import re
import zoneinfo
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.handlers import linking
from chatbot.core.handlers.cancelling import keep_wall_clock
from chatbot.core.handlers.common import bad_input
from chatbot.core.model import CityGroup, GroupSettings
from chatbot.core.parsing import (
    BadInput,
    parse_amount,
    parse_clock,
    parse_distance_km,
    parse_hours,
    parse_weekdays,
)
from chatbot.core.text import excerpt, fold
from chatbot.i18n import Translator

MAX_CITY_NAME = 64
_LANGUAGE_NAMES = {
    "de": "de",
    "deutsch": "de",
    "german": "de",
    "en": "en",
    "english": "en",
    "englisch": "en",
}


def setup_example(ctx: Context) -> str:
    return ctx.cmd("setup") + " " + ctx._("Duisburg | Europe/Berlin | de")


# abbreviations people give for a zone, and the zone to take instead: an abbreviation
# names an offset (and maybe its summer time), not the rules of a place
_ABBREVIATIONS = {
    "cet": "Europe/Berlin",
    "cest": "Europe/Berlin",
    "mez": "Europe/Berlin",
    "mesz": "Europe/Berlin",
    "met": "Europe/Berlin",
    "wet": "Europe/Lisbon",
    "west": "Europe/Lisbon",
    "eet": "Europe/Athens",
    "eest": "Europe/Athens",
    "gmt": "Europe/London",
    "bst": "Europe/London",
    "est": "America/New_York",
    "edt": "America/New_York",
    "cst": "America/Chicago",
    "cdt": "America/Chicago",
    "mst": "America/Denver",
    "mdt": "America/Denver",
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
}
_OFFSET_RE = re.compile(r"(?:utc|gmt)?\s*[-+−]\s*[0-9]{1,2}(?::?[0-9]{2})?", re.IGNORECASE)


@functools.cache
def _canonical_zones() -> frozenset[str]:
    """The zones tzdata lists for places (zone.tab), without the legacy aliases such
    as America/Buenos_Aires; empty where the system has no zone.tab."""
    for directory in zoneinfo.TZPATH:
        try:
            text = (Path(directory) / "zone.tab").read_text(encoding="utf-8")
        except OSError:
            continue
        rows = (line.split("\t") for line in text.splitlines() if not line.startswith("#"))
        return frozenset(row[2].strip() for row in rows if len(row) > 2)
    return frozenset()


def _zone_key(name: str) -> str:
    return "_".join(fold(name).replace("_", " ").split())


def parse_timezone(ctx: Context, text: str, example: str) -> str:
    """An IANA zone in any case ("europe/berlin"), or a city with spaces ("New York",
    "Buenos Aires" -> America/Argentina/Buenos_Aires); abbreviations and offsets
    ("CET", "MEZ", "GMT+1") are refused with the zone to take instead."""
    name = " ".join(text.split())
    wanted = _zone_key(name)
    if wanted in _ABBREVIATIONS or _OFFSET_RE.fullmatch(name):
        raise UserError(
            ctx._(
                "{value} is a timezone abbreviation, not a zone; take e.g. {zone}"
                " (the clock changes for summer time are in the zone)."
            ).format(value=name, zone=_ABBREVIATIONS.get(wanted, "Europe/Berlin")),
            example=example,
        )
    zones = {_zone_key(z): z for z in available_timezones()}
    if wanted == "utc":
        return "UTC"
    if "/" in wanted and wanted in zones:
        return zones[wanted]
    matches = sorted(z for key, z in zones.items() if key.endswith("/" + wanted))
    if len(matches) > 1:  # a place's own name before legacy aliases ("US/Eastern")
        matches = [z for z in matches if z in _canonical_zones()] or matches
    if len(matches) == 1:
        ZoneInfo(matches[0])  # tzdata has it
        return matches[0]
    text = ctx._("“{value}” is not a timezone I know. Use an IANA name like Europe/Berlin.")
    if matches:
        text += " " + ctx._("Did you mean: {names}?").format(names=", ".join(matches[:5]))
    raise UserError(text.format(value=excerpt(name)), example=example)


def parse_language(ctx: Context, text: str, example: str) -> str:
    language = _LANGUAGE_NAMES.get(fold(text.strip()))
    if language is None:
        raise UserError(
            ctx._("“{value}” is not a language I speak. Choose de or en.").format(value=text),
            example=example,
        )
    return language


async def setup(ctx: Context, args: str) -> None:
    if ctx.origin.is_private:
        raise UserError(ctx._("A city group is set up in a group chat, not in a private chat."))
    await ctx.require_admin()
    parts = [p.strip() for p in args.split("|")]
    example = setup_example(ctx)
    if not parts[0]:
        raise UserError(ctx._("Please name the city."), example=example)
    if len(parts) > 3:
        raise UserError(ctx._("Too many parts: city, timezone, language."), example=example)
    name = parts[0]
    if len(name) > MAX_CITY_NAME:
        raise UserError(
            ctx._("The city's name is too long: at most {limit} characters.").format(
                limit=MAX_CITY_NAME
            ),
            example=example,
        )
    current = (
        ctx.group.settings
        if ctx.group
        else GroupSettings(language=ctx.t.language, timezone=ctx.default_timezone)
    )
    timezone = parse_timezone(ctx, parts[1], example) if len(parts) > 1 and parts[1] else None
    language = parse_language(ctx, parts[2], example) if len(parts) > 2 and parts[2] else None
    settings = current.with_(
        timezone=timezone or current.timezone,
        language=language or current.language,
        poll_since=ctx.now(),
    )
    async with ctx.repo.atomic():
        if ctx.group is None:
            group = await ctx.repo.cities.create_group(ctx.origin.chat, name, settings, ctx.now())
            if ctx.origin.chat_title:  # shown among the city's chats (/settings)
                await ctx.repo.cities.link_chat(ctx.origin.chat, group.id, linking.chat_title(ctx))
        else:
            group = CityGroup(ctx.group.id, name, settings)
            await ctx.repo.cities.update_group(group)
            if settings.timezone != ctx.group.settings.timezone:
                await keep_wall_clock(ctx, group)
    first = ctx.group is None
    ctx.group = group
    ctx.t = Translator(settings.language)
    if not first:  # set up again: name, zone or language changed, and only that is said
        ctx.reply(
            ctx._("Saved: city group {city} ({timezone}, {language}).").format(
                city=group.name, timezone=settings.timezone, language=settings.language
            )
        )
        return
    change = ctx.cmd("settings") + " "
    ctx.reply(
        "\n".join(
            [
                ctx._("This chat is now the city group {city} ({timezone}, {language}).").format(
                    city=group.name, timezone=settings.timezone, language=settings.language
                ),
                ctx._(
                    "Next: an admin adds venues with {venue}; then anyone opens a session"
                    " with {open}."
                ).format(venue=ctx.cmd("venue") + " " + ctx._("add"), open=ctx.cmd("open")),
                _poll_state(ctx, settings, change),
                _public_state(ctx, settings, change),
            ]
        )
    )


def _poll_state(ctx: Context, s: GroupSettings, change: str) -> str:
    if s.poll_time is None:
        return ctx._("The daily venue poll is off; {command} turns it on.").format(
            command=change + ctx._("poll 8:00")
        )
    return ctx._("The daily venue poll is on at {time}; {command} turns it off.").format(
        time=ctx.t.time(s.poll_time), command=change + ctx._("poll off")
    )


def _public_state(ctx: Context, s: GroupSettings, change: str) -> str:
    if s.public:
        return ctx._(
            "The group is listed publicly: visitors and nearby searches from other cities"
            " see its sessions; {command} changes that."
        ).format(command=change + ctx._("public off"))
    return ctx._("The group is not listed publicly; {command} changes that.").format(
        command=change + ctx._("public on")
    )


_SETTING_KEYS = {
    "language": "language",
    "sprache": "language",
    "timezone": "timezone",
    "zeitzone": "timezone",
    "hours": "hours",
    "zeiten": "hours",
    "stunden": "hours",
    "duration": "duration",
    "dauer": "duration",
    "public": "public",
    "oeffentlich": "public",
    "poll": "poll",
    "umfrage": "poll",
    "close": "close",
    "schluss": "close",
    "days": "days",
    "tage": "days",
    "radius": "radius",
    "umkreis": "radius",
    "travel": "travel",
    "anreise": "travel",
    "invite": "invite",
    "einladung": "invite",
}
_ON = {"on", "an", "ja", "yes", "true", "1"}
_OFF = {"off", "aus", "nein", "no", "false", "0", "none", "keine", "now", "jetzt"}


def describe_settings(ctx: Context, group: CityGroup) -> str:
    """The group's settings as labelled lines, each with the command that changes it."""
    s = group.settings
    _ = ctx._
    hours = ctx.t.time_range(*s.default_hours) if s.default_hours else _("starts at once")
    language = _("German") if s.language == "de" else _("English")
    rows = [
        (
            _("Language: {value}").format(value=language),
            _("language en") if s.language == "de" else _("language de"),
        ),
        (_("Timezone: {value}").format(value=s.timezone), _("timezone Europe/Berlin")),
        (
            _("Time of a session opened without a time: {value}").format(value=hours),
            _("hours 9-13"),
        ),
        (
            _("Length of a session opened without an end: {value}").format(
                value=ctx.t.duration(s.default_duration_minutes)
            ),
            _("duration 4"),
        ),
        (
            _("Listed publicly (in other cities’ nearby searches too): {value}").format(
                value=_("yes") if s.public else _("no")
            ),
            _("public off") if s.public else _("public on"),
        ),
        (
            _("Daily venue poll: {value}").format(
                value=ctx.t.time(s.poll_time) if s.poll_time else _("off")
            ),
            _("poll 8:00") if s.poll_time is None else _("poll off"),
        ),
        (_("Poll closes: {value}").format(value=ctx.t.time(s.poll_close)), _("close 10:00")),
        (
            _("Poll days: {value}").format(
                value=", ".join(ctx.t.weekday_short(d) for d in s.poll_days)
            ),
            _("days mo-fr"),
        ),
        (
            _("Radius for nearby searches: {value}").format(
                value=ctx.t.distance(s.radius_km * 1000)
            ),
            _("radius 5"),
        ),
        (
            _("Travel time (a poll's session starts this long after its close): {value}").format(
                value=ctx.t.duration(s.travel_minutes)
            ),
            _("travel 30"),
        ),
        (
            _("Link to join the chat, on the city's web page: {value}").format(
                value=s.invite_url or _("none")
            ),
            _("invite off") if s.invite_url else _("invite https://t.me/+AbCdEf123"),
        ),
    ]
    lines = [_("Settings of {city}:").format(city=group.name)]
    for line, change in rows:
        lines.append(
            "• "
            + line
            + " "
            + _("(change: {example})").format(example=ctx.cmd("settings") + " " + change)
        )
    lines.append(_("Only admins change settings."))
    return "\n".join(lines)


def settings_example(ctx: Context) -> str:
    return ctx.cmd("settings") + " " + ctx._("hours 9-13")


async def settings(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    words = args.split(maxsplit=1)
    if not words:
        text = describe_settings(ctx, group)
        chats = await ctx.repo.cities.linked_chats(group.id)
        if len(chats) > 1:  # one city in several chats (/link)
            text += "\n" + "\n".join(linking.settings_lines(ctx, chats))
        ctx.reply(text)
        return
    await ctx.require_admin()
    key = _SETTING_KEYS.get(fold(words[0]))
    example = settings_example(ctx)
    if key is None:
        raise UserError(
            ctx._(
                "“{value}” is not a setting. Settings: language, timezone, hours, duration,"
                " public, poll, close, days, radius, travel, invite."
            ).format(value=words[0]),
            example=example,
        )
    if len(words) < 2:
        raise UserError(ctx._("Which value?"), example=example)
    value = words[1].strip()
    s = group.settings
    if key == "language":
        s = s.with_(language=parse_language(ctx, value, example))
    elif key == "timezone":
        example = ctx.cmd("settings") + " " + ctx._("timezone Europe/Berlin")
        s = s.with_(timezone=parse_timezone(ctx, value, example))
    elif key == "hours":
        if fold(value) in _OFF:
            s = s.with_(default_hours=None)
        else:
            try:
                s = s.with_(default_hours=parse_hours(value))
            except BadInput as error:
                raise bad_input(ctx, error, example) from None
    elif key == "duration":
        hours = parse_amount(value, "h") or 0.0
        if not 0.5 <= hours <= 12:
            raise UserError(
                ctx._("The duration is given in hours, from 0.5 to 12."),
                example=ctx.cmd("settings") + " " + ctx._("duration 4"),
            )
        s = s.with_(default_duration_minutes=int(hours * 60))
    elif key == "public":
        if fold(value) not in _ON | _OFF:
            raise UserError(
                ctx._("Please answer on or off."),
                example=ctx.cmd("settings") + " " + ctx._("public off"),
            )
        s = s.with_(public=fold(value) in _ON)
    elif key in ("poll", "close"):
        example = ctx.cmd("settings") + " " + ctx._("poll 8:00")
        try:
            if key == "poll" and fold(value) in _OFF:
                s = s.with_(poll_time=None)
            elif key == "poll":
                s = s.with_(poll_time=parse_clock(value))
            else:
                s = s.with_(poll_close=parse_clock(value))
        except BadInput as error:
            raise bad_input(ctx, error, example) from None
        if s.poll_time is not None and s.poll_close <= s.poll_time:
            raise UserError(
                ctx._("The poll must close after it opens ({poll} before {close}).").format(
                    poll=ctx.t.time(s.poll_time), close=ctx.t.time(s.poll_close)
                ),
                example=ctx.cmd("settings") + " " + ctx._("close 10:00"),
            )
    elif key == "radius":
        km = parse_distance_km(value) or 0.0
        if not 0.5 <= km <= 100:
            raise UserError(
                ctx._("The radius is given in km, from 0.5 to 100."),
                example=ctx.cmd("settings") + " " + ctx._("radius 5"),
            )
        s = s.with_(radius_km=km)
    elif key == "travel":
        minutes = parse_amount(value, "min(?:uten|utes)?")
        if minutes is None or minutes != int(minutes) or not 0 <= minutes <= 180:
            raise UserError(
                ctx._("The travel time is given in minutes, from 0 to 180."),
                example=ctx.cmd("settings") + " " + ctx._("travel 30"),
            )
        s = s.with_(travel_minutes=int(minutes))
    elif key == "invite":
        s = s.with_(invite_url=None if fold(value) in _OFF else parse_invite(ctx, value))
    elif key == "days":
        try:
            s = s.with_(poll_days=parse_weekdays(value))
        except BadInput as error:
            raise bad_input(ctx, error, ctx.cmd("settings") + " " + ctx._("days mo-fr")) from None
    if key in ("poll", "close", "days", "timezone"):
        s = s.with_(poll_since=ctx.now())  # takes effect for the next occurrence
    updated = CityGroup(group.id, group.name, s)
    async with ctx.repo.atomic():
        await ctx.repo.cities.update_group(updated)
        if s.timezone != group.settings.timezone:
            await keep_wall_clock(ctx, updated)  # sessions keep their wall-clock times
    ctx.group = updated
    ctx.t = Translator(s.language)
    ctx.reply(saved(ctx, key, s))


# the hosts of a chat's invite link: the city's web page links there, so an admin of
# one chat cannot put an arbitrary site on the operator's pages
INVITE_HOSTS = ("t.me", "telegram.me", "matrix.to")


def parse_invite(ctx: Context, value: str) -> str:
    """An invite link: https, on t.me, telegram.me or matrix.to."""
    url = value.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = urlsplit(""), None
    if (
        parts.scheme != "https"
        or (parts.hostname or "") not in INVITE_HOSTS
        or parts.username
        or port
        or len(url) > 300
        or any(c.isspace() for c in url)
    ):
        raise UserError(
            ctx._(
                "An invite link starts with https:// and leads to t.me, telegram.me or"
                " matrix.to; {off} removes it."
            ).format(off=ctx.cmd("settings") + " " + ctx._("invite off")),
            example=ctx.cmd("settings") + " " + ctx._("invite https://t.me/+AbCdEf123"),
        )
    return url


def saved(ctx: Context, key: str, s: GroupSettings) -> str:
    """The confirmation of one changed setting: that setting, not all of them."""
    _ = ctx._
    if key == "language":
        return _("Saved: language {value}.").format(
            value=_("German") if s.language == "de" else _("English")
        )
    if key == "timezone":
        return _("Saved: timezone {value}.").format(value=s.timezone)
    if key == "hours":
        if s.default_hours is None:
            return _("Saved: a session opened without a time starts at once.")
        return _("Saved: a session opened without a time runs {value}.").format(
            value=ctx.t.time_range(*s.default_hours)
        )
    if key == "duration":
        return _("Saved: a session opened without an end lasts {value}.").format(
            value=ctx.t.duration(s.default_duration_minutes)
        )
    if key == "public":
        return _("Saved: listed publicly.") if s.public else _("Saved: not listed publicly.")
    if key in ("poll", "close"):
        if s.poll_time is None:
            return _("Saved: no daily venue poll (it would close at {close}).").format(
                close=ctx.t.time(s.poll_close)
            )
        return _("Saved: poll at {time} (closes {close}).").format(
            time=ctx.t.time(s.poll_time), close=ctx.t.time(s.poll_close)
        )
    if key == "days":
        days = ", ".join(ctx.t.weekday_short(d) for d in s.poll_days)
        return _("Saved: poll days {days}.").format(days=days).replace("..", ".")
    if key == "radius":
        return _("Saved: radius for nearby searches {value}.").format(
            value=ctx.t.distance(s.radius_km * 1000)
        )
    if key == "invite":
        if s.invite_url is None:
            return _("Saved: no link to join the chat on the web page.")
        return _("Saved: the web page links to {url} to join the chat.").format(url=s.invite_url)
    assert key == "travel"
    return _("Saved: a poll's session starts at least {value} after the close.").format(
        value=ctx.t.duration(s.travel_minutes)
    )
