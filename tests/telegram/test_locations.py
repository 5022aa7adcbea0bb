"""Shared locations on Telegram, end to end through the fake Bot API: a location sent
as a reply in a group (privacy mode), a visitor in a private chat (with the "share my
location" keyboard), an unlisted group, `/neu hier`, a venue shared after `/ort add`,
coordinates off the map, and a live location answered once."""

from __future__ import annotations

from typing import Any

from tests.fakes.telegram_api import Call
from tests.telegram.conftest import ANNA, BEN, CARLA, DANA, GROUP, TelegramWorld

EMIL = 5005  # a visitor from elsewhere, in a private chat with the bot
HBF = (51.4297, 6.7755)  # Duisburg Hauptbahnhof: Kö Lounge (51.4330, 6.7650) is 820 m away
NEAR_MUSEUM = (51.427, 6.7623)  # 823 m south of Café Museum (51.4344, 6.7623)


def buttons(call: Call) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def replied_to(call: Call) -> int | None:
    reply = call.params.get("reply_parameters")
    return int(reply["message_id"]) if reply else None


async def test_a_location_sent_as_a_reply_in_the_group_lists_sessions_with_distances(
    tg: TelegramWorld,
) -> None:
    await tg.start()
    await tg.setup_group()
    await tg.ask(GROUP, DANA, "/neu 9-12 Kö Lounge", "Neue Session")
    await tg.ask(GROUP, CARLA, "/neu 10-14 Café Museum", "Neue Session")

    # in a group /naehe asks for a reply (privacy mode lets only those through): no
    # keyboard, which Telegram would refuse there
    asked = await tg.ask(GROUP, BEN, "/naehe", "Antworte auf diese Nachricht")
    assert "reply_markup" not in asked.params
    shared = tg.server.location_update(
        GROUP, BEN, *HBF, reply_to_message=asked.result["message_id"]
    )
    answer = await tg.push(shared, GROUP, "Heutige Sessions")
    lines = answer.params["text"].splitlines()
    assert lines == [
        "Heutige Sessions im Umkreis von 5 km, die nächste zuerst:",
        "1. Kö Lounge (Duisburg), 09:00–12:00 · 820 m",
        "2. Café Museum (Duisburg), 10:00–14:00 · 1,1 km",
    ]
    assert replied_to(answer) == shared["message"]["message_id"]
    assert [b["text"] for b in buttons(answer)] == ["Dabei bei 1", "Dabei bei 2"]

    # the button joins the nearest one
    press = tg.server.callback_query_update(
        GROUP, BEN, answer.result["message_id"], buttons(answer)[0]["callback_data"]
    )
    joined = await tg.push(press, GROUP, "Ben ist dabei")
    assert joined.params["text"].startswith("Ben ist dabei: Kö Lounge")


async def test_a_visitor_in_a_private_chat_finds_public_groups_only(tg: TelegramWorld) -> None:
    tg.server.set_user(EMIL, first_name="Emil", language_code="de")
    await tg.start()
    await tg.setup_group()
    await tg.ask(GROUP, BEN, "/neu 10-14 Café Museum", "Neue Session")

    # /naehe privately: a one-time keyboard with one button that shares the position
    asked = await tg.ask(EMIL, EMIL, "/naehe", "Teile deinen Standort")
    markup = asked.params["reply_markup"]
    assert markup["keyboard"] == [[{"text": "📍 Meinen Standort teilen", "request_location": True}]]
    assert markup["one_time_keyboard"] is True and markup["resize_keyboard"] is True
    assert "inline_keyboard" not in markup

    # the button sends a plain location message
    found = await tg.push(tg.server.location_update(EMIL, EMIL, *NEAR_MUSEUM), EMIL, "Heutige")
    assert "1. Café Museum (Duisburg), 10:00–14:00 · 820 m" in found.params["text"]
    [join] = buttons(found)
    press = tg.server.callback_query_update(
        EMIL, EMIL, found.result["message_id"], join["callback_data"]
    )
    joined = await tg.push(press, EMIL, "Emil ist dabei")
    assert joined.params["text"] == "Emil ist dabei: Café Museum, 10:00–14:00."
    today = await tg.ask(GROUP, DANA, "/heute", "Heute in Duisburg")
    assert "2 dabei: Ben, Emil" in today.params["text"]

    # the group is unlisted now: a visitor does not find it any more
    await tg.ask(GROUP, ANNA, "/einstellungen oeffentlich aus", "")
    again = await tg.push(tg.server.location_update(EMIL, EMIL, *NEAR_MUSEUM), EMIL, "Heute")
    assert again.params["text"].startswith("Heute keine Session im Umkreis von 5 km."), again
    assert "Café Museum" not in again.params["text"]
    # its own members still find it in the group
    member = await tg.push(tg.server.location_update(GROUP, DANA, *NEAR_MUSEUM), GROUP, "Heutige")
    assert "Café Museum" in member.params["text"]


