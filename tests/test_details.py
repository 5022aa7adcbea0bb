"""Helpful in detail: the venue's address in lists and announcements, the place on a
map, and a visitor's join told to the group (core, real SQLite, fake clock)."""

from __future__ import annotations

from chatbot.core.actions import SendText, SendVenue
from tests.kit import GroupChat


async def test_today_the_week_and_the_announcement_show_the_address(duisburg: GroupChat) -> None:
    [announcement] = [
        a for a in await duisburg.say("Ben", "/neu 10-14 Café Museum") if isinstance(a, SendText)
    ]
    assert "Königstraße 1" in announcement.text
    assert [b.command for b in announcement.buttons] == ["join", "where"]
    assert "   Königstraße 1" in await duisburg.reply_text("Ben", "/heute")
    assert "Königstraße 1" in await duisburg.reply_text("Ben", "/woche")


async def test_where_shows_the_place_as_a_venue(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    [venue] = await duisburg.say("Carla", "/wo 1")
    assert isinstance(venue, SendVenue)
    assert (venue.title, venue.address) == ("1. Café Museum", "Königstraße 1")
    assert (venue.latitude, venue.longitude) == (51.4344, 6.7623)
    # by the id a button carries, from a private chat of a visitor too
    [private] = await duisburg.say("Vera", "/wo s1", private=True)
    assert isinstance(private, SendVenue) and private.chat.id == "dm-vera"
    # a "here" session shows its rounded point
    await duisburg.share("Dana", 51.434567, 6.762345)
    await duisburg.say("Dana", "/neu hier 15-17")
    [here] = await duisburg.say("Carla", "/wo 2")
    assert isinstance(here, SendVenue) and (here.latitude, here.longitude) == (51.435, 6.762)


async def test_a_join_from_a_private_chat_is_told_in_the_group(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/neu 10-14 Café Museum")
    actions = await duisburg.say("Vera", "/dabei s1", private=True)
    group_posts = [a.text for a in actions if isinstance(a, SendText) and a.chat == duisburg.chat]
    assert group_posts == [
        "Vera ist über einen privaten Chat bei Session 1 dabei (Café Museum, 10:00–14:00)."
    ]
