"""Updates -> events (locations, venues, commands), and the small pure helpers."""

from __future__ import annotations

from chatbot.adapters.telegram.mapping import parse_command
from chatbot.adapters.telegram.ratelimit import SlidingWindows
from chatbot.adapters.telegram.sending import split_text, utf16_len
from chatbot.core.events import LocationEvent, TextEvent
from tests.telegram.conftest import BEN, CARLA, GROUP, TelegramWorld


def test_parse_command() -> None:
    assert parse_command("/heute", "CoworkBot") == ("heute", "")
    assert parse_command("/heute@CoworkBot", "CoworkBot") == ("heute", "")
    assert parse_command("/heute@coworkbot 2", "CoworkBot") == ("heute", "2")
    assert parse_command("/heute@OtherBot", "CoworkBot") is None
    assert parse_command("/schließen", "CoworkBot") == ("schließen", "")
    assert parse_command("/neu 10-14 Café Museum - Steuern", "CoworkBot") == (
        "neu",
        "10-14 Café Museum - Steuern",
    )
    assert parse_command("/neu\n10-14 Café", "CoworkBot") == ("neu", "10-14 Café")
    assert parse_command("hallo /heute", "CoworkBot") is None
    assert parse_command("/", "CoworkBot") is None
    assert parse_command("/@CoworkBot", "CoworkBot") is None


def test_split_text_keeps_lines_and_the_limit() -> None:
    assert split_text("kurz") == ["kurz"]
    lines = [f"{n}. Café Museum 🙂 " + "x" * 50 for n in range(200)]
    pieces = split_text("\n".join(lines))
    assert len(pieces) > 1 and all(utf16_len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == "\n".join(lines)
    long_line = "🙂" * 5000  # 2 UTF-16 units each
    assert all(utf16_len(p) <= 4096 for p in split_text(long_line))
    assert "".join(split_text(long_line)) == long_line


def test_sliding_windows() -> None:
    now = [100.0]
    windows = SlidingWindows(clock=lambda: now[0])
    rules = [(("chat", 1), (3, 3.0)), (("group", 1), (5, 60.0))]
    assert [windows.wait_time(rules) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert windows.wait_time(rules) == 3.0
    now[0] = 103.0
    assert windows.wait_time(rules) == 0.0
    assert windows.wait_time(rules) == 0.0
    assert windows.wait_time(rules) == 57.0  # the group's 5 per minute are used up


async def test_locations_venues_and_live_locations(tg: TelegramWorld) -> None:
    await tg.start()
    server = tg.server
    server.push_update(server.location_update(GROUP, BEN, 51.4344, 6.7623, horizontal_accuracy=25))
    live = server.location_update(GROUP, CARLA, 51.43, 6.76, live_period=900)
    server.push_update(live)
    live_id = live["message"]["message_id"]
    server.push_update(server.edited_location_update(GROUP, CARLA, live_id, 51.44, 6.77))
    venue = {
        "location": {"latitude": 51.4344, "longitude": 6.7623},
        "title": "Café Museum",
        "address": "Königstraße 1",
    }
    server.push_update(server.message_update(GROUP, BEN, venue=venue))
    server.push_update(server.message_update(GROUP, BEN, "nur Text"))
    await tg.ask(GROUP, BEN, "/hilfe", "Was ich kann")  # everything before is handled

    locations = [e for e in tg.events if isinstance(e, LocationEvent)]
    assert len(locations) == 3  # the moved live location was not handled again
    static, first_live, shared_venue = locations
    assert (static.latitude, static.longitude, static.accuracy_m, static.live) == (
        51.4344,
        6.7623,
        25,
        False,
    )
    assert static.origin.sender.name == "Ben" and static.origin.chat.id == str(GROUP)
    assert first_live.live and (first_live.latitude, first_live.longitude) == (51.43, 6.76)
    assert (shared_venue.title, shared_venue.address) == ("Café Museum", "Königstraße 1")
    # plain text is not handed to the core at all (no lookup, no ledger row)
    assert not any(isinstance(e, TextEvent) for e in tg.events)
    assert tg.repo is not None
    marked = await tg.repo.db.execute_fetchall("SELECT count(*) FROM handled_events")
    assert list(marked)[0][0] == len(tg.events)
