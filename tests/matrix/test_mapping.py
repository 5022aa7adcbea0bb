"""The Matrix adapter's pure parts: commands, reply fallbacks, geo URIs, rendering, the
admin rule, the invite allow-list. No homeserver needed."""

from __future__ import annotations

from typing import Any

import pytest

from chatbot.adapters.matrix.adapter import is_allowed, parse_allowed
from chatbot.adapters.matrix.admins import RoomCreate, is_admin
from chatbot.adapters.matrix.mapping import (
    message_event,
    parse_command,
    parse_geo_uri,
    poll_end_content,
    poll_response,
    poll_start_content,
    selected_indexes,
    strip_reply_fallback,
    text_content,
    venue_content,
)
from chatbot.core.actions import Button, SendPoll, SendVenue
from chatbot.core.events import (
    ChatRef,
    CommandEvent,
    LocationEvent,
    Origin,
    Person,
    PersonRef,
    TextEvent,
)

ORIGIN = Origin(
    chat=ChatRef("matrix", "!room"),
    sender=Person(PersonRef("matrix", "@anna:localhost"), "Anna"),
    is_private=False,
    message_id="$event",
    command_prefix="!",
)


def message(content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": "$e",
        "sender": "@anna:localhost",
        "content": content,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!heute", ("heute", "")),
        ("/heute", ("heute", "")),
        ("!HEUTE", ("HEUTE", "")),
        ("!neu 10-14 Café Museum - Steuern", ("neu", "10-14 Café Museum - Steuern")),
        (
            "  !einrichten Duisburg | Europe/Berlin | de  ",
            ("einrichten", "Duisburg | Europe/Berlin | de"),
        ),
        ("!ort add Café\nMuseum", ("ort", "add Café\nMuseum")),
        ("!stimme 2", ("stimme", "2")),
        ("hallo !heute", None),
        ("! heute", None),
        ("!!", None),
        ("/1", None),
        ("", None),
    ],
)
def test_parse_command(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_command(text) == expected


def test_reply_fallback_is_stripped() -> None:
    body = "> <@bob:localhost> Wo seid ihr?\n> zweite Zeile\n\n!heute"
    assert strip_reply_fallback(body) == "!heute"
    assert strip_reply_fallback("> Zitat ohne Leerzeile") == "> Zitat ohne Leerzeile"
    assert strip_reply_fallback("!heute") == "!heute"
    reply = {"m.relates_to": {"m.in_reply_to": {"event_id": "$question"}}}
    event = message_event(message({"msgtype": "m.text", "body": body, **reply}), ORIGIN)
    assert event == CommandEvent(ORIGIN, "heute", "")
    # a quote that is no reply (no m.in_reply_to) is what the person wrote: kept
    quoted = message_event(message({"msgtype": "m.text", "body": body}), ORIGIN)
    assert quoted == TextEvent(ORIGIN, body)


BOT = "@coworkbot:localhost"
NAMES = ("Coworkbot", "coworkbot", BOT)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # Element: the pill's plain text is the display name and ": ", m.mentions names the bot
        (
            {
                "body": "Coworkbot: !heute",
                "format": "org.matrix.custom.html",
                "formatted_body": f'<a href="https://matrix.to/#/{BOT}">Coworkbot</a>: !heute',
                "m.mentions": {"user_ids": [BOT]},
            },
            CommandEvent(ORIGIN, "heute", ""),
        ),
        # an older client: only the pill in the HTML (percent-encoded id)
        (
            {
                "body": "coworkbot !neu 10-14 Café Museum",
                "format": "org.matrix.custom.html",
                "formatted_body": '<a href="https://matrix.to/#/%40coworkbot%3Alocalhost">'
                "coworkbot</a> !neu 10-14 Café Museum",
            },
            CommandEvent(ORIGIN, "neu", "10-14 Café Museum"),
        ),
        # the full id typed out, with m.mentions
        (
            {"body": f"{BOT}: !hilfe", "m.mentions": {"user_ids": [BOT]}},
            CommandEvent(ORIGIN, "hilfe", ""),
        ),
        # a name at the start without a mention of the bot: plain text
        ({"body": "coworkbot: !heute"}, TextEvent(ORIGIN, "coworkbot: !heute")),
        # someone else mentioned
        (
            {"body": "Ben: !heute", "m.mentions": {"user_ids": ["@ben:localhost"]}},
            TextEvent(ORIGIN, "Ben: !heute"),
        ),
        # the name glued to more letters is not the name
        (
            {"body": "Coworkbots: !heute", "m.mentions": {"user_ids": [BOT]}},
            TextEvent(ORIGIN, "Coworkbots: !heute"),
        ),
    ],
)
def test_a_command_after_a_mention_of_the_bot(content: dict[str, Any], expected: Any) -> None:
    event = message({"msgtype": "m.text", **content})
    assert message_event(event, ORIGIN, me=BOT, my_names=NAMES) == expected


