"""Tests of the fake Telegram Bot API server (tests/fakes/telegram_api.py).

Most tests drive it with a real python-telegram-bot ``Bot``, so they prove that PTB parses
its answers into the right objects and exceptions; a few use plain aiohttp for the HTTP
details (token, routing, body formats).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from tests.fakes.telegram_api import FakeTelegramServer, RateLimiter, ThreadedFakeTelegramServer

GROUP = -1001234567890
OTHER_GROUP = -1009876543210
USER = 4242


def keyboard(data: str = "join:1") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Dabei", callback_data=data)]])


def seconds(obj: object, attribute: str) -> float:
    """A PTB time period (int or timedelta, depending on PTB_TIMEDELTA) in seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = getattr(obj, attribute)
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot(server.token, base_url=server.base_url) as client:
        yield client


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- basics


async def test_get_me_and_base_url(server: FakeTelegramServer, bot: Bot) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/bot"
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "CoworkBot", True)
    assert bot.username == "CoworkBot"  # set by `async with bot` (initialize -> getMe)
    assert server.calls_to("getme")[0].method == "getMe"


async def test_send_message_returns_message_and_is_recorded(
    server: FakeTelegramServer, bot: Bot
) -> None:
    server.add_chat(GROUP, "supergroup", title="Coworking Duisburg", is_forum=True)
    first = await bot.send_message(GROUP, "Hallo", reply_markup=keyboard(), message_thread_id=7)
    second = await bot.send_message(GROUP, "Zweite")
    elsewhere = await bot.send_message(OTHER_GROUP, "Andere Gruppe")

    assert (first.message_id, second.message_id, elsewhere.message_id) == (1, 2, 1)
    assert first.text == "Hallo"
    assert first.from_user.id == server.bot_id and first.from_user.is_bot
    assert first.chat.title == "Coworking Duisburg" and first.chat.is_forum
    assert first.reply_markup == keyboard()
    assert first.message_thread_id == 7 and first.is_topic_message
    assert abs(first.date.timestamp() - time.time()) < 5

    call = await server.wait_for("sendMessage", lambda c: c.params["text"] == "Hallo")
    assert call.chat_id == GROUP and call.ok
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "join:1"
    assert call.result["message_id"] == 1
    assert server.sent_texts(GROUP) == ["Hallo", "Zweite"]


