"""Sync -> timeline -> core, on the fake homeserver: commands with the ``!`` prefix,
mention pills, replies with their fallback quote, edits of a rejected command, threads,
a burst larger than the timeline (back-filled), history before the bot's join."""

from __future__ import annotations

import pytest

from chatbot.adapters.matrix import timeline
from chatbot.core.events import CommandEvent, TextEvent
from tests.matrix.world import ANNA, BEN, MatrixWorld

BOT = "@bot:fake.test"


def say_with_pill(mx: MatrixWorld, room: str, user: str, text: str, name: str = "Bot") -> str:
    """A command after a mention pill of the bot, as Element Web composes it."""
    link = f'<a href="https://matrix.to/#/{BOT}">{name}</a>'
    return mx.say(room, user, f"{name}: {text}", html=f"{link}: {text}", mentions=[BOT])


async def test_a_command_is_answered_as_a_reply_and_plain_text_is_not_handed_on(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    room = await mx.city()
    command = mx.say(room, BEN, "!heute")
    answer = await mx.reply(room, command)
    assert answer.body.startswith("Heute in Duisburg"), answer.body
    assert answer.content["msgtype"] == "m.notice"
    assert answer.content["format"] == "org.matrix.custom.html"
    assert answer.content["m.mentions"] == {}  # the bot pings nobody
    await mx.handled(command)

    chat = mx.say(room, BEN, "Guten Morgen zusammen")
    await mx.settle()
    assert not await mx.adapter.seen(chat)  # no ledger row for chatter
    assert not any(isinstance(e, TextEvent) for e in mx.events)
    assert not mx.hs.replies_to(chat)


async def test_a_mention_pill_addresses_the_bot_and_an_unknown_command_needs_it(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    room = await mx.city()
    # another bot's command, not addressed to ours: no answer
    other = mx.say(room, BEN, "!remind 10m Kaffee")
    await mx.settle()
    assert await mx.adapter.seen(other)
    assert not mx.hs.replies_to(other)

    # the same, addressed with a pill: the unknown command is answered
    addressed = say_with_pill(mx, room, BEN, "!remind 10m Kaffee")
    unknown = await mx.reply(room, addressed)
    assert "kenne ich nicht" in unknown.body, unknown.body

    # a known command after the pill: the pill's text is not part of the command
    today = say_with_pill(mx, room, BEN, "!heute")
    assert (await mx.reply(room, today)).body.startswith("Heute in Duisburg")
    commands = [e for e in mx.events if isinstance(e, CommandEvent)]
    assert [(c.name, c.addressed) for c in commands[-3:]] == [
        ("remind", False),
        ("remind", True),
        ("heute", True),
    ]


async def test_a_reply_with_its_fallback_quote_is_read_as_its_command(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city(venues=True)
    today = await mx.ask(room, BEN, "!heute")
    quoted = f"> <{BOT}> {today.body.splitlines()[0]}\n> {today.body.splitlines()[1]}\n\n!orte"
    replying = mx.say(room, BEN, quoted, reply_to=today.event_id)
    venues = await mx.reply(room, replying)
    assert "Café Museum" in venues.body and "Kö Lounge" in venues.body, venues.body


async def test_an_edit_fixes_a_rejected_command_once(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city(venues=True)
    wrong = mx.say(room, BEN, "!neu 25-26 Café Museum")
    rejected = await mx.reply(room, wrong, "Beispiel")

    mx.hs.edit(room, BEN, wrong, "!neu 10-14 Café Museum")
    opened = await mx.reply(room, None, "Neue Session", after=mx.hs.sent.index(rejected) + 1)
    assert "Café Museum, 10:00–14:00, eröffnet von Ben" in opened.body

    # a second edit of it, an edit by someone else, an edit of a command that worked
    mx.hs.edit(room, BEN, wrong, "!neu 15-17 Kö Lounge")
    worked = mx.say(room, ANNA, "!heute")
    await mx.reply(room, worked)
    mx.hs.edit(room, ANNA, worked, "!orte")
    other = mx.say(room, ANNA, "!neu 25-26 Kö Lounge")
    await mx.reply(room, other, "Beispiel")
    mx.hs.edit(room, BEN, other, "!neu 10-12 Kö Lounge")
    await mx.settle()
    assert sum("Neue Session" in text for text in mx.texts(room)) == 1, mx.texts(room)
    assert len(mx.hs.replies_to(worked)) == 1


async def test_an_edit_after_the_edit_window_is_not_acted_on(
    mx: MatrixWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timeline, "EDIT_WINDOW", 0.0)  # every edit comes too late
    await mx.start()
    room = await mx.city(venues=True)
    wrong = mx.say(room, BEN, "!neu 25-26 Café Museum")
    await mx.reply(room, wrong, "Beispiel")
    mx.hs.edit(room, BEN, wrong, "!neu 10-14 Café Museum")
    await mx.settle()
    assert not any("Neue Session" in text for text in mx.texts(room))


async def test_a_command_in_a_thread_is_answered_in_the_thread(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city()
    root = mx.say(room, ANNA, "Wer kommt morgen?")
    in_thread = mx.say(room, BEN, "!heute", thread=root)
    answer = await mx.reply(room, in_thread)
    assert answer.relates_to["rel_type"] == "m.thread"
    assert answer.relates_to["event_id"] == root
    assert answer.relates_to["is_falling_back"] is False


async def test_a_burst_larger_than_the_timeline_is_back_filled(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city()
    await mx.stop()  # the burst comes while the bot is down
    commands = [mx.say(room, BEN, "!heute") for _ in range(8)]
    await mx.start(timeline_limit=3)
    await mx.settle()
    for command in commands:
        assert len(mx.hs.replies_to(command)) == 1, command
    assert mx.hs.calls_to("messages", room), "no back-fill"


async def test_history_before_the_bot_joined_is_not_acted_on(mx: MatrixWorld) -> None:
    await mx.start()
    room = mx.hs.add_room(ANNA, members=[BEN], name="Coworking Duisburg")
    before = [mx.say(room, BEN, "!heute"), mx.say(room, ANNA, "!hilfe")]
    await mx.invite(room)
    after = mx.say(room, BEN, "!hilfe")
    await mx.reply(room, after)
    await mx.settle()
    for command in before:
        assert not mx.hs.replies_to(command)
        assert not await mx.adapter.seen(command)