def test_an_edit_is_read_as_its_new_content_only_when_asked() -> None:
    edit = {
        "msgtype": "m.text",
        "body": "* !neu 10-14 Café Museum",
        "m.new_content": {"msgtype": "m.text", "body": "!neu 10-14 Café Museum"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"},
    }
    assert message_event(message(edit), ORIGIN) is None
    assert message_event(message(edit), ORIGIN, edit=True) == CommandEvent(
        ORIGIN, "neu", "10-14 Café Museum"
    )


def test_messages_to_events() -> None:
    assert message_event(message({"msgtype": "m.text", "body": "Hallo"}), ORIGIN) == TextEvent(
        ORIGIN, "Hallo"
    )
    # bots' notices, emotes, edits and empty bodies are not acted on
    assert message_event(message({"msgtype": "m.notice", "body": "!heute"}), ORIGIN) is None
    assert message_event(message({"msgtype": "m.emote", "body": "!heute"}), ORIGIN) is None
    edit = {
        "msgtype": "m.text",
        "body": "* !heute",
        "m.new_content": {"msgtype": "m.text", "body": "!heute"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"},
    }
    assert message_event(message(edit), ORIGIN) is None
    assert message_event(message({"msgtype": "m.text"}), ORIGIN) is None


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("geo:51.4344,6.7623;u=35", (51.4344, 6.7623, 35.0)),
        ("geo:51.4344,6.7623", (51.4344, 6.7623, None)),
        ("geo:-33.9,151.2,12.5;crs=wgs84;u=8.5", (-33.9, 151.2, 8.5)),
        ("GEO:0,0", (0.0, 0.0, None)),
        ("geo:91,6", None),
        ("geo:51,181", None),
        ("geo:51;6", None),
        ("geo:51,6;u=abc", None),
        ("geo:nan,6", None),
        ("https://maps.example/51,6", None),
    ],
)
def test_parse_geo_uri(uri: str, expected: tuple[float, float, float | None] | None) -> None:
    assert parse_geo_uri(uri) == expected


def test_element_location_to_event() -> None:
    uri = "geo:51.4344,6.7623;u=35"
    content = {
        "msgtype": "m.location",
        "body": f"User Location {uri} at 2026-01-01T10:00:00.000Z",
        "geo_uri": uri,
        "org.matrix.msc3488.location": {"uri": uri, "description": None},
        "org.matrix.msc3488.asset": {"type": "m.self"},
    }
    event = message_event(message(content), ORIGIN)
    assert event == LocationEvent(ORIGIN, 51.4344, 6.7623, accuracy_m=35.0)
    pin = {
        "msgtype": "m.location",
        "body": "Café",
        "org.matrix.msc3488.location": {"uri": "geo:51.1,6.1", "description": "Café Museum"},
    }
    assert message_event(message(pin), ORIGIN) == LocationEvent(
        ORIGIN, 51.1, 6.1, title="Café Museum"
    )
    legacy = {"msgtype": "m.location", "body": "here", "geo_uri": "geo:51.1,6.1"}
    assert message_event(message(legacy), ORIGIN) == LocationEvent(ORIGIN, 51.1, 6.1)
    # off the map: passed on, the core answers with a translated error
    bad = {"msgtype": "m.location", "body": "here", "geo_uri": "geo:95,6.1"}
    assert message_event(message(bad), ORIGIN) == LocationEvent(ORIGIN, 95.0, 6.1)
    garbled = {"msgtype": "m.location", "body": "here", "geo_uri": "geo:95;6.1"}
    assert message_event(message(garbled), ORIGIN) is None