async def test_plain_text_only_trimmed_and_limited(server: FakeTelegramServer, bot: Bot) -> None:
    assert (await bot.send_message(GROUP, "  10-14 *Café*\n")).text == "10-14 *Café*"
    with pytest.raises(BadRequest, match="(?i)parse_mode is not modelled"):
        await bot.send_message(GROUP, "<b>Café</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(GROUP, "  ")
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(GROUP, "x" * 4097)
    assert (await bot.send_message(GROUP, "ä" * 4096)).text == "ä" * 4096


async def test_unused_methods_are_not_found(server: FakeTelegramServer, bot: Bot) -> None:
    with pytest.raises(InvalidToken, match="Not Found"):  # PTB's reading of a 404
        await bot.send_location(GROUP, 51.4, 6.7)
    assert server.calls_to("sendLocation")[0].status == 404


async def test_http_details_token_routing_and_body_formats(server: FakeTelegramServer) -> None:
    root = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{root}/bot999:WRONG/getMe") as response:
            assert response.status == 401
            assert await response.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.get(f"{root}/bot{server.token}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        async with http.get(f"{root}/bot{server.token}/GETME") as response:
            body = await response.json()
            assert response.status == 200 and body["ok"] and body["result"]["id"] == 123456

        markup = json.dumps(keyboard().to_dict())
        form = {"chat_id": str(GROUP), "text": "42", "reply_markup": markup}
        async with http.post(f"{root}/bot{server.token}/sendmessage", data=form) as response:
            result = (await response.json())["result"]
        assert result["text"] == "42"  # text stays a string
        assert result["chat"]["id"] == GROUP  # numbers are decoded
        assert result["reply_markup"] == keyboard().to_dict()

        form = {"chat_id": str(GROUP), "text": "true", "disable_notification": "true"}
        async with http.post(f"{root}/bot{server.token}/sendMessage", data=form) as response:
            assert (await response.json())["result"]["text"] == "true"

        payload = {"chat_id": GROUP, "text": "json body"}
        async with http.post(f"{root}/bot{server.token}/sendMessage", json=payload) as response:
            assert (await response.json())["result"]["text"] == "json body"

    calls = server.calls_to("sendMessage")
    assert [c.params["text"] for c in calls] == ["42", "true", "json body"]
    assert calls[1].params["disable_notification"] is True
    assert [c.method for c in server.calls][:2] == ["noSuchMethod", "getMe"]


async def test_wrong_token_raises_invalid_token(server: FakeTelegramServer) -> None:
    with pytest.raises(InvalidToken, match="was rejected by the server") as caught:
        async with Bot("999:WRONG", base_url=server.base_url) as wrong:
            await wrong.get_me()
    assert str(caught.value.__cause__) == "Unauthorized"
    assert server.calls == []


# --------------------------------------------------------------------------- updates


async def test_long_polling_returns_pushed_update_and_offset_confirms(
    server: FakeTelegramServer, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    held = await server.wait_for("getUpdates", arrived=True)
    assert held.status == 0 and not poll.done()  # the long poll is held open

    started = time.monotonic()
    update_id = server.push_update(
        server.message_update(GROUP, USER, "/heute@CoworkBot bitte", first_name="Ana")
    )
    (update,) = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.0

    assert update.update_id == update_id
    message = update.message
    assert message.text == "/heute@CoworkBot bitte"
    assert message.chat.type == "supergroup"
    assert (message.from_user.first_name, message.from_user.is_bot) == ("Ana", False)
    assert message.from_user.language_code == "de"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bot_command", 0, 16)]

    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [update_id]  # not confirmed yet
    assert server.pending_updates != []
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
    assert server.pending_updates == []  # confirmed: gone

    second = server.push_update(server.message_update(USER, USER, "hi"))
    assert second == update_id + 1
    (private,) = await bot.get_updates(offset=update_id + 1, limit=5, timeout=1)
    assert private.message.chat.type == "private" and private.message.chat.first_name == "Ana"


async def test_update_builders_parse_in_ptb(server: FakeTelegramServer, bot: Bot) -> None:
    server.add_chat(GROUP, "supergroup", title="Duisburg", is_forum=True)
    sent = await bot.send_message(GROUP, "Heute?", reply_markup=keyboard())
    builders = [
        server.message_update(GROUP, USER, "/neu 10-14 Café", message_thread_id=5),
        server.message_update(GROUP, GROUP, "anonym", sender_chat=GROUP),
        server.message_update(GROUP, USER, "ok", reply_to_message=sent.message_id),
        server.location_update(USER, USER, 51.43, 6.76, live_period=900),
        server.edited_location_update(USER, USER, 1, 51.44, 6.77),
        server.callback_query_update(GROUP, USER, sent.message_id, "join:1"),
        server.my_chat_member_update(OTHER_GROUP, "left", "member"),
        server.migrate_update(-4711, GROUP),
    ]
    for update in builders:
        server.push_update(update)
    updates = await bot.get_updates(timeout=1)
    assert len(updates) == len(builders)
    topic, anonymous, reply, live, moved, query, joined, migrated = updates

    assert topic.message.is_topic_message and topic.message.message_thread_id == 5
    assert anonymous.message.sender_chat.id == GROUP
    assert anonymous.message.from_user.username == "GroupAnonymousBot"
    assert reply.message.reply_to_message.text == "Heute?"
    assert seconds(live.message.location, "live_period") == 900
    assert moved.edited_message.location.latitude == 51.44
    assert moved.edited_message.message_id == live.message.message_id
    assert query.callback_query.data == "join:1"
    assert query.callback_query.message.reply_markup == keyboard()
    assert joined.my_chat_member.new_chat_member.user.id == server.bot_id
    assert joined.my_chat_member.new_chat_member.status == "member"
    assert migrated.message.migrate_to_chat_id == GROUP
    assert migrated.message.chat.type == "group"

    assert await bot.answer_callback_query(query.callback_query.id)
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query(query.callback_query.id)
    with pytest.raises(ChatMigrated):
        await bot.send_message(-4711, "x")  # pushing the migrate message applied it


async def test_allowed_updates_and_webhooks(server: FakeTelegramServer, bot: Bot) -> None:
    member_change = server.my_chat_member_update(GROUP, "member", "administrator")
    chat_member = {"chat_member": member_change["my_chat_member"]}
    server.push_update(chat_member)
    kept = server.push_update(server.message_update(GROUP, USER, "x"))
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [kept]  # opt-in type

    server.push_update(chat_member)
    updates = await bot.get_updates(offset=kept + 1, allowed_updates=[Update.CHAT_MEMBER])
    assert [bool(u.chat_member) for u in updates] == [True]
    assert server.allowed_updates == ["chat_member"]

    assert await bot.set_webhook("https://example.invalid/hook")
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(Conflict, match="(?i)webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert server.drop_pending_updates_requests == [False, True]
    assert server.calls_to("deleteWebhook")[-1].params["drop_pending_updates"] is True
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("", 0)


async def test_second_long_poll_terminates_the_first(server: FakeTelegramServer) -> None:
    async with (
        Bot(server.token, base_url=server.base_url) as one,
        Bot(server.token, base_url=server.base_url) as two,
    ):
        first = asyncio.create_task(one.get_updates(timeout=5))
        await server.wait_for("getUpdates", arrived=True)  # the first poll is held
        second = asyncio.create_task(two.get_updates(timeout=5))
        with pytest.raises(Conflict, match="(?i)terminated by other getUpdates request"):
            await asyncio.wait_for(first, 2)
        server.push_update(server.message_update(GROUP, USER, "x"))
        assert len(await asyncio.wait_for(second, 2)) == 1


async def test_application_runs_against_the_fake(server: FakeTelegramServer) -> None:
    async def today(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"Heute: {' '.join(context.args)}")

    app = ApplicationBuilder().token(server.token).base_url(server.base_url).build()
    app.add_handler(CommandHandler(["today", "heute"], today))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        server.push_update(server.message_update(GROUP, USER, "/heute Café Museum"))
        call = await server.wait_for("sendMessage")
        await app.updater.stop()
        await app.stop()
    assert call.params["text"] == "Heute: Café Museum"
    assert call.result["reply_to_message"]["text"] == "/heute Café Museum"


# --------------------------------------------------------------------------- errors


async def test_injected_429_raises_retry_after(server: FakeTelegramServer, bot: Bot) -> None:
    server.fail_next("sendMessage", error_code=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "x")
    assert seconds(caught.value, "retry_after") == 7
    call = server.calls_to("sendMessage")[0]
    assert call.status == 429 and call.description == "Too Many Requests: retry after 7"
    assert (await bot.send_message(GROUP, "x")).text == "x"  # only the next call failed


async def test_injected_5xx_and_chat_filter(server: FakeTelegramServer, bot: Bot) -> None:
    server.fail_next("sendMessage", error_code=502, times=2, chat_id=GROUP)
    await bot.send_message(OTHER_GROUP, "not affected")
    for _ in range(2):
        with pytest.raises(NetworkError, match="(?i)Bad Gateway"):
            await bot.send_message(GROUP, "x")
    await bot.send_message(GROUP, "recovered")
    assert [c.status for c in server.calls_to("sendMessage")] == [200, 502, 502, 200]


async def test_migrated_group_raises_chat_migrated(server: FakeTelegramServer, bot: Bot) -> None:
    server.add_chat(-4711, "group", title="Alt")
    server.migrate(-4711, GROUP)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4711, "x")
    assert caught.value.new_chat_id == GROUP
    assert server.calls_to("sendMessage")[0].response["parameters"] == {"migrate_to_chat_id": GROUP}
    message = await bot.send_message(GROUP, "x")
    assert (message.chat.type, message.chat.title) == ("supergroup", "Alt")

    with pytest.raises(ChatMigrated) as caught:
        await bot.send_poll(-4711, "Wo?", ["A", "B"])
    assert caught.value.new_chat_id == GROUP


async def test_forbidden_cases(server: FakeTelegramServer, bot: Bot) -> None:
    server.kick_bot(GROUP)
    with pytest.raises(Forbidden, match="(?i)bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "x")
    server.add_chat(-4711, "group")
    server.kick_bot(-4711)
    with pytest.raises(Forbidden, match="(?i)Forbidden: bot was kicked from the group chat"):
        await bot.send_venue(-4711, 51.4, 6.7, "Café", "Straße 1")
    server.kick_bot(USER)
    with pytest.raises(Forbidden, match="(?i)Forbidden: bot was blocked by the user"):
        await bot.send_message(USER, "x")
    server.user_never_started(777)
    with pytest.raises(Forbidden, match="(?i)bot can't initiate conversation with a user"):
        await bot.send_message(777, "x")
    assert [c.status for c in server.calls_to("sendMessage")] == [403, 403, 403]

    server.push_update(server.my_chat_member_update(GROUP, "kicked", "member"))
    assert (await bot.send_message(GROUP, "back again")).chat.id == GROUP


async def test_edits_and_not_modified(server: FakeTelegramServer, bot: Bot) -> None:
    sent = await bot.send_message(GROUP, "Heute: 1", reply_markup=keyboard())
    with pytest.raises(BadRequest, match="(?i)message is not modified: specified new message"):
        await bot.edit_message_text("Heute: 1", GROUP, sent.message_id, reply_markup=keyboard())
    assert server.calls_to("editMessageText")[0].description == (
        "Bad Request: message is not modified: specified new message content and reply "
        "markup are exactly the same as a current content and reply markup of the message"
    )
    edited = await bot.edit_message_text(
        "Heute: 2", GROUP, sent.message_id, reply_markup=keyboard()
    )
    assert edited.text == "Heute: 2" and edited.edit_date is not None
    # Without reply_markup Telegram removes the keyboard, so this is a modification too.
    assert (await bot.edit_message_text("Heute: 2", GROUP, sent.message_id)).reply_markup is None
    markup = keyboard("leave:1")
    again = await bot.edit_message_text("Heute: 2", GROUP, sent.message_id, reply_markup=markup)
    assert again.reply_markup == markup
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", GROUP, 999)


async def test_delay_makes_client_time_out(server: FakeTelegramServer, bot: Bot) -> None:
    server.delay("sendMessage", 1.0, times=1)
    with pytest.raises(TimedOut):
        await bot.send_message(GROUP, "slow", read_timeout=0.2)
    assert await bot.send_message(GROUP, "fast", read_timeout=0.5)


async def test_a_call_in_hand_is_seen_on_arrival(server: FakeTelegramServer, bot: Bot) -> None:
    server.delay("sendMessage", 0.5, times=1)
    sending = asyncio.create_task(bot.send_message(GROUP, "slow"))
    call = await server.wait_for("sendMessage", arrived=True, timeout=2)
    assert call.status == 0 and server.calls_to("sendMessage") == []  # not answered yet
    await sending
    assert call.ok and server.calls_to("sendMessage") == [call]


async def test_wait_for_timeout_lists_received_calls(server: FakeTelegramServer, bot: Bot) -> None:
    await bot.send_message(GROUP, "something else")
    with pytest.raises(AssertionError) as caught:
        await server.wait_for("sendMessage", lambda c: "Café" in c.params["text"], timeout=0.2)
    report = str(caught.value)
    assert "waiting for 1 sendMessage call(s); 0 matched" in report
    assert "something else" in report
    calls = await server.wait_for("getMe", count=1), await server.wait_for("sendmessage", count=1)
    assert [c.method for c in calls] == ["getMe", "sendMessage"]


# --------------------------------------------------------------------------- flood limits


async def test_limits_burst_in_group_gets_429() -> None:
    async with (
        FakeTelegramServer(enforce_limits=True) as server,
        Bot(server.token, base_url=server.base_url) as bot,
    ):
        clock = FakeClock()
        server.rate_limiter.clock = clock
        outcomes: list[float | None] = []
        for index in range(5):
            try:
                await bot.send_message(GROUP, f"burst {index}")
                outcomes.append(None)
            except RetryAfter as error:
                outcomes.append(seconds(error, "retry_after"))
        assert outcomes == [None, None, None, 1, 1]
        assert server.too_many_requests == 2
        assert server.calls_to("sendMessage")[3].response["parameters"] == {"retry_after": 1}

        clock.now += 1.0  # the retry_after given
        assert (await bot.send_message(GROUP, "after waiting")).text == "after waiting"
        assert server.too_many_requests == 2


async def test_limits_with_fake_clock() -> None:
    async with (
        FakeTelegramServer(enforce_limits=True) as server,
        Bot(server.token, base_url=server.base_url) as bot,
    ):
        clock = FakeClock()
        server.rate_limiter.clock = clock
        for index in range(20):  # one per second in a group: fine for 20 messages
            await bot.send_message(GROUP, f"m{index}")
            clock.now += 1.0
        with pytest.raises(RetryAfter) as caught:  # 21st within a minute
            await bot.send_message(GROUP, "too many")
        assert seconds(caught.value, "retry_after") == 40
        with pytest.raises(RetryAfter):  # edits count as sends
            await bot.edit_message_text("edited", GROUP, 1)
        clock.now += 40
        assert (await bot.send_message(GROUP, "later")).text == "later"
        assert server.too_many_requests == 2


async def test_edits_count_and_overall_limit() -> None:
    limiter = RateLimiter(FakeClock())
    assert [limiter.acquire(chat_id) for chat_id in range(1, 31)] == [None] * 30
    assert limiter.acquire(31) == 1  # 31st message within one second overall

    async with (
        FakeTelegramServer(enforce_limits=True) as server,
        Bot(server.token, base_url=server.base_url) as bot,
    ):
        server.rate_limiter.clock = FakeClock()
        sent = await bot.send_message(USER, "a")
        await bot.edit_message_text("b", USER, sent.message_id)
        await bot.edit_message_text("c", USER, sent.message_id)
        with pytest.raises(RetryAfter):
            await bot.edit_message_text("d", USER, sent.message_id)
        await bot.get_chat_member(USER, USER)  # not a send: never limited
        assert server.too_many_requests == 1


# --------------------------------------------------------------------------- polls, members


async def test_send_poll_and_stop_poll_round_trip(server: FakeTelegramServer, bot: Bot) -> None:
    message = await bot.send_poll(
        GROUP, "Wo arbeiten wir heute?", ["Café Museum", "Bibliothek"], is_anonymous=False
    )
    poll = message.poll
    assert poll.question == "Wo arbeiten wir heute?"
    assert [(o.text, o.voter_count) for o in poll.options] == [
        ("Café Museum", 0),
        ("Bibliothek", 0),
    ]
    assert (poll.is_anonymous, poll.type, poll.allows_multiple_answers) == (False, "regular", False)
    assert not poll.is_closed

    server.push_update(server.poll_answer_update(poll.id, USER, [1]))
    server.push_update(server.poll_answer_update(poll.id, USER, []))  # retracted
    vote, retracted = await bot.get_updates(timeout=1)
    assert vote.poll_answer.poll_id == poll.id
    assert vote.poll_answer.option_ids == (1,)
    assert vote.poll_answer.user.id == USER
    assert retracted.poll_answer.option_ids == ()

    stopped = await bot.stop_poll(GROUP, message.message_id)
    assert stopped.id == poll.id and stopped.is_closed
    with pytest.raises(BadRequest, match="(?i)poll has already been closed"):
        await bot.stop_poll(GROUP, message.message_id)


async def test_chat_members_and_commands(server: FakeTelegramServer, bot: Bot) -> None:
    expected = {
        "creator": ChatMemberOwner,
        "administrator": ChatMemberAdministrator,
        "member": ChatMemberMember,
        "left": ChatMemberLeft,
        "kicked": ChatMemberBanned,
    }
    server.set_user(USER, first_name="Ana", username="ana_ruhr")
    assert isinstance(await bot.get_chat_member(GROUP, USER), ChatMemberMember)  # default
    for status, cls in expected.items():
        server.set_member(GROUP, USER, status)
        member = await bot.get_chat_member(GROUP, USER)
        assert type(member) is cls and member.user.username == "ana_ruhr"

    scope = BotCommandScopeChat(GROUP)
    await bot.set_my_commands(
        [BotCommand("heute", "Sitzungen heute")], scope=scope, language_code="de"
    )
    await bot.set_my_commands([BotCommand("today", "Sessions today")])
    assert server.commands_for({"type": "chat", "chat_id": GROUP}, "de")[0]["command"] == "heute"
    assert [c["command"] for c in server.commands_for()] == ["today"]
    assert server.commands_for({"type": "chat", "chat_id": GROUP}) == []
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Schließen", "nope")])


async def test_venue_and_general_topic(server: FakeTelegramServer, bot: Bot) -> None:
    venue = await bot.send_venue(GROUP, 51.4344, 6.7623, "Café Museum", "Friedrich-Wilhelm-Str. 64")
    assert venue.venue.title == "Café Museum" and venue.location.latitude == 51.4344
    server.add_chat(GROUP, "supergroup", is_forum=True)
    with pytest.raises(BadRequest, match="(?i)message thread not found"):
        await bot.send_message(GROUP, "x", message_thread_id=1)


# --------------------------------------------------------------------------- threaded variant


async def test_threaded_server_serves_another_event_loop() -> None:
    with ThreadedFakeTelegramServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        server.add_chat(GROUP, "supergroup", title="Threaded")
        async with Bot(server.token, base_url=server.base_url) as bot:  # the test's own loop
            update = server.message_update(GROUP, USER, "/heute")
            update_id = server.push_update(update)
            (received,) = await bot.get_updates(timeout=2)
            assert received.update_id == update_id

            waiting = asyncio.create_task(server.wait_for_async("sendMessage", timeout=3))
            await bot.send_message(GROUP, "aus einem anderen Loop")
            call = await waiting
            assert call.result["chat"]["title"] == "Threaded"

        blocking_result: list[object] = []

        def other_thread() -> None:
            async def run() -> None:
                async with Bot(server.token, base_url=server.base_url) as other:
                    await other.send_message(GROUP, "aus einem Thread")

            asyncio.run(run())
            blocking_result.append(server.wait_for("sendMessage", count=2, timeout=3))

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join(10)
        (calls,) = blocking_result
        assert [c.params["text"] for c in calls] == ["aus einem anderen Loop", "aus einem Thread"]
        assert server.sent_texts(GROUP) == ["aus einem anderen Loop", "aus einem Thread"]


def test_threaded_server_serves_a_subprocess() -> None:
    script = (
        "import asyncio, sys\n"
        "from telegram import Bot\n"
        "async def main():\n"
        "    async with Bot(sys.argv[1], base_url=sys.argv[2]) as bot:\n"
        "        await bot.send_message(-100123, 'hello from a subprocess')\n"
        "asyncio.run(main())\n"
    )
    with ThreadedFakeTelegramServer(enforce_limits=True) as server:
        done = subprocess.run(
            [sys.executable, "-c", script, server.token, server.base_url],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        call = server.wait_for("sendMessage", timeout=1)
        assert call.params == {"chat_id": -100123, "text": "hello from a subprocess"}
        assert server.too_many_requests == 0
