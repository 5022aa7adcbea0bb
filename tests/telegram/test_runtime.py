"""The runtime on Telegram, end to end over the fake Bot API: a group over its flood
limit holds up only itself; commands sent while the bot was down are not applied as if
new; another bot's commands get no answer."""

from __future__ import annotations

import time

from tests.telegram.conftest import ANNA, BEN, GROUP, OTHER_GROUP, TelegramWorld


async def test_a_group_over_its_flood_limit_does_not_hold_up_another(tg: TelegramWorld) -> None:
    await tg.start(telegram_flood_limits=True)
    await tg.setup_group()
    tg.server.add_chat(OTHER_GROUP, "supergroup", title="Coworking Essen")
    await tg.setup_group(OTHER_GROUP)
    # 26 answers for one group: over Telegram's 20 messages a minute there
    for _ in range(26):
        tg.say(GROUP, BEN, "/hilfe")
    await tg.reply(GROUP, "Was ich kann")
    started = time.monotonic()
    await tg.ask(OTHER_GROUP, BEN, "/heute", "Heute")
    waited = time.monotonic() - started
    assert waited < 5, f"the calm group waited {waited:.1f} s behind the busy one"
    answered = len([c for c in tg.server.calls_to("sendMessage") if c.chat_id == GROUP and c.ok])
    assert answered < 26  # the busy group is still waiting on its limit meanwhile


async def test_commands_from_while_the_bot_was_down_are_not_applied(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    written = int(tg.clock.now().timestamp()) - 2 * 3600  # two hours ago
    for text in ("/neu 10-14 Café Museum", "/heute"):
        update = tg.server.message_update(GROUP, BEN, text)
        update["message"]["date"] = written
        tg.server.push_update(update)
    note = await tg.reply(GROUP, "nicht erreichbar")
    text = note.params["text"]
    assert "/neu 10-14 Café Museum" in text and "/heute" not in text
    # nothing was opened, and the late /heute got no (outdated) answer
    assert [t for t in tg.server.sent_texts(GROUP) if t.startswith("Neue Session")] == []


async def test_another_bots_command_gets_no_answer_unless_addressed(tg: TelegramWorld) -> None:
    adapter = await tg.start()
    await tg.setup_group()
    tg.say(GROUP, BEN, "/remind me in 1h")  # a command of another bot in the group
    await tg.ask(GROUP, ANNA, "/hilfe", "Was ich kann")
    assert not any("remind" in t for t in tg.server.sent_texts(GROUP))
    username = adapter.app.bot.username
    answer = await tg.ask(GROUP, BEN, f"/remind@{username} me", "remind")
    assert "/hilfe" in answer.params["text"]