def test_text_content_renders_buttons_and_html() -> None:
    buttons = (Button("Dabei bei 1", "join", "1", "dabei"), Button("Hilfe", "help"))
    content = text_content("Heute <b>\nCafé & Co", buttons, reply_to="$cmd")
    assert content["msgtype"] == "m.notice"
    assert content["body"] == "Heute <b>\nCafé & Co\n→ !dabei 1\n→ !help"
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"] == (
        "Heute &lt;b&gt;<br>Café &amp; Co<br>→ <code>!dabei 1</code><br>→ <code>!help</code>"
    )
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$cmd"}}
    assert content["m.mentions"] == {}
    threaded = text_content("x", thread="$root", reply_to="$cmd")
    assert threaded["m.relates_to"]["rel_type"] == "m.thread"
    assert threaded["m.relates_to"]["m.in_reply_to"] == {"event_id": "$cmd"}
    assert "m.relates_to" not in text_content("x")


def test_venue_and_poll_content() -> None:
    venue = venue_content(
        SendVenue(ChatRef("matrix", "!r"), "Café Museum", 51.4344, 6.7623, "Königstraße 1")
    )
    assert venue["msgtype"] == "m.location"
    assert venue["geo_uri"] == "geo:51.434400,6.762300"
    assert venue["org.matrix.msc3488.location"] == {
        "uri": "geo:51.434400,6.762300",
        "description": "Café Museum",
    }
    assert "Café Museum, Königstraße 1" in venue["body"]
    poll = poll_start_content(
        SendPoll(ChatRef("matrix", "!r"), "Wo? (oder !stimme N)", ("1. A", "3. B"), "7")
    )
    fallback = "Wo? (oder !stimme N)\n1. A\n3. B"  # the options as the core labels them
    assert poll == {
        "org.matrix.msc3381.poll.start": {
            "question": {"org.matrix.msc1767.text": "Wo? (oder !stimme N)"},
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "answers": [
                {"id": "1", "org.matrix.msc1767.text": "1. A"},
                {"id": "2", "org.matrix.msc1767.text": "3. B"},
            ],
        },
        "org.matrix.msc1767.text": fallback,
        "body": fallback,
        "chatbot.poll_key": "7",
    }
    threaded = poll_start_content(SendPoll(ChatRef("matrix", "!r"), "Wo?", ("A", "B"), "7", "$t"))
    assert threaded["m.relates_to"]["rel_type"] == "m.thread"
    assert poll_end_content("$start", "Zu.") == {
        "m.relates_to": {"rel_type": "m.reference", "event_id": "$start"},
        "org.matrix.msc3381.poll.end": {},
        "org.matrix.msc1767.text": "Zu.",
        "body": "Zu.",
    }


