"""Share a location, find a session nearby (core, real SQLite, fake clock)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chatbot.core.actions import SendText
from chatbot.core.events import ChatRef
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import GroupChat, berlin

HBF = (51.4297, 6.7755)  # Duisburg Hauptbahnhof
ESSEN = (51.4556, 7.0116)


def only_text(actions: list[object]) -> SendText:
    [message] = [a for a in actions if isinstance(a, SendText)]
    return message


async def essen_group(duisburg: GroupChat, *, public: bool = True) -> GroupChat:
    """A second city group on the same bot (another chat)."""
    essen = GroupChat(duisburg.bot, duisburg.clock, duisburg.admins, ChatRef("test", "group-2"))
    await essen.say("Anna", "/einrichten Essen | Europe/Berlin | de")
    await essen.say("Anna", "/ort add Café Extrablatt | 51.4556, 7.0116")
    if not public:
        await essen.say("Anna", "/einstellungen oeffentlich aus")
    await essen.say("Uwe", "/neu 10-14 Extrablatt")
    return essen


async def test_a_shared_location_lists_sessions_nearest_first_with_distances(
    duisburg: GroupChat,
) -> None:
    await duisburg.say("Ben", "/neu 10-14 Finkenkrug")  # 51.4290, 6.7900: 1,01 km east
    await duisburg.say("Carla", "/neu 11-15 Café Museum")  # 51.4344, 6.7623: 1,05 km north-west
    await duisburg.say("Dana", "/neu 9-12 Kö Lounge")  # 51.4330, 6.7650: 820 m
    message = only_text(await duisburg.share("Emil", *HBF))
    lines = message.text.splitlines()
    assert lines[0] == "Heutige Sessions im Umkreis von 5 km, die nächste zuerst:"
    # nearest first, each with the number its group knows it by (/dabei 3 in the group)
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "3. Kö Lounge",
        "1. Finkenkrug",
        "2. Café Museum",
    ]
    assert lines[1] == "3. Kö Lounge (Duisburg), 09:00–12:00 · 820 m"
    assert lines[2].endswith("· 1 km")
    assert lines[3].endswith("· 1,1 km")
    assert [b.args for b in message.buttons] == ["s3", "s1", "s2"]


async def test_join_from_the_nearby_answer(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Finkenkrug")
    message = only_text(await duisburg.share("Emil", *HBF, private=True))
    [button] = message.buttons
    assert (button.command, button.command_name) == ("join", "dabei")
    joined = await duisburg.reply_text("Emil", f"/dabei {button.args}", private=True)
    assert joined == "Emil ist dabei: Finkenkrug, 10:00–14:00."
    assert "2 dabei: Ben, Emil" in await duisburg.reply_text("Ben", "/heute")


async def test_a_visitor_in_a_private_chat_finds_public_groups_of_another_city(
    duisburg: GroupChat,
) -> None:
    await essen_group(duisburg)
    message = only_text(await duisburg.share("Gast", *ESSEN, private=True))
    assert "1. Café Extrablatt (Essen), 10:00–14:00 · 0 m" in message.text


async def test_an_unlisted_group_is_not_found_by_outsiders(duisburg: GroupChat) -> None:
    essen = await essen_group(duisburg, public=False)
    outsider = only_text(await duisburg.share("Gast", *ESSEN, private=True))
    assert outsider.text.startswith("Heute keine Session im Umkreis von 5 km.")
    member = only_text(await essen.share("Uwe", *ESSEN))
    assert "Café Extrablatt" in member.text  # its own members still see it


async def test_nothing_within_the_radius_names_the_nearest(duisburg: GroupChat) -> None:
    await essen_group(duisburg)
    text = only_text(await duisburg.share("Emil", *HBF)).text
    assert text.startswith("Heute keine Session im Umkreis von 5 km.")
    assert "Die nächste ist Café Extrablatt (Essen), 10:00–14:00, 16,6 km entfernt." in text


async def test_nearby_radius_can_be_overridden(duisburg: GroupChat) -> None:
    await essen_group(duisburg)
    await duisburg.say("Emil", "/naehe 20")
    text = only_text(await duisburg.share("Emil", *HBF)).text
    assert text.startswith("Heutige Sessions im Umkreis von 20 km")
    # the override is for one answer only
    assert "5 km" in only_text(await duisburg.share("Emil", *HBF)).text
    bad = await duisburg.reply_text("Emil", "/naehe 500")
    assert "von 0,1 bis 100" in bad and "Beispiel: /naehe 2" in bad


async def test_nearby_asks_for_a_location(duisburg: GroupChat) -> None:
    [private] = await duisburg.say("Emil", "/naehe", private=True)
    assert isinstance(private, SendText) and private.ask_location
    [group] = await duisburg.say("Emil", "/naehe")
    assert isinstance(group, SendText) and not group.ask_location
    assert "Antworte auf diese Nachricht" in group.text


async def test_bad_coordinates_are_refused(duisburg: GroupChat) -> None:
    text = only_text(await duisburg.share("Emil", 91.0, 6.0)).text
    assert "außerhalb der Karte" in text


async def test_open_here_uses_the_shared_point_rounded_and_forgets_it_at_the_end(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    refused = await duisburg.reply_text("Emil", "/neu hier 10-12")
    assert "zuerst deinen Standort" in refused
    await duisburg.share("Emil", 51.434567, 6.762345)
    opened = await duisburg.reply_text("Emil", "/neu hier 10-12")
    assert opened.startswith("Neue Session 1: Geteilter Standort von Emil, 10:00–12:00")
    async with repo.db.execute("SELECT latitude, longitude FROM sessions") as cursor:
        assert tuple(await cursor.fetchone()) == (51.435, 6.762)  # type: ignore[arg-type]
    duisburg.clock.set(berlin("2026-11-30 12:30"))
    await duisburg.bot.tick()
    async with repo.db.execute("SELECT latitude, longitude, state FROM sessions") as cursor:
        assert tuple(await cursor.fetchone()) == (0, 0, "ended")  # type: ignore[arg-type]


async def test_a_position_is_not_stored(duisburg: GroupChat, repo: SqliteRepository) -> None:
    await duisburg.say("Ben", "/neu 10-14 Finkenkrug")
    await duisburg.share("Emil", 51.434567, 6.762345)
    await repo.close()
    # closing checkpoints the WAL into the file; nothing of the position is in it
    raw = await asyncio.to_thread(Path(repo.db_path).read_bytes)
    assert b"51.434567" not in raw and b"6.762345" not in raw


async def test_an_admin_adds_a_venue_by_sharing_it(duisburg: GroupChat) -> None:
    prompt = await duisburg.reply_text("Anna", "/ort add")
    assert "Teile den Ort" in prompt
    added = only_text(
        await duisburg.share(
            "Anna", 51.4312, 6.7611, title="Café Dix", address="Dellplatz 3, Duisburg"
        )
    )
    assert added.text == "Ort 4 hinzugefügt: Café Dix."  # the group's fourth venue
    assert "4. Café Dix · Dellplatz 3, Duisburg" in await duisburg.reply_text("Ben", "/orte")
    # a shared venue without the prompt is just a location
    answer = only_text(await duisburg.share("Ben", 51.4312, 6.7611, title="Somewhere"))
    assert "Umkreis" in answer.text
