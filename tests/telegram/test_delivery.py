"""End to end: exactly-once across restarts, flood limits, migration, removal."""

from __future__ import annotations

import copy
import logging

import pytest

from chatbot.adapters.base import RetryAfter as WaitFirst
from chatbot.adapters.base import Unreachable
from chatbot.adapters.telegram.ratelimit import FloodLimiter
from chatbot.core.actions import DirectMessage, SendText
from chatbot.core.events import ChatRef, CommandEvent, Person, PersonRef
from chatbot.storage.sqlite import SqliteRepository
from tests.telegram.conftest import ANNA, BEN, CARLA, DANA, GROUP, TelegramWorld, eventually


def ref(chat_id: int) -> ChatRef:
    return ChatRef("telegram", str(chat_id))


def delivered_updates(tg: TelegramWorld) -> list[dict]:
    """Every update the server handed out so far."""
    found: dict[int, dict] = {}
    for call in tg.server.calls_to("getUpdates"):
        for update in call.result or []:
            found[update["update_id"]] = update
    return [found[k] for k in sorted(found)]


async def test_restart_neither_repeats_nor_drops_updates(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    await tg.ask(GROUP, BEN, "/neu 10-14 Café Museum", "Neue Session")
    handled_before = delivered_updates(tg)
    assert len(handled_before) == 4
    await tg.stop()
    assert not any(tg.server.drop_pending_updates_requests)

    # while the bot is down, Carla joins
    tg.say(GROUP, CARLA, "/dabei 1")
    # and Telegram delivers the old updates again, as after a crash after they were
    # handled but before the bot could store its position or confirm them
    tg.server._updates[:0] = copy.deepcopy(handled_before)  # noqa: SLF001 - simulated redelivery
    repo = await SqliteRepository.open(tg.db_url)
    await repo.ledger.set_platform_value("telegram", "offset", "0")  # the position was lost, too
    await repo.close()
    await tg.start()
    assert tg.repo is not None

    await tg.reply(GROUP, "Carla ist dabei")
    today = await tg.ask(GROUP, DANA, "/heute", "Heute in")
    assert "2 dabei: Ben, Carla" in today.params["text"]
    texts = tg.texts(GROUP)
    assert sum("Carla ist dabei" in t for t in texts) == 1
    assert sum("Neue Session" in t for t in texts) == 1  # the old /neu was not redone
    assert sum("Stadtgruppe" in t for t in texts) == 1
    names = [e.name for e in tg.events if isinstance(e, CommandEvent)]
    assert names.count("neu") == 1 and names.count("einrichten") == 1
    served = [u["update_id"] for c in tg.server.calls_to("getUpdates") for u in c.result or []]
    assert all(served.count(u["update_id"]) == 2 for u in handled_before)  # came twice

    # a clean restart: the stored position is confirmed, nothing comes again
    await tg.stop()
    tg.say(GROUP, DANA, "/dabei 1")
    await tg.start()
    await tg.reply(GROUP, "Dana ist dabei")
    await tg.ask(GROUP, BEN, "/heute", "Heute in")
    texts = tg.texts(GROUP)
    assert sum("Carla ist dabei" in t for t in texts) == 1
    assert sum("Dana ist dabei" in t for t in texts) == 1


async def test_a_429_in_a_burst_waits_and_delivers_everything(tg: TelegramWorld) -> None:
    tg.server.enforce_limits = True  # 3 per chat within 1 s, then 429 with retry_after
    await tg.start()
    for n in range(6):
        tg.say(GROUP, BEN, f"/heute {n}")
    answers = await tg.reply(GROUP, "", count=6, timeout=15)
    assert tg.server.too_many_requests >= 1
    assert len(tg.texts(GROUP)) == 6
    refused = [c for c in tg.server.calls_to("sendMessage") if c.status == 429]
    retried_after = min(c.time for c in answers[3:])
    assert retried_after - refused[0].time >= 0.9  # waited retry_after (1 s)


async def test_proactive_flood_limits_avoid_429(tg: TelegramWorld) -> None:
    tg.server.enforce_limits = True
    await tg.start(telegram_flood_limits=True)
    for n in range(5):
        tg.say(GROUP, BEN, f"/heute {n}")
    await tg.reply(GROUP, "", count=5, timeout=15)
    assert tg.server.too_many_requests == 0


async def test_timeouts_and_server_errors_are_retried(tg: TelegramWorld) -> None:
    await tg.start()
    tg.server.fail_next("sendMessage", error_code=502, times=2)
    await tg.ask(GROUP, BEN, "/hilfe", "Was ich kann")
    failed = [c for c in tg.server.calls_to("sendMessage") if c.status == 502]
    assert len(failed) == 2


async def test_migration_by_update_moves_the_group(tg: TelegramWorld) -> None:
    old, new = -4001, -1004001
    tg.server.add_chat(old, "group", title="Duisburg")
    await tg.start()
    await tg.setup_group(old)
    tg.server.push_update(tg.server.migrate_update(old, new))
    tg.server.push_update(tg.server.migrate_from_update(old, new))
    answer = await tg.ask(new, BEN, "/heute", "Heute in Duisburg")
    assert answer.chat_id == new
    assert tg.repo is not None
    assert await tg.repo.cities.group_for_chat(ref(new)) is not None
    assert await tg.repo.cities.group_for_chat(ref(old)) is None
    # a post for the old id (e.g. scheduled before the upgrade) goes to the new chat
    assert tg.adapter is not None
    await tg.adapter.perform(SendText(ref(old), "Erinnerung"))
    assert (await tg.reply(new, "Erinnerung")).chat_id == new


async def test_migration_found_on_send_is_retried_once_to_the_new_id(tg: TelegramWorld) -> None:
    old, new = -4002, -1004002
    tg.server.add_chat(old, "group", title="Duisburg")
    await tg.start()
    await tg.setup_group(old)
    opened = await tg.ask(old, BEN, "/neu 10-14 Café Museum", "Neue Session")
    data = opened.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    tg.server.migrate(old, new)  # no update told us
    assert tg.adapter is not None and tg.repo is not None
    await tg.adapter.perform(SendText(ref(old), "Die Umfrage startet gleich."))
    sent = await tg.reply(new, "Die Umfrage startet gleich.")
    refused = [c for c in tg.server.calls_to("sendMessage") if c.chat_id == old and not c.ok]
    assert len(refused) == 1 and "upgraded to a supergroup" in (refused[0].description or "")
    assert sent.ok
    group = await tg.repo.cities.group_for_chat(ref(new))
    assert group is not None and list(await tg.repo.cities.chats_of_group(group.id)) == [ref(new)]
    # a button sent before the upgrade still works in the supergroup
    tg.server.push_update(tg.server.callback_query_update(new, CARLA, 1, data))
    joined = await tg.reply(new, "Carla ist dabei")
    assert joined.chat_id == new


async def test_removed_from_a_group_nothing_more_is_sent(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    assert tg.adapter is not None and tg.repo is not None
    group = await tg.repo.cities.group_for_chat(ref(GROUP))
    assert group is not None
    tg.server.push_update(tg.server.my_chat_member_update(GROUP, "member", "kicked"))
    await eventually(lambda: _inactive(tg, GROUP))
    assert list(await tg.repo.cities.chats_of_group(group.id)) == []
    sends = len(tg.server.calls_to("sendMessage"))
    await tg.adapter.perform(SendText(ref(GROUP), "Noch da?"))
    assert len(tg.server.calls_to("sendMessage")) == sends  # not even tried

    # added again: active, greeted
    tg.server.push_update(
        tg.server.my_chat_member_update(GROUP, "kicked", "member", from_user_id=ANNA)
    )
    await tg.reply(GROUP, "Hallo!")
    assert list(await tg.repo.cities.chats_of_group(group.id)) == [ref(GROUP)]


async def test_a_403_on_send_marks_the_chat_inactive(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    assert tg.adapter is not None and tg.repo is not None
    group = await tg.repo.cities.group_for_chat(ref(GROUP))
    assert group is not None
    tg.server.kick_bot(GROUP)  # no update: the bot learns it on the next send
    await tg.adapter.perform(SendText(ref(GROUP), "Hallo?"))
    assert [c.status for c in tg.server.calls_to("sendMessage")][-1] == 403
    assert list(await tg.repo.cities.chats_of_group(group.id)) == []
    sends = len(tg.server.calls_to("sendMessage"))
    await tg.adapter.perform(SendText(ref(GROUP), "Hallo??"))
    assert len(tg.server.calls_to("sendMessage")) == sends


async def test_direct_messages_raise_unreachable_when_telegram_refuses(
    tg: TelegramWorld,
) -> None:
    dana = PersonRef("telegram", str(DANA))
    adapter = await tg.start()
    assert tg.repo is not None
    await tg.repo.people.remember_person(Person(dana, "Dana"), tg.clock.now())  # a subscriber
    tg.server.user_never_started(DANA)
    with pytest.raises(Unreachable):
        await adapter.perform(DirectMessage(dana, "Ping"))
    assert tg.server.calls_to("sendMessage")[-1].status == 403
    assert adapter.private_chat_link("abo") == "https://t.me/CoworkBot?start=abo"

    # she starts the bot: the core marks her reachable, the message goes out
    tg.server.never_started.discard(DANA)
    await tg.ask(DANA, DANA, "/start abo", "/abo (/subscribe)")  # the deep link: /abo's help
    assert await tg.repo.people.is_reachable(dana)
    await adapter.perform(DirectMessage(dana, "Ping"))
    await tg.reply(DANA, "Ping")

    # she blocks the bot: Telegram says so, and nothing is tried until she is back
    tg.server.push_update(tg.server.my_chat_member_update(DANA, "member", "kicked"))
    await eventually(lambda: _inactive(tg, DANA))
    sends = len(tg.server.calls_to("sendMessage"))
    with pytest.raises(Unreachable):
        await adapter.perform(DirectMessage(dana, "Ping 2"))
    assert len(tg.server.calls_to("sendMessage")) == sends
    # a reply in a group never raises, even when the chat is gone
    tg.server.kick_bot(GROUP)
    await adapter.perform(SendText(ref(GROUP), "weg"))

    # a flood limit that outlasts the retries: the outbox is told when to try again
    tg.server.push_update(tg.server.my_chat_member_update(DANA, "kicked", "member"))
    await tg.ask(DANA, DANA, "/hilfe", "Im privaten Chat mit mir")
    tg.server.fail_next("sendMessage", error_code=429, retry_after=1, times=10)
    limiter = adapter.app.bot.rate_limiter
    assert isinstance(limiter, FloodLimiter)
    limiter.max_retries = 0
    with pytest.raises(WaitFirst) as wait:
        await adapter.perform(DirectMessage(dana, "Ping 3"))
    assert wait.value.seconds == 1


async def test_stop_finishes_the_update_in_flight(tg: TelegramWorld) -> None:
    await tg.start()
    tg.server.delay("sendMessage", 0.5, times=1)
    tg.say(GROUP, BEN, "/hilfe")
    await tg.server.wait_for("sendMessage", arrived=True)  # its reply is in hand (delayed)
    await tg.stop()
    assert any("Was ich kann" in t for t in tg.texts(GROUP))
    handled = [e for e in tg.events if isinstance(e, CommandEvent)]
    assert len(handled) == 1


async def _inactive(tg: TelegramWorld, chat_id: int) -> bool:
    assert tg.repo is not None
    return await tg.repo.ledger.platform_value("telegram", f"inactive:{chat_id}") == "1"


async def test_telegram_unreachable_at_start_is_waited_out(tg: TelegramWorld) -> None:
    tg.server.fail_next("getMe", error_code=502)
    await tg.start()
    await tg.ask(GROUP, BEN, "/hilfe", "Was ich kann")
    assert [c.status for c in tg.server.calls_to("getMe")] == [502, 200]


async def test_venue_edit_and_not_modified(
    tg: TelegramWorld, caplog: pytest.LogCaptureFixture
) -> None:
    from chatbot.core.actions import Button, EditText, SendVenue

    adapter = await tg.start()
    await adapter.perform(
        SendVenue(ref(GROUP), "Café Museum", 51.4344, 6.7623, "Königstraße 1", thread="7")
    )
    venue = await tg.server.wait_for("sendVenue")
    assert venue.ok
    assert (venue.params["title"], venue.params["address"]) == ("Café Museum", "Königstraße 1")
    assert (venue.params["latitude"], venue.params["longitude"]) == (51.4344, 6.7623)
    assert venue.params["message_thread_id"] == 7
    await adapter.perform(SendVenue(ref(GROUP), "Treffpunkt", 51.43, 6.76))
    no_address = tg.server.calls_to("sendVenue")[-1]
    assert no_address.ok and no_address.params["address"] == "51.43000, 6.76000"

    await adapter.perform(SendText(ref(GROUP), "Heute: nichts"))
    sent = await tg.reply(GROUP, "Heute: nichts")
    message_id = str(sent.result["message_id"])
    edit = EditText(ref(GROUP), message_id, "Heute: Café Museum", (Button("Dabei", "join", "1"),))
    caplog.set_level(logging.INFO, logger="chatbot.adapters.telegram")
    await adapter.perform(edit)
    await adapter.perform(edit)  # the same again: "message is not modified", which is fine
    edits = tg.server.calls_to("editMessageText")
    assert [c.ok for c in edits] == [True, False]
    assert "not modified" in (edits[1].description or "")
    assert edits[0].params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Dabei"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_other_members_joining_and_leaving_reach_the_core(tg: TelegramWorld) -> None:
    from chatbot.core.events import MemberJoined, MemberLeft

    await tg.start()
    update = tg.server.my_chat_member_update(GROUP, "left", "member", from_user_id=DANA)
    change = update.pop("my_chat_member")
    change["old_chat_member"] = tg.server.chat_member_json(tg.server.user_json(DANA), "left")
    change["new_chat_member"] = tg.server.chat_member_json(tg.server.user_json(DANA), "member")
    tg.server.push_update({"chat_member": change})
    left = copy.deepcopy(change)
    left["old_chat_member"], left["new_chat_member"] = (
        change["new_chat_member"],
        change["old_chat_member"],
    )
    tg.server.push_update({"chat_member": left})
    await tg.ask(GROUP, BEN, "/hilfe", "Was ich kann")
    joined = [e for e in tg.events if isinstance(e, MemberJoined)]
    gone = [e for e in tg.events if isinstance(e, MemberLeft)]
    assert [e.member.name for e in joined] == ["Dana"] and not joined[0].is_the_bot
    assert [e.member.name for e in gone] == ["Dana"]


async def test_a_deleted_topic_gets_the_answer_in_the_main_thread(tg: TelegramWorld) -> None:
    adapter = await tg.start()
    tg.server.fail_next(
        "sendMessage", error_code=400, description="Bad Request: message thread not found"
    )
    await adapter.perform(SendText(ref(GROUP), "Hallo Thema", thread="42"))
    sent = await tg.reply(GROUP, "Hallo Thema")
    assert "message_thread_id" not in sent.params
