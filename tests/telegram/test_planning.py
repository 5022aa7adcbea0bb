"""Stable buttons and planning ahead through the Telegram adapter and the fake Bot API:
a late press of an announcement's button still names its session, /woche carries join
buttons, and a full session puts the next one on the waiting list."""

from __future__ import annotations

from tests.telegram.conftest import BEN, CARLA, DANA, GROUP, TelegramWorld


async def test_a_late_press_joins_the_session_the_button_was_shown_with(
    tg: TelegramWorld,
) -> None:
    await tg.start()
    await tg.setup_group()
    later = await tg.ask(GROUP, BEN, "/neu 14-18 Kö Lounge", "Neue Session")
    await tg.ask(GROUP, CARLA, "/neu 9-13 Café Museum", "Neue Session")  # starts earlier
    data = later.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    tg.server.push_update(
        tg.server.callback_query_update(GROUP, DANA, later.result["message_id"], data)
    )
    joined = await tg.reply(GROUP, "Dana ist dabei")
    assert "Kö Lounge, 14:00–18:00" in joined.params["text"]


async def test_the_week_has_join_buttons_and_seats_fill_up(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    planned = await tg.ask(GROUP, BEN, "/neu morgen 10-14 Café Museum max 2", "Neue Session")
    assert "am Dienstag" in planned.params["text"] or "Dezember" in planned.params["text"]
    week = await tg.ask(GROUP, CARLA, "/woche", "Die Woche in Duisburg")
    assert "1. 10:00–14:00 Café Museum" in week.params["text"]
    [[button]] = week.params["reply_markup"]["inline_keyboard"]
    tg.server.push_update(
        tg.server.callback_query_update(
            GROUP, CARLA, week.result["message_id"], button["callback_data"]
        )
    )
    await tg.reply(GROUP, "Carla ist dabei")
    tg.server.push_update(
        tg.server.callback_query_update(
            GROUP, DANA, week.result["message_id"], button["callback_data"]
        )
    )
    waiting = await tg.reply(GROUP, "Warteliste")
    assert "Dana" in waiting.params["text"]


async def test_the_where_button_sends_the_place_as_a_venue(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    opened = await tg.ask(GROUP, BEN, "/neu 10-14 Café Museum", "Neue Session")
    [[join, where]] = opened.params["reply_markup"]["inline_keyboard"]
    assert (join["text"], where["text"]) == ("Dabei bei 1", "Wo?")
    tg.server.push_update(
        tg.server.callback_query_update(
            GROUP, CARLA, opened.result["message_id"], where["callback_data"]
        )
    )
    venue = await tg.server.wait_for("sendVenue")
    assert venue.chat_id == GROUP and venue.params["title"] == "1. Café Museum"
    assert (venue.params["latitude"], venue.params["longitude"]) == (51.4344, 6.7623)
