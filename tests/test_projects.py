"""Projects: post, matching members told (muted ones not), offers, the lead takes, done
with a record for each member, cancel, refusals, numbers never reused, retention."""

from __future__ import annotations

import pytest

from chatbot.storage.sqlite import SqliteRepository
from tests.kit import GroupChat, berlin


@pytest.fixture
async def city(group: GroupChat) -> GroupChat:
    """An English city group where Ben, Carla and Dana have profiles."""
    await group.say("Anna", "/setup Duisburg | Europe/Berlin | en")
    await group.say("Ben", "/profile web development, Fotografie")
    await group.say("Carla", "/profile Übersetzung, copywriting")
    await group.say("Dana", "/profile photography")
    return group


async def dms(chat: GroupChat, name: str) -> list[str]:
    return [m.text for m in await chat.pending("project") if m.person.id == name.lower()]


async def test_a_project_from_post_to_done(city: GroupChat) -> None:
    post = await city.reply_text(
        "Anna", "/project new Bakery website | Webentwicklung, photography | Three pages"
    )
    assert post.startswith("New project 1: Bakery website, led by Anna.\nNeeds:"), post
    assert "/project join 1" in post and "I told 2 members" in post
    [to_ben] = await dms(city, "Ben")
    assert "Bakery website" in to_ben and "Webentwicklung, photography" in to_ben
    assert await dms(city, "Dana") and not await dms(city, "Carla")
    [message] = [m for m in await city.pending("project") if m.person.id == "ben"]
    assert message.buttons[0][1:3] == ("project", "join p1")

    # Ben offers from his private chat by the id the button carries
    offered = await city.reply_text("Ben", "/project join p1", private=True)
    assert "Anna ist benachrichtigt" in offered  # a private chat: German by default
    [to_anna] = await dms(city, "Anna")
    assert "Ben offers help" in to_anna and "/project take p1 Ben" in to_anna
    assert "already" in await city.reply_text("Ben", "/project join 1")
    await city.say("Dana", "/project join 1")

    refused = await city.reply_text("Carla", "/project take 1 Ben")
    assert refused.startswith("Only Anna, who leads project 1")
    unknown = await city.reply_text("Anna", "/project take 1 Zoe")
    assert "Nobody called “Zoe”" in unknown and "Ben, Dana" in unknown
    taken = await city.reply_text("Anna", "/project take 1 ben")  # fuzzy, as venues
    assert taken.startswith("Ben is in the team of project 1")
    await city.say("Anna", "/project take 1 Dan")
    assert any("took you into the team" in t for t in await dms(city, "Dana"))

    shown = await city.reply_text("Carla", "/project 1")
    assert "Team: Ben, Dana" in shown and "Needs: Webentwicklung, photography" in shown
    listed = await city.reply_text("Carla", "/projects")
    assert "1. Bakery website, led by Anna" in listed and "2 in the team" in listed

    assert "can end it" in await city.reply_text("Ben", "/project done 1")
    city.clock.set(berlin("2026-12-14 10:00"))
    done = await city.reply_text("Anna", "/project done 1")
    assert done.startswith("Project 1 (Bakery website) is done; the team is dissolved.")
    for member in ("Ben", "Dana"):
        record = (await dms(city, member))[-1]
        assert record.startswith("Project 1 in Duisburg is done: Bakery website."), record
        assert "Led by: Anna" in record and "Team: Ben, Dana" in record
        assert "From November 30, 2026 to December 14, 2026" in record
    assert "No open projects" in await city.reply_text("Carla", "/projects")
    assert "has ended" in await city.reply_text("Carla", "/project join 1")
    # numbers are never reused
    again = await city.reply_text("Anna", "/project new Flyer | copywriting")
    assert again.startswith("New project 2: Flyer")


async def test_muted_members_get_no_direct_message(city: GroupChat) -> None:
    await city.say("Dana", "/profile mute")
    await city.say("Ben", "/project new Photos | photography")
    assert not await dms(city, "Dana")
    assert not await dms(city, "Ben")  # the lead is not told about their own project
    await city.say("Dana", "/profile unmute")
    await city.say("Ben", "/project new More photos | photography")
    assert await dms(city, "Dana")


async def test_cancel_tells_the_team_without_a_record(city: GroupChat) -> None:
    await city.say("Anna", "/project new Flyer | copywriting")
    await city.say("Carla", "/project join 1")
    await city.say("Anna", "/project take 1 Carla")
    cancelled = await city.reply_text("Anna", "/project cancel 1")
    assert cancelled.startswith("Project 1 (Flyer) is cancelled.") and "team is told" in cancelled
    last = (await dms(city, "Carla"))[-1]
    assert "was cancelled by Anna" in last and "From" not in last


async def test_refusals(city: GroupChat) -> None:
    assert "no project 7" in await city.reply_text("Ben", "/project 7")
    assert "kein Projekt p99" in await city.reply_text("Ben", "/project join p99", private=True)
    assert "Example: /project new" in await city.reply_text("Ben", "/project new Only a name")
    assert "at least one skill" in await city.reply_text("Ben", "/project new X | , |")
    await city.say("Anna", "/project new Flyer | copywriting")
    assert "lead this project yourself" in await city.reply_text("Anna", "/project join 1")
    assert "Nobody has offered" in await city.reply_text("Anna", "/project take 1 Ben")
    assert "can end it" in await city.reply_text("Ben", "/project cancel 1")
    # an outsider's private chat learns nothing about a project of another city
    assert "kein Projekt" in await city.reply_text("Zoe", "/project p1", private=True)


async def test_german_commands(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/profil Fotografie")
    post = await duisburg.reply_text("Anna", "/projekt neu Fotos | Fotografie | Laden")
    assert post.startswith("Neues Projekt 1: Fotos"), post
    assert "/projekt mit 1" in post
    await duisburg.say("Ben", "/projekt mit 1")
    await duisburg.say("Anna", "/projekt nimm 1 Ben")
    done = await duisburg.reply_text("Anna", "/projekt fertig 1")
    assert "fertig" in done.lower() or "erledigt" in done.lower(), done
    assert "Projekt" in await duisburg.reply_text("Ben", "/projekte")


async def test_finished_projects_go_after_the_retention_period(
    city: GroupChat, repo: SqliteRepository
) -> None:
    await city.say("Anna", "/project new Flyer | copywriting")
    await city.say("Anna", "/project new Open one | copywriting")
    await city.say("Anna", "/project done 1")
    city.clock.set(berlin("2027-03-05 12:00"))  # more than 90 days later
    await city.bot.tick()
    rows = await repo.db.execute_fetchall("SELECT number FROM projects")
    assert [r[0] for r in rows] == [2]  # the open one stays