async def test_open_a_session_here_after_sharing_a_location(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    refused = await tg.ask(GROUP, BEN, "/neu hier 10-12", "Standort")
    assert "Neue Session" not in refused.params["text"]

    await tg.push(tg.server.location_update(GROUP, BEN, *HBF), GROUP, "Heute keine Session")
    opened = await tg.ask(GROUP, BEN, "/neu hier 10-12", "Neue Session")
    assert opened.params["text"].startswith(
        "Neue Session 1: Geteilter Standort von Ben, 10:00–12:00, eröffnet von Ben."
    ), opened.params["text"]
    # and it is found nearby, at the shared point (rounded to about 100 m)
    found = await tg.push(tg.server.location_update(GROUP, CARLA, *HBF), GROUP, "Heutige")
    assert "1. Geteilter Standort von Ben (Duisburg), 10:00–12:00" in found.params["text"]


async def test_an_admin_adds_a_venue_by_sharing_it_after_ort_add(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    venue = {
        "location": {"latitude": 51.4312, "longitude": 6.7661},
        "title": "Altes Bahnhöfchen",
        "address": "Mercatorstraße 90",
    }
    # a venue shared by anyone, without /ort add, is just a location
    plain = await tg.push(tg.server.message_update(GROUP, BEN, venue=venue), GROUP, "Heute")
    assert "hinzugefügt" not in plain.params["text"]

    asked = await tg.ask(GROUP, ANNA, "/ort add", "Teile den Ort")
    shared = tg.server.message_update(
        GROUP, ANNA, venue=venue, reply_to_message=asked.result["message_id"]
    )
    added = await tg.push(shared, GROUP, "hinzugefügt")
    # the group's third venue: numbers follow the order venues were added in
    assert added.params["text"] == "Ort 3 hinzugefügt: Altes Bahnhöfchen."
    venues = await tg.ask(GROUP, BEN, "/orte", "Orte in Duisburg")
    assert "3. Altes Bahnhöfchen · Mercatorstraße 90" in venues.params["text"].splitlines()


async def test_coordinates_off_the_map_get_the_reason(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    # built by hand: a location Telegram itself would never send
    update = tg.server.message_update(GROUP, BEN)
    update["message"]["location"] = {"latitude": 91.0, "longitude": 6.7623}
    answer = await tg.push(update, GROUP, "außerhalb der Karte")
    assert answer.params["text"].startswith("„91")
    assert replied_to(answer) == update["message"]["message_id"]


async def test_a_live_location_is_answered_once(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    await tg.ask(GROUP, DANA, "/neu 9-12 Kö Lounge", "Neue Session")
    live = tg.server.location_update(GROUP, CARLA, *HBF, live_period=3600)
    answer = await tg.push(live, GROUP, "Heutige Sessions")
    assert "1. Kö Lounge (Duisburg), 09:00–12:00 · 820 m" in answer.params["text"]
    message_id = live["message"]["message_id"]
    for step in range(1, 4):  # Carla walks on: Telegram edits the message
        tg.server.push_update(
            tg.server.edited_location_update(
                GROUP, CARLA, message_id, HBF[0] + step / 1000, HBF[1], live_period=3600
            )
        )
    await tg.ask(GROUP, BEN, "/hilfe", "Was ich kann")  # everything before is handled
    answers = [c for c in tg.server.calls_to("sendMessage") if replied_to(c) == message_id]
    assert answers == [answer]
    assert sum("Heutige Sessions" in t for t in tg.texts(GROUP)) == 1
