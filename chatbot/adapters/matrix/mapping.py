"""Matrix events to neutral core events, and core actions to Matrix message content.

Pure functions on plain JSON (the event dicts of /sync and /messages), so they are
tested without a homeserver.
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from chatbot.core.actions import Button, EditText, SendPoll, SendVenue
from chatbot.core.events import CommandEvent, Event, LocationEvent, Origin, TextEvent

log = logging.getLogger(__name__)

PLATFORM = "matrix"
PREFIX = "!"  # Element reserves "/" for its own commands; "/" that arrives is accepted too
COMMAND_PREFIXES = ("!", "/")
HTML_FORMAT = "org.matrix.custom.html"
MAX_TEXT = 30_000  # characters; an event may have 65,536 bytes in all
LOCATION_KEYS = ("org.matrix.msc3488.location", "m.location")
BEACON_TYPES = ("org.matrix.msc3672.beacon", "m.beacon")

# Polls (MSC3381). Sent with the unstable names Element reads and sends (its answer
# ids are opaque strings; ours are "1".."10", the numbers of /stimme N); responses are
# accepted in both the unstable and the stable shape.
TEXT = "org.matrix.msc1767.text"  # MSC1767 text block (unstable: a plain string)
POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
POLL_DISCLOSED = "org.matrix.msc3381.poll.disclosed"
POLL_START_TYPES = (POLL_START, "m.poll.start")
POLL_RESPONSE_TYPES = (POLL_RESPONSE, "m.poll.response")
POLL_END_TYPES = (POLL_END, "m.poll.end")
POLL_KEY = "chatbot.poll_key"  # the core's poll id in our own start events (see adapter)

_GEO_RE = re.compile(
    r"^geo:(?P<lat>[-+]?\d+(?:\.\d+)?),(?P<lon>[-+]?\d+(?:\.\d+)?)(?:,[-+]?\d+(?:\.\d+)?)?"
    r"(?P<params>(?:;[^;]*)*)$",
    re.IGNORECASE,
)
_MENTION_SEPARATOR = re.compile(r"[:,]?\s+")
_COMMAND_RE = re.compile(r"^[!/](?P<name>[^\W\d_][\w-]*)(?:\s+(?P<args>.*))?$", re.DOTALL)


# --- incoming -----------------------------------------------------------------------------


def strip_reply_fallback(body: str) -> str:
    """Drop a reply fallback: the quoted lines ("> ...") before the first blank line."""
    if not body.startswith(">"):
        return body
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(">"):
            continue
        if line.strip() == "":
            return "\n".join(lines[index + 1 :])
        break
    return body  # no blank line after the quote: not a fallback, keep it all


def in_reply_to(content: Mapping[str, Any]) -> str | None:
    """The event id a message replies to (``m.relates_to.m.in_reply_to``), if any."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict):
        return None
    reply = relates.get("m.in_reply_to")
    event_id = reply.get("event_id") if isinstance(reply, dict) else None
    return event_id if isinstance(event_id, str) else None


def mentions(content: Mapping[str, Any], user_id: str) -> bool:
    """Does the message mention this user: ``m.mentions`` (Element since 2023) or, from
    older clients, a pill (a matrix.to link to the user) in the HTML body?"""
    block = content.get("m.mentions")
    if isinstance(block, dict):
        users = block.get("user_ids")
        if isinstance(users, list) and user_id in users:
            return True
    formatted = content.get("formatted_body")
    if isinstance(formatted, str) and "matrix.to/#/" in formatted:
        return any(
            f"matrix.to/#/{form}" in formatted
            for form in (user_id, quote(user_id, safe=""), quote(user_id, safe="@:"))
        )
    return False


def strip_mention(body: str, names: Iterable[str]) -> str:
    """ "coworkbot: !heute" -> "!heute": the plain text of a mention pill before a
    command (Element writes the display name and ": "); the longest name first."""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        if body[: len(name)].casefold() == name.casefold():
            match = _MENTION_SEPARATOR.match(body, len(name))
            if match is not None:
                return body[match.end() :]
    return body


def parse_command(text: str) -> tuple[str, str] | None:
    """ "!heute", "/neu 10-14 Café Museum" -> (name, args); None if not a command."""
    match = _COMMAND_RE.match(text.strip())
    if match is None:
        return None
    return match.group("name"), (match.group("args") or "").strip()


