"""Restarts on the fake homeserver: the saved sync token, an event never handled twice
(even when the token was lost), actions left undelivered sent after the restart once
(and one whose answer was lost not posted twice), commands from while the bot was down."""

from __future__ import annotations

from datetime import timedelta

from chatbot.core.events import CommandEvent
from tests.matrix.world import ANNA, BEN, MatrixWorld


def commands_seen(mx: MatrixWorld, event_id: str) -> int:
    """How often the core was handed the command of that event."""
    return sum(
        1 for e in mx.events if isinstance(e, CommandEvent) and e.origin.message_id == event_id
    )


async def test_the_sync_token_is_saved_and_the_next_start_syncs_from_it(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city()
    command = mx.say(room, BEN, "!heute")
    await mx.reply(room, command)
    await mx.settle()
    token = await mx.platform_value("next_batch")
    assert token is not None and int(token[1:]) >= mx.hs.rooms[room].events[-1][0] - 1

    syncs = len(mx.hs.calls_to("sync"))
    await mx.restart()
    first = mx.hs.calls_to("sync")[syncs]
    assert first.query["since"] == token and first.query["full_state"] == "true"
    await mx.settle()
    assert len(mx.hs.replies_to(command)) == 1
    assert commands_seen(mx, command) == 1


async def test_an_event_handled_before_its_token_was_saved_is_not_handled_again(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    room = await mx.city()
    before = f"s{mx.hs.position}"
    command = mx.say(room, BEN, "!heute")
    await mx.reply(room, command)
    await mx.settle()
    await mx.stop()
    # a crash after the event's unit of work, before its sync token was saved
    await mx.set_platform_value("next_batch", before)

    await mx.start()
    await mx.settle()
    assert mx.hs.handled_up_to > int(before[1:])  # the sync brought the event again
    assert commands_seen(mx, command) == 1
    assert len(mx.hs.replies_to(command)) == 1


async def test_an_answer_left_undelivered_at_a_stop_goes_out_after_the_restart_once(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    room = await mx.city()
    await mx.settle()
    mx.hs.fail("send", room, status=502, times=None)  # the homeserver's sending is down
    command = mx.say(room, BEN, "!heute")
    await mx.handled(command)
    await mx.hs.until(lambda: mx.hs.calls_to("send", room)[-1].status == 502)
    assert await mx.pending() == 1
    await mx.stop()

    mx.hs.clear()
    await mx.start()
    answer = await mx.reply(room, command)
    assert answer.body.startswith("Heute in Duisburg")
    await mx.settle()
    assert len(mx.hs.replies_to(command)) == 1
    assert await mx.pending() == 0
    assert commands_seen(mx, command) == 1


async def test_a_send_whose_answer_was_lost_is_not_posted_twice(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city()
    mx.hs.fail("send", room, status=500, lose_answer=True)  # stored, then a 500
    command = mx.say(room, BEN, "!heute")
    await mx.hs.until(lambda: mx.hs.calls_to("send", room)[-1].status == 500)
    assert len(mx.hs.replies_to(command)) == 1
    await mx.restart()  # the action is still pending: sent again, same transaction id
    await mx.settle()
    tries = [
        c for c in mx.hs.calls_to("send", room) if c.body == mx.hs.replies_to(command)[0].content
    ]
    assert len(tries) == 2 and tries[-1].ok
    assert len(mx.hs.replies_to(command)) == 1
    assert await mx.pending() == 0


async def test_commands_from_while_the_bot_was_down_are_not_applied_late(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    room = await mx.city(venues=True)
    await mx.stop()
    opening = mx.say(room, BEN, "!neu 10-14 Café Museum")
    reading = mx.say(room, ANNA, "!heute")
    mx.clock.set(mx.clock.now() + timedelta(minutes=11))
    await mx.start()
    note = await mx.hs.wait_sent(room, "zu spät")
    assert "!neu 10-14 Café Museum" in note.body and "!heute" not in note.body, note.body
    await mx.settle()
    assert not any("Neue Session" in text for text in mx.texts(room))
    assert not mx.hs.replies_to(reading) and not mx.hs.replies_to(opening)
