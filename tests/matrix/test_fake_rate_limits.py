"""The homeserver's refusals on the fake homeserver: a per-room rate limit
(M_LIMIT_EXCEEDED with retry_after_ms: waited as asked, the room's order kept, another
room not delayed), a 5xx, an answer that comes too late, M_FORBIDDEN, a failing sync,
a revoked access token."""

from __future__ import annotations

from chatbot.runtime.retry import RetryPolicy
from tests.matrix.world import ANNA, BEN, MatrixWorld

LIMIT, WINDOW = 2, 0.4  # sends per room within any 0.4 s


def answers_in_order(mx: MatrixWorld, room: str, commands: list[str]) -> list[str]:
    """The commands the bot's messages in the room reply to, in the order they came."""
    replied = [s.reply_to for s in mx.hs.sent_in(room)]
    return [c for c in replied if c in commands]


async def test_a_rate_limited_room_waits_as_asked_in_order_and_delays_no_other(
    mx: MatrixWorld,
) -> None:
    await mx.start()
    busy = await mx.city()
    calm = await mx.city(name="Essen")
    await mx.settle()
    mx.hs.limit_sends(LIMIT, WINDOW)
    commands = [mx.say(busy, BEN, "!heute") for _ in range(6)]
    asked = mx.say(calm, ANNA, "!heute")

    calm_answer = await mx.reply(calm, asked)
    last = await mx.reply(busy, commands[-1])
    assert calm_answer.time < last.time - WINDOW  # not behind the busy room's queue
    assert answers_in_order(mx, busy, commands) == commands  # each once, in order

    # every 429 was waited out as asked: the room's next send came no sooner, and soon
    sends = mx.hs.calls_to("send", busy)
    limited = [(i, c) for i, c in enumerate(sends) if c.status == 429]
    assert limited and mx.hs.rate_limited == len(limited)
    for i, refused in limited:
        wait = refused.answer["retry_after_ms"] / 1000
        assert 0 < wait <= WINDOW
        retried = sends[i + 1].time - refused.time
        assert wait - 0.01 <= retried <= wait + 0.25, (wait, retried)
    assert len(limited) <= len(commands) - LIMIT  # no send was tried early and refused again
    assert mx.adapter.rate_limited == len(limited)


async def test_a_server_error_is_retried_and_a_late_answer_not_posted_twice(
    mx: MatrixWorld,
) -> None:
    adapter = await mx.start()
    adapter.runtime.policy = RetryPolicy(first=0.05)
    room = await mx.city()
    mx.hs.fail("send", room, status=503, times=2)
    command = mx.say(room, BEN, "!heute")
    answer = await mx.reply(room, command)
    assert [c.status for c in mx.hs.calls_to("send", room)[-3:]] == [503, 503, 200]
    assert answer.body.startswith("Heute in Duisburg")

    # the event is in, but the answer comes after the client gave up: the retry with
    # the same transaction id gets the event back instead of posting a second one
    adapter.api.request_timeout = 0.2
    mx.hs.fail("send", room, status=0, delay=0.4, lose_answer=True)
    late = mx.say(room, BEN, "!heute")
    content = (await mx.reply(room, late)).content

    def tries() -> list[str]:
        return [c.answer["event_id"] for c in mx.hs.calls_to("send", room) if c.body == content]

    await mx.hs.until(lambda: len(tries()) == 2)  # the late answer and the retry's
    await mx.settle()
    assert len(mx.hs.replies_to(late)) == 1
    assert tries() == [mx.hs.replies_to(late)[0].event_id] * 2


async def test_a_forbidden_send_is_given_up_and_the_room_goes_on(mx: MatrixWorld) -> None:
    adapter = await mx.start()
    adapter.runtime.policy = RetryPolicy(first=0.05)
    room = await mx.city()
    mx.hs.fail("send", room, status=403)
    refused = mx.say(room, BEN, "!heute")
    after = mx.say(room, BEN, "!hilfe")
    await mx.reply(room, after)
    await mx.settle()
    tried = [c for c in mx.hs.calls_to("send", room) if c.status == 403]
    assert len(tried) == 1  # not retried
    assert not mx.hs.replies_to(refused)
    assert await mx.pending() == 0


async def test_a_failing_sync_and_a_revoked_token_are_recovered_from(mx: MatrixWorld) -> None:
    await mx.start()
    room = await mx.city()
    logins = len(mx.hs.calls_to("login"))
    device = mx.hs.calls_to("login")[-1].answer["device_id"]
    mx.hs.revoke_tokens()
    first = mx.say(room, BEN, "!heute")
    await mx.reply(room, first)
    relogin = mx.hs.calls_to("login")[logins:]
    assert [c.answer["device_id"] for c in relogin] == [device]  # the same device

    mx.hs.fail("sync", status=502)
    second = mx.say(room, BEN, "!heute")
    await mx.reply(room, second)
    assert [c.status for c in mx.hs.calls_to("sync")].count(502) == 1
