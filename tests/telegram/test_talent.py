"""Talent and projects through the Telegram adapter and the fake Bot API: a profile,
/wer finding it by a word part, and a project's direct message going out through the
outbox into the member's private chat, with a button that offers help from there."""

from __future__ import annotations

from tests.telegram.conftest import ANNA, BEN, CARLA, GROUP, TelegramWorld


async def test_profile_who_and_a_projects_direct_message(tg: TelegramWorld) -> None:
    await tg.start(outbox=True)
    await tg.setup_group()
    await tg.ask(GROUP, CARLA, "/start")  # Carla has a private chat with the bot
    profile = await tg.ask(GROUP, CARLA, "/profil Fotografie, Videoschnitt | Filme", "Profil")
    assert "Fotografie, Videoschnitt" in profile.params["text"]
    found = await tg.ask(GROUP, BEN, "/wer video", "Duisburg")
    assert "1. Carla – Videoschnitt, Fotografie" in found.params["text"], found.params["text"]

    post = await tg.ask(GROUP, ANNA, "/projekt neu Bäckerei | Fotografie | Ladenfotos", "Projekt 1")
    assert "/projekt mit 1" in post.params["text"]
    dm = await tg.reply(CARLA, "Bäckerei")
    assert "Fotografie" in dm.params["text"]
    [[button]] = dm.params["reply_markup"]["inline_keyboard"]
    press = tg.server.callback_query_update(
        CARLA, CARLA, dm.result["message_id"], button["callback_data"]
    )
    offered = await tg.push(press, CARLA, "Carla")
    assert "Anna" in offered.params["text"], offered.params["text"]
    told = await tg.reply(ANNA, "Carla")
    assert "nimm p1 Carla" in told.params["text"], told.params["text"]