def parse_geo_uri(
    uri: str, *, check_range: bool = True
) -> tuple[float, float, float | None] | None:
    """RFC 5870 "geo:51.4344,6.7623;u=35" -> (lat, lon, accuracy in m); None if invalid.
    ``check_range=False``: a well-formed URI off the map (geo:91,6) is returned as it
    is, for the core to answer with a translated error."""
    match = _GEO_RE.match(uri.strip())
    if match is None:
        return None
    latitude, longitude = float(match.group("lat")), float(match.group("lon"))
    if check_range and not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    accuracy: float | None = None
    for param in match.group("params").split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "u":
            try:
                accuracy = float(value)
            except ValueError:
                return None
            if not math.isfinite(accuracy) or accuracy < 0:
                return None
    return latitude, longitude, accuracy


def location_of(content: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(geo URI, description) of an m.location message or a beacon point."""
    for key in LOCATION_KEYS:
        block = content.get(key)
        if isinstance(block, dict) and isinstance(block.get("uri"), str):
            description = block.get("description")
            return block["uri"], description if isinstance(description, str) else None
    uri = content.get("geo_uri")
    return (uri if isinstance(uri, str) else None), None


def relation(content: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(rel_type, event_id) of the event's m.relates_to, if any."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict):
        return None, None
    rel_type = relates.get("rel_type")
    event_id = relates.get("event_id")
    return (
        rel_type if isinstance(rel_type, str) else None,
        event_id if isinstance(event_id, str) else None,
    )


def thread_root(content: Mapping[str, Any]) -> str | None:
    rel_type, event_id = relation(content)
    return event_id if rel_type == "m.thread" else None


def sent_at(event: Mapping[str, Any]) -> datetime | None:
    """When the sender's homeserver received the event (origin_server_ts)."""
    ts = event.get("origin_server_ts")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts <= 0:
        return None
    try:
        return datetime.fromtimestamp(ts / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def message_event(
    event: Mapping[str, Any],
    origin: Origin,
    *,
    me: str | None = None,
    my_names: Iterable[str] = (),
    edit: bool = False,
) -> Event | None:
    """An m.room.message as a core event; None for what the bot does not act on
    (notices of other bots, emotes, media, edits, invalid locations).

    As Element sends them: a reply's fallback quote is dropped (only in a reply); a
    mention of the bot (``me``, by one of ``my_names``) before a command is dropped
    when the message mentions the bot. ``edit=True``: an edit (``m.replace``) is
    read as its new content (the adapter decides whether an edit is acted on)."""
    content = event.get("content") or {}
    if not isinstance(content, dict):
        return None
    rel_type, _ = relation(content)
    if rel_type == "m.replace":
        new_content = content.get("m.new_content")
        if not edit or not isinstance(new_content, dict):
            return None  # an edit: the original was handled already
        content = new_content
    msgtype = content.get("msgtype")
    if msgtype == "m.text":
        body = content.get("body")
        if not isinstance(body, str):
            return None
        if in_reply_to(content) is not None:
            body = strip_reply_fallback(body)
        text = body.strip()
        if me is not None and text[:1] not in COMMAND_PREFIXES and mentions(content, me):
            text = strip_mention(text, my_names).strip()
        command = parse_command(text) if text[:1] in COMMAND_PREFIXES else None
        if command is not None:
            return CommandEvent(origin, command[0], command[1])
        return TextEvent(origin, text) if text else None
    if msgtype == "m.location":
        return location_event(content, origin, live=False)
    return None


def location_event(content: Mapping[str, Any], origin: Origin, *, live: bool) -> Event | None:
    """A location (m.location message or beacon point) as a core event; None without a
    well-formed geo URI. Coordinates off the map are passed on: the core says what is
    wrong with them, in the chat's language."""
    uri, description = location_of(content)
    parsed = parse_geo_uri(uri, check_range=False) if uri else None
    if parsed is None:
        log.debug("ignoring a location without a valid geo URI in %s", origin.chat.id)
        return None
    latitude, longitude, accuracy = parsed
    return LocationEvent(
        origin,
        latitude,
        longitude,
        accuracy_m=accuracy,
        live=live,
        title=description.strip() if description and description.strip() else None,
    )


# --- outgoing -----------------------------------------------------------------------------


def button_command(button: Button, prefix: str = PREFIX) -> str:
    command = prefix + (button.command_name or button.command)
    return command + (" " + button.args if button.args else "")


def _html(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def text_content(
    text: str,
    buttons: Iterable[Button] = (),
    *,
    reply_to: str | None = None,
    thread: str | None = None,
    msgtype: str = "m.notice",
) -> dict[str, Any]:
    """A bot message: plain body, HTML with <br> for newlines, buttons as command lines
    (Matrix has no buttons): "→ !dabei 1"."""
    text = _clip(text)
    commands = [button_command(b) for b in buttons]
    body = "\n".join([text, *(f"→ {c}" for c in commands)])
    formatted = "<br>".join(
        [_html(text), *(f"→ <code>{html.escape(c, quote=False)}</code>" for c in commands)]
    )
    content: dict[str, Any] = {
        "msgtype": msgtype,
        "body": body,
        "format": HTML_FORMAT,
        "formatted_body": formatted,
        "m.mentions": {},  # nobody is pinged by the bot's wording
    }
    relates = relates_to(reply_to=reply_to, thread=thread)
    if relates:
        content["m.relates_to"] = relates
    return content


def relates_to(*, reply_to: str | None, thread: str | None) -> dict[str, Any] | None:
    if thread:
        return {
            "rel_type": "m.thread",
            "event_id": thread,
            "is_falling_back": reply_to is None,
            "m.in_reply_to": {"event_id": reply_to or thread},
        }
    if reply_to:
        return {"m.in_reply_to": {"event_id": reply_to}}
    return None


def edit_content(action: EditText) -> dict[str, Any]:
    new = text_content(action.text, action.buttons)
    content = dict(new)
    content["body"] = "* " + new["body"]
    content["formatted_body"] = "* " + new["formatted_body"]
    content["m.new_content"] = new
    content["m.relates_to"] = {"rel_type": "m.replace", "event_id": action.message_id}
    return content


def geo_uri(latitude: float, longitude: float) -> str:
    return f"geo:{latitude:.6f},{longitude:.6f}"


def venue_content(action: SendVenue) -> dict[str, Any]:
    """An m.location pin with a description, as Element sends a pinned place."""
    uri = geo_uri(action.latitude, action.longitude)
    label = action.title + (", " + action.address if action.address else "")
    body = f"📍 {label}\n{uri}"
    content: dict[str, Any] = {
        "msgtype": "m.location",
        "body": body,
        "geo_uri": uri,
        "org.matrix.msc3488.location": {"uri": uri, "description": action.title},
        "org.matrix.msc3488.asset": {"type": "m.pin"},
        "org.matrix.msc1767.text": body,
    }
    if action.thread:
        content["m.relates_to"] = relates_to(reply_to=None, thread=action.thread)
    return content


def poll_answer_id(index: int) -> str:
    """The answer id of option ``index`` (0-based): "1", "2", ... (the options' labels
    carry the venues' own numbers, which /vote N takes)."""
    return str(index + 1)


def poll_start_content(action: SendPoll) -> dict[str, Any]:
    """An MSC3381 poll start as Element sends it (disclosed, one selection), with a
    text fallback that lists the options as labelled (the question names the vote
    command)."""
    fallback = _clip("\n".join([action.question, *action.options]))
    content: dict[str, Any] = {
        POLL_START: {
            "question": {TEXT: action.question},
            "kind": POLL_DISCLOSED,
            "max_selections": 1,
            "answers": [
                {"id": poll_answer_id(index), TEXT: option}
                for index, option in enumerate(action.options)
            ],
        },
        TEXT: fallback,
        "body": fallback,
        POLL_KEY: action.poll_key,
    }
    if action.thread:
        content["m.relates_to"] = relates_to(reply_to=None, thread=action.thread)
    return content


def poll_end_content(start_event_id: str, text: str) -> dict[str, Any]:
    """An MSC3381 poll end (unstable shape) referencing the start, with a text fallback."""
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": start_event_id},
        POLL_END: {},
        TEXT: text,
        "body": text,
    }


def poll_response(event: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(start event id, the selected answer ids) of a poll response, unstable
    (``{"org.matrix.msc3381.poll.response": {"answers": [...]}}``) or stable
    (``{"m.selections": [...]}``); None if it does not reference a poll start. A
    malformed selection is an empty one (MSC3381: a spoiled vote counts as none)."""
    content = event.get("content")
    if not isinstance(content, dict):
        return None
    rel_type, start = relation(content)
    if rel_type != "m.reference" or not start:
        return None
    if event.get("type") == POLL_RESPONSE:
        block = content.get(POLL_RESPONSE)
        answers = block.get("answers") if isinstance(block, dict) else None
    else:
        answers = content.get("m.selections")
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        return start, []
    return start, list(answers)


def selected_indexes(answers: list[str], count: int) -> tuple[int, ...]:
    """The 0-based option index of a response's selection (max_selections is 1); an
    empty selection, or one with an answer id the poll does not have, is none."""
    valid = {poll_answer_id(index): index for index in range(count)}
    if not answers or any(answer not in valid for answer in answers):
        return ()
    return (valid[answers[0]],)