def test_poll_responses() -> None:
    reference = {"rel_type": "m.reference", "event_id": "$start"}

    def unstable(answers: Any) -> dict[str, Any]:
        content = {"m.relates_to": reference, "org.matrix.msc3381.poll.response": answers}
        return {"type": "org.matrix.msc3381.poll.response", "content": content}

    def stable(selections: Any) -> dict[str, Any]:
        content = {"m.relates_to": reference, "m.selections": selections}
        return {"type": "m.poll.response", "content": content}

    assert poll_response(unstable({"answers": ["2"]})) == ("$start", ["2"])
    assert poll_response(unstable({"answers": []})) == ("$start", [])
    assert poll_response(unstable({})) == ("$start", [])  # spoiled: no selection
    assert poll_response(stable(["1"])) == ("$start", ["1"])
    assert poll_response(stable("1")) == ("$start", [])
    assert poll_response(stable([1])) == ("$start", [])
    not_a_reference = {"type": "m.poll.response", "content": {"m.selections": ["1"]}}
    assert poll_response(not_a_reference) is None
    assert selected_indexes(["2"], 3) == (1,)
    assert selected_indexes(["3", "1"], 3) == (2,)  # max_selections 1: the first counts
    assert selected_indexes(["4"], 3) == ()  # unknown answer: a spoiled vote
    assert selected_indexes(["1", "x"], 3) == ()
    assert selected_indexes([], 3) == ()


V12 = RoomCreate(sender="@creator:hs", room_version="12", additional_creators=("@co:hs",))
V11 = RoomCreate(sender="@creator:hs", room_version="11")


@pytest.mark.parametrize(
    ("levels", "create", "user", "expected"),
    [
        # v12: creators have unlimited power and are not listed
        ({"users": {}, "state_default": 50}, V12, "@creator:hs", True),
        ({"users": {}, "state_default": 50}, V12, "@co:hs", True),
        ({"users": {}, "state_default": 50}, V12, "@member:hs", False),
        ({"users": {"@mod:hs": 50}, "state_default": 50}, V12, "@mod:hs", True),
        ({"users": {"@mod:hs": 49}, "state_default": 50}, V12, "@mod:hs", False),
        # v11: the creator counts only by the level it is given
        ({"users": {"@creator:hs": 100}}, V11, "@creator:hs", True),
        ({"users": {"@creator:hs": 0}}, V11, "@creator:hs", False),
        ({"users": {}, "users_default": 50}, V11, "@anyone:hs", True),
        ({"users": {"@x:hs": "60"}, "state_default": "55"}, V11, "@x:hs", True),
        # the level for state events, not the override for m.room.power_levels
        (
            {"users": {"@mod:hs": 50}, "state_default": 50, "events": {"m.room.power_levels": 100}},
            V11,
            "@mod:hs",
            True,
        ),
        ({"users": {"@mod:hs": 50}, "state_default": 75}, V11, "@mod:hs", False),
        # no power levels at all: anyone may send state events
        (None, V11, "@anyone:hs", True),
    ],
)
def test_admin_rule(
    levels: dict[str, Any] | None, create: RoomCreate, user: str, expected: bool
) -> None:
    assert is_admin(levels, create, user) is expected


def test_creator_power_by_room_version() -> None:
    assert RoomCreate("@a:hs", "12").creators_have_power
    assert RoomCreate("@a:hs", "13").creators_have_power
    assert RoomCreate("@a:hs", "org.matrix.hydra.11").creators_have_power
    assert not RoomCreate("@a:hs", "11").creators_have_power
    assert not RoomCreate("@a:hs", "org.matrix.msc3757.11").creators_have_power
    event = {"sender": "@a:hs", "content": {"room_version": "12", "additional_creators": ["@b:hs"]}}
    assert RoomCreate.from_event(event).is_creator("@b:hs")
    assert RoomCreate.from_event({"sender": "@a:hs", "content": {}}).room_version == "1"


def test_invite_allow_list() -> None:
    allowed = parse_allowed(" example.org, @Anna:Other.org ,")
    assert allowed == ("example.org", "@anna:other.org")
    assert is_allowed("@bob:example.org", allowed)
    assert is_allowed("@anna:other.org", allowed)
    assert not is_allowed("@eve:other.org", allowed)
    assert not is_allowed(None, allowed)
    assert is_allowed("@eve:evil.org", parse_allowed(""))
