"""A random walk through a Telegram group's life, end to end through the fake Bot API:
commands (addressed or not, in a forum topic, privately), presses of the bot's own
buttons and of forged ones, locations and live locations, native poll answers, the
bot removed and added again, and Telegram failing now and then (429, 5xx, 403, a
timeout). Whatever happens: the adapter keeps running, logs no error, and answers."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from tests.fakes.telegram_api import Call
from tests.support.waiting import eventually
from tests.telegram.conftest import ANNA, BEN, CARLA, DANA, GROUP, TelegramWorld

PEOPLE = [ANNA, BEN, CARLA, DANA]
TOPIC = 77
COMMANDS = [
    "/heute", "/heute@CoworkBot", "/today", "/neu 10-14 Café Museum", "/neu Kö Lounge - Thema",
    "/neu 25:99 Café Museum", "/dabei", "/dabei 1", "/dabei 2", "/absagen", "/streichen 1",
    "/umfrage", "/stimme 1", "/schliessen", "/abo", "/abbestellen", "/orte", "/naehe",
    "/hilfe", "/datenschutz", "/einstellungen", "/einstellungen umfrage 8:30",
    "/ort add Neues Café | 51.44, 6.77", "/ort add Kaputt | 95, 6.7", "/ort remove 2",
    "/neu jeden di 9-13 Café Museum", "/start", "/unbekannt", "/heute@OtherBot", "hallo",
]  # fmt: skip


def _buttons(calls: list[Call]) -> list[tuple[int, int, str]]:
    """(chat, message, callback data) of every inline button the bot sent."""
    found = []
    for call in calls:
        if call.method != "sendMessage" or not call.ok or not isinstance(call.result, dict):
            continue
        markup = call.params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
            for button in row:
                if "callback_data" in button:
                    found.append((call.chat_id, call.result["message_id"], button["callback_data"]))
    return found


async def settled(tg: TelegramWorld) -> None:
    """Every update pushed so far is handled and what it decided is delivered."""
    assert tg.adapter is not None
    await eventually(lambda: not tg.server.pending_updates, "the updates handled")
    await asyncio.wait_for(tg.adapter.runtime.delivered("telegram"), 30)


@pytest.mark.parametrize("seed", range(2))
async def test_a_random_walk_through_telegram(
    seed: int, tg: TelegramWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    walk = random.Random(seed)
    server = tg.server
    await tg.start(outbox=True)
    await tg.setup_group()
    inside = True
    for _ in range(150):
        roll = walk.random()
        who = walk.choice(PEOPLE)
        update: dict[str, Any]
        if not inside:  # out of the group for a while; Telegram sends it nothing from there
            if walk.random() < 0.3:
                inside = True
                server.push_update(
                    server.my_chat_member_update(GROUP, "left", "member", from_user_id=ANNA)
                )
            continue
        if roll < 0.08:
            method = walk.choice(["sendMessage", "getChatMember"])
            failure: dict[str, Any] = walk.choice(
                [{"error_code": 429, "retry_after": 1}, {"error_code": 502}]
            )
            if method == "sendMessage" and walk.random() < 0.3:  # someone blocked the bot
                failure = {
                    "error_code": 403,
                    "description": "Forbidden: bot was blocked by the user",
                }
                failure["chat_id"] = who
            server.fail_next(method, **failure)
            continue
        if roll < 0.12:
            server.delay("sendMessage", 0.2, times=1)
            continue
        if roll < 0.22:
            await settled(tg)  # the walk reads what the bot sent: the same every run
            buttons = _buttons(server.calls)
            if buttons and walk.random() < 0.8:
                chat, message, data = walk.choice(buttons)
            else:
                chat, message, data = GROUP, 1, walk.choice(["b:forged0000000000", "", "x" * 64])
            update = server.callback_query_update(chat, who, message, data)
        elif roll < 0.3:
            latitude, longitude = 51.43 + walk.random() / 100, 6.76 + walk.random() / 100
            chat = walk.choice([GROUP, who])
            update = server.location_update(
                chat, who, latitude, longitude, live_period=walk.choice([None, 900])
            )
        elif roll < 0.35:
            await settled(tg)
            polls = [c for c in server.calls if c.method == "sendPoll" and c.ok]
            if not polls:
                continue
            poll_id = walk.choice(polls).result["poll"]["id"]
            update = server.poll_answer_update(poll_id, who, [walk.randint(0, 1)])
        elif roll < 0.37:
            inside = False
            update = server.my_chat_member_update(GROUP, "member", "left", from_user_id=ANNA)
        else:
            text = walk.choice(COMMANDS)
            place = walk.random()
            if place < 0.1:
                update = server.message_update(who, who, text, chat_type="private")
            elif place < 0.2:
                update = server.message_update(
                    GROUP, who, text, message_thread_id=TOPIC, is_topic_message=True
                )
            else:
                update = server.message_update(GROUP, who, text)
        server.push_update(update)
    # the bot is (back) in the group, and every update before this one is handled
    server.push_update(server.my_chat_member_update(GROUP, "left", "member", from_user_id=ANNA))
    last = server.message_update(GROUP, BEN, "/hilfe")
    server.push_update(last)
    await server.wait_for(
        "sendMessage",
        lambda c: (
            c.ok
            and (c.params.get("reply_parameters") or {}).get("message_id")
            == last["message"]["message_id"]
        ),
        timeout=60,
    )
    assert tg._task is not None and not tg._task.done()  # still running
    await settled(tg)  # other chats' answers (one waiting out a 429) may be on their way
    answers = [c for c in server.calls_to("sendMessage") if c.ok]
    assert len(answers) > 40
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == []
