"""MSC3381 polls on the fake homeserver: the bot's poll start, votes in the unstable and
the stable shape (changed, taken back, for an unknown poll), the end by command or by a
moderator's "End poll", and the poll registry across a restart."""

from __future__ import annotations

from typing import Any

from chatbot.core.events import VoteEvent
from tests.fakes.matrix_api import Sent
from tests.matrix.world import ANNA, BEN, CARLA, MatrixWorld

POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
TEXT = "org.matrix.msc1767.text"
CLOSED = "Die Umfrage ist geschlossen:"


def vote(start: str, answers: list[str], *, stable: bool = False) -> tuple[str, dict[str, Any]]:
    """(event type, content) of a vote as Element sends it, or in the stable shape."""
    relates = {"rel_type": "m.reference", "event_id": start}
    if stable:
        return "m.poll.response", {"m.relates_to": relates, "m.selections": answers}
    return POLL_RESPONSE, {"m.relates_to": relates, POLL_RESPONSE: {"answers": answers}}


async def poll(mx: MatrixWorld, room: str, user: str = BEN) -> Sent:
    mx.say(room, user, "!umfrage")
    return await mx.hs.wait_sent(room, kind=POLL_START)


async def test_votes_in_both_shapes_and_the_close_by_command(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city(venues=True)
    start = await poll(mx, room)
    block = start.content[POLL_START]
    assert block["kind"] == "org.matrix.msc3381.poll.disclosed"
    assert block["max_selections"] == 1
    answers = {a["id"]: a[TEXT] for a in block["answers"]}
    assert answers == {"1": "1. Café Museum", "2": "2. Kö Lounge"}

    mx.hs.emit(room, BEN, *vote(start.event_id, ["1"]))
    mx.hs.emit(room, BEN, *vote(start.event_id, ["2"]))  # changed
    mx.hs.emit(room, ANNA, *vote(start.event_id, ["2"], stable=True))
    mx.hs.emit(room, CARLA, *vote(start.event_id, ["1"]))
    mx.hs.emit(room, CARLA, *vote(start.event_id, []))  # taken back
    mx.hs.emit(room, CARLA, *vote("$not-a-poll:fake.test", ["1"]))  # ignored
    await mx.settle()
    votes = [
        (e.origin.sender.ref.id, e.option_indexes) for e in mx.events if isinstance(e, VoteEvent)
    ]
    assert votes == [(BEN, (0,)), (BEN, (1,)), (ANNA, (1,)), (CARLA, (0,)), (CARLA, ())]

    mx.say(room, BEN, "!schliessen")
    closed = await mx.hs.wait_sent(room, CLOSED)
    assert "Kö Lounge gewinnt mit 2 Stimmen" in closed.body, closed.body
    end = await mx.hs.wait_sent(room, kind=POLL_END)
    assert end.relates_to == {"rel_type": "m.reference", "event_id": start.event_id}
    assert end.content[POLL_END] == {}
    assert end.content[TEXT] == "Die Umfrage ist geschlossen."


async def test_a_moderator_ends_the_poll_in_element_and_a_restart_keeps_the_registry(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    room = await mx.city(venues=True)
    start = await poll(mx, room)
    await mx.settle()
    await mx.restart()  # the poll start's id is known from the database
    mx.hs.emit(room, BEN, *vote(start.event_id, ["1"]))
    ended = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": start.event_id},
        POLL_END: {},
        TEXT: "Ended poll",
        "body": "Ended poll",
    }
    mx.hs.emit(room, ANNA, POLL_END, ended)  # Anna, the room's creator
    closed = await mx.hs.wait_sent(room, CLOSED)
    assert "Café Museum gewinnt mit 1 Stimme." in closed.body, closed.body


async def test_poll_events_that_are_not_about_this_rooms_poll_change_nothing(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    room = await mx.city(venues=True)
    other = await mx.city(name="Essen", venues=True)
    start = await poll(mx, room)
    await mx.settle()
    said = len(mx.hs.sent)
    # Ben ends something that is not the bot's poll (his own message): nothing
    own = mx.say(room, BEN, "Wohin?")
    mx.hs.emit(room, BEN, POLL_END, {"m.relates_to": {"rel_type": "m.reference", "event_id": own}})
    # in another room, a vote and an end naming this room's poll: nothing
    mx.hs.emit(other, BEN, *vote(start.event_id, ["1"]))
    ended = {"m.relates_to": {"rel_type": "m.reference", "event_id": start.event_id}, POLL_END: {}}
    mx.hs.emit(other, ANNA, POLL_END, ended)
    await mx.settle()
    assert mx.hs.sent[said:] == []  # no answer anywhere
    assert not any(isinstance(e, VoteEvent) for e in mx.events)
    mx.hs.emit(room, BEN, *vote(start.event_id, ["2"]))
    await mx.settle()
    assert [e.option_indexes for e in mx.events if isinstance(e, VoteEvent)] == [(1,)]
