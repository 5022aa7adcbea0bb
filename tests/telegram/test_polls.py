"""The native poll path: /umfrage -> sendPoll (non-anonymous), poll_answer -> votes,
/schliessen -> stopPoll and the winner."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chatbot.core.events import VoteEvent
from tests.telegram.conftest import BEN, CARLA, DANA, GROUP, TelegramWorld, eventually


async def test_native_poll_votes_and_close(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    tg.say(GROUP, BEN, "/umfrage")
    sent = await tg.server.wait_for("sendPoll")
    assert sent.ok and sent.chat_id == GROUP
    assert sent.params["is_anonymous"] is False
    options = [o if isinstance(o, str) else o["text"] for o in sent.params["options"]]
    assert options == ["1. Café Museum", "2. Kö Lounge"]  # the venues' own numbers
    assert sent.params["question"].startswith("Wo arbeiten wir heute?")
    native_id = sent.result["poll"]["id"]

    for user, choice in ((CARLA, [1]), (DANA, [1]), (BEN, [0]), (BEN, [])):
        tg.server.push_update(tg.server.poll_answer_update(native_id, user, choice))
    tg.server.push_update(tg.server.poll_answer_update("999", CARLA, [0]))  # not our poll

    assert tg.repo is not None
    repo = tg.repo

    async def votes_counted() -> bool:
        polls = await repo.polls.open_polls()
        return len(polls) == 1 and sorted(v.person.name for v in polls[0].votes) == [
            "Carla",
            "Dana",
        ]

    async def all_answers_handled() -> bool:
        # Ben's vote and its retraction may still be on their way when the count first
        # matches (his final state is "no vote" either way)
        return len([e for e in tg.events if isinstance(e, VoteEvent)]) >= 4

    await eventually(all_answers_handled)
    await eventually(votes_counted)
    votes = [e for e in tg.events if isinstance(e, VoteEvent)]
    assert len(votes) == 4  # the foreign poll's answer did not reach the core
    assert votes[0].origin.chat.id == str(GROUP) and votes[0].option_indexes == (1,)
    assert votes[-1].option_indexes == ()

    closed = await tg.ask(GROUP, BEN, "/schliessen", "Umfrage ist geschlossen")
    assert "Kö Lounge gewinnt mit 2 Stimmen" in closed.params["text"]
    stop = await tg.server.wait_for("stopPoll")
    assert stop.ok and stop.params["message_id"] == sent.result["message_id"]
    assert stop.chat_id == GROUP
    # a vote after the close changes nothing
    tg.server.push_update(tg.server.poll_answer_update(native_id, BEN, [0]))
    today = await tg.ask(GROUP, BEN, "/heute", "Heute in")
    assert "Kö Lounge" in today.params["text"]
    assert "Ben" not in today.params["text"].split("Kö Lounge", 1)[1].split("\n\n")[0]


async def test_a_poll_closed_after_its_day_stops_the_native_poll_and_opens_no_session(
    tg: TelegramWorld,
) -> None:
    """The bot was down through Monday's close and comes back on Tuesday: the tick
    closes Monday's poll (stopPoll) and says that no session comes from it."""
    adapter = await tg.start()
    await tg.setup_group()
    tg.say(GROUP, BEN, "/umfrage")
    sent = await tg.server.wait_for("sendPoll")
    tg.server.push_update(tg.server.poll_answer_update(sent.result["poll"]["id"], CARLA, [1]))
    assert tg.repo is not None and tg.core is not None
    repo = tg.repo

    async def voted() -> bool:
        return [len(p.votes) for p in await repo.polls.open_polls()] == [1]

    await eventually(voted)
    tg.clock.set(tg.clock.now() + timedelta(days=1, hours=2))  # Tuesday 10:30
    for action in await tg.core.tick():
        await adapter.perform(action)
    stop = await tg.server.wait_for("stopPoll")
    assert stop.ok and stop.params["message_id"] == sent.result["message_id"]
    late = await tg.reply(GROUP, "erst jetzt geschlossen")
    assert late.params["text"].splitlines() == [
        "Die Umfrage vom Montag, 30. November wird erst jetzt geschlossen, nach ihrem Tag;"
        " darum wird keine Session daraus eröffnet.",
        "Stimmen: Kö Lounge 1, Café Museum 0",
    ]
    assert "reply_markup" not in late.params  # no join button: there is no session
    today = await tg.ask(GROUP, BEN, "/heute", "Heute")
    assert "Kö Lounge" not in today.params["text"]


async def test_a_vote_that_comes_before_its_poll_is_recorded_still_counts(
    tg: TelegramWorld,
) -> None:
    """Telegram shows a poll to the group as it answers sendPoll, so a vote can arrive
    before the bot has recorded which poll that is (here: recording it takes a while).
    The vote waits for the poll instead of being taken for another bot's."""
    adapter = await tg.start()
    await tg.setup_group()
    recorded = asyncio.Event()
    remember = adapter.state.remember_poll

    async def slow_remember(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(0.5)  # the slow database this test is about
        await remember(*args, **kwargs)  # type: ignore[arg-type]
        recorded.set()

    adapter.state.remember_poll = slow_remember  # type: ignore[method-assign]
    tg.say(GROUP, BEN, "/umfrage")
    sent = await tg.server.wait_for("sendPoll")
    tg.server.push_update(tg.server.poll_answer_update(sent.result["poll"]["id"], CARLA, [1]))
    assert tg.repo is not None
    repo = tg.repo

    async def voted() -> bool:
        return [len(p.votes) for p in await repo.polls.open_polls()] == [1]

    await eventually(voted)
    assert recorded.is_set()
