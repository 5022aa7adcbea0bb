"""Profiles and /who: opt-in, word parts, German and English names, ranking, members
only, distance; /privacy and /forget know about profiles and projects."""

from __future__ import annotations

import asyncio
import gc
import tempfile
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.core.actions import SendText
from chatbot.core.bot import Bot
from chatbot.core.clock import FakeClock
from chatbot.core.events import Person
from chatbot.core.names import clean_name
from chatbot.core.talent import Found
from chatbot.storage.sqlite import SqliteRepository
from tests.kit import FakeAdmins, GroupChat, berlin


@pytest.fixture
async def city(group: GroupChat) -> GroupChat:
    """An English city group."""
    await group.say("Anna", "/setup Duisburg | Europe/Berlin | en")
    await group.say("Anna", "/venue add Café Museum | 51.4344, 6.7623")
    return group


async def test_a_profile_is_stored_shown_muted_and_deleted(city: GroupChat) -> None:
    text = await city.reply_text("Ben", "/profile Video editing, Grafikdesign | Films | Ruhrort")
    assert text.startswith("Your profile in Duisburg:\nVideo editing, Grafikdesign\nFilms")
    assert "Area: Ruhrort" in text and "/who Video editing" in text
    assert "Area: Ruhrort" in await city.reply_text("Ben", "/profile")
    muted = await city.reply_text("Ben", "/profile mute")
    assert muted.startswith("No more direct messages about new projects")
    assert "No direct messages" in await city.reply_text("Ben", "/profile")
    await city.reply_text("Ben", "/profile unmute")
    assert "No direct messages" not in await city.reply_text("Ben", "/profile")
    assert "gone" in await city.reply_text("Ben", "/profile off")
    assert "You have no profile in Duisburg" in await city.reply_text("Ben", "/profile")
    assert "nobody" in (await city.reply_text("Anna", "/who video")).lower()


async def test_bad_profiles_are_refused_with_an_example(city: GroupChat) -> None:
    too_long = "x" * 41
    for args, expected in (
        (f"{too_long}", "at most 40 characters"),
        (", ".join(f"skill {i}" for i in range(16)), "At most 15 skills"),
        (" , ; ", "at least one skill"),
        ("a | b | c | d", "separated by “|”"),
        ("Grafik | " + "y" * 201, "at most 200 characters"),
    ):
        text = await city.reply_text("Ben", f"/profile {args}")
        assert expected in text and "Example: /profile" in text, text
    assert "no profile" in await city.reply_text("Ben", "/profile")


async def test_who_matches_word_parts_synonyms_and_ranks(city: GroupChat) -> None:
    await city.say("Ben", "/profile Videoschnitt, Grafikdesign")
    await city.say("Carla", "/profile Übersetzung, Fotografie")
    await city.say("Dana", "/profile graphic design, web development")
    await city.say("Emil", "/profile Grafik")
    assert "Ben" in await city.reply_text("Anna", "/who video")
    found = await city.reply_text("Anna", "/who grafik")
    # a skill that is the query, then one that starts with it, then a synonym
    assert found.index("Emil") < found.index("Ben") < found.index("Dana"), found
    assert "Carla" in await city.reply_text("Anna", "/who translation")
    assert "Carla" in await city.reply_text("Anna", "/who ubersetzung")  # no umlaut typed
    assert "Carla" in await city.reply_text("Anna", "/who photography")
    assert "Dana" in await city.reply_text("Anna", "/wer Webentwicklung")
    assert "Ben" not in await city.reply_text("Anna", "/who photo")


async def test_who_ranks_the_recently_active_first(city: GroupChat) -> None:
    await city.say("Ben", "/profile Fotografie")
    await city.say("Carla", "/profile Fotografie")
    assert (await city.reply_text("Anna", "/who foto")).index("Ben") < 30
    await city.say("Carla", "/open 10-14 Café Museum")
    found = await city.reply_text("Anna", "/who foto")
    assert found.index("Carla") < found.index("Ben"), found


async def test_an_outsider_learns_no_names(city: GroupChat) -> None:
    await city.say("Ben", "/profile Fotografie")
    text = await city.reply_text("Zoe", "/who foto", private=True)
    # (a private chat speaks the person's language: German by default)
    assert "Ben" not in text and "Mitgliedern deiner Stadtgruppen" in text
    # a member (a profile in the group) searches privately
    await city.say("Carla", "/profile Text")
    assert "Ben" in await city.reply_text("Carla", "/who foto", private=True)
    # so does who joined a session there
    await city.say("Ben", "/open 10-14 Café Museum")
    await city.say("Dana", "/join")
    assert "Ben" in await city.reply_text("Dana", "/who foto", private=True)


async def test_who_in_km_ranks_by_distance(city: GroupChat) -> None:
    await city.share("Ben", 51.43, 6.76)
    consent = await city.reply_text("Ben", "/profile Fotografie | | here")
    assert "rounded to about 1 km" in consent
    await city.share("Carla", 51.50, 6.76)
    await city.say("Carla", "/profile Fotografie | | here")
    await city.share("Dana", 51.44, 6.76)
    await city.say("Dana", "/profile Fotografie")
    await city.say("Emil", "/profile Fotografie | | Hamborn")
    await city.share("Anna", 51.44, 6.76)
    found = await city.reply_text("Anna", "/who foto in 5 km")
    assert "Ben" in found and "km" in found and "Carla" not in found  # 7 km away
    assert found.index("Ben") < found.index("Emil"), found
    refused = await city.reply_text("Anna", "/who foto in 500 km")
    assert "from 0.5 to 100" in refused


async def test_who_without_a_location_asks_for_one(city: GroupChat) -> None:
    await city.say("Ben", "/profile Fotografie")
    assert "share your location" in await city.reply_text("Anna", "/who foto in 5 km")


async def test_german_names_and_texts(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/profil Grafik, Videoschnitt | Logos")
    assert text.startswith("Dein Profil in Duisburg:"), text
    found = await duisburg.reply_text("Carla", "/wer video")
    assert "Ben" in found and "Videoschnitt" in found
    assert "/profil laut" in await duisburg.reply_text("Ben", "/profil stumm")
    assert "/profil aus" in await duisburg.reply_text("Carla", "/profil Text")


async def test_privacy_counts_and_forget_leaves_no_row_about_the_person(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    # a copy of tests/test_pings.py's forget test, with a profile and projects
    await duisburg.say("Carla", "/abo")
    await duisburg.say("Carla", "/neu 10-14 Café Museum - Carlas Thema")
    await duisburg.say("Ben", "/neu 15-18 Finkenkrug")
    await duisburg.say("Carla", "/dabei 2")
    await duisburg.say("Carla", "/profil Grafik, Fotografie | Carla macht Fotos | Ruhrort")
    await duisburg.say("Ben", "/profil Text")
    await duisburg.say("Carla", "/projekt neu Carlas Projekt | Text | Carla sucht Texte")
    await duisburg.say("Ben", "/projekt neu Bens Projekt | Fotografie | Bilder")
    await duisburg.say("Carla", "/projekt mit 2")
    await duisburg.say("Ben", "/projekt nimm 2 Carla")
    await duisburg.say("Ben", "/projekt mit 1")
    data = await repo.people.personal_data(duisburg.person("Carla").ref)
    assert (data["profiles"], data["projects"]) == (1, 2)
    privacy = await duisburg.reply_text("Carla", "/datenschutz")
    assert "Profil" in privacy and "Projekt" in privacy, privacy
    actions = await duisburg.say("Carla", "/vergessen")
    assert [a for a in actions if isinstance(a, SendText)]
    tables = [
        r[0]
        for r in await (
            await repo.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ).fetchall()
    ]
    assert "profiles" in tables and "projects" in tables
    for table in tables:
        rows = await (await repo.db.execute(f"SELECT * FROM {table}")).fetchall()
        for row in rows:
            values = [str(v).lower() for v in tuple(row)]
            assert "carla" not in values, (table, tuple(row))
            assert not any("carla" in v for v in values if table.startswith("pro")), row
    # Ben, the lead of Carla's project, was told it ended, without her name
    told = [m for m in await duisburg.pending("project") if m.person.id == "ben"]
    assert any("Carlas Projekt" in m.text and "Carla " not in m.text for m in told)
    assert "Carla" not in await duisburg.reply_text("Anna", "/wer foto")
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, Person) and o.name == "Carla"]


_LETTERS = st.characters(whitelist_categories=("Lu", "Ll"), whitelist_characters="äöüÄÖÜßéèçñ -")


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    skills=st.lists(st.text(_LETTERS, min_size=3, max_size=40), min_size=1, max_size=4),
)
def test_every_stored_skill_is_found_by_any_part_of_it(
    data: st.DataObject, skills: list[str]
) -> None:
    stored = [s for s in (clean_name(k) for k in skills) if len(s) >= 3]
    if not stored:
        return
    parts = []
    for skill in stored:
        start = data.draw(st.integers(0, len(skill) - 3))
        end = data.draw(st.integers(start + 3, len(skill)))
        parts.append(skill[start:end])
    asyncio.run(_store_and_find(stored, parts))


async def _store_and_find(stored: list[str], parts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        repo = await SqliteRepository.open(f"sqlite:///{folder}/t.db")
        try:
            city = GroupChat(
                Bot(repo, FakeClock(berlin("2026-11-30 08:30"))),
                FakeClock(berlin("2026-11-30 08:30")),
                FakeAdmins({"Anna"}),
            )
            city.bot.clock = city.clock
            await city.say("Anna", "/setup Duisburg | Europe/Berlin | en")
            shown = await city.reply_text("Ben", "/profile " + ", ".join(stored))
            assert shown.startswith("Your profile"), shown
            for skill, part in zip(stored, parts, strict=True):
                if len(part.strip()) < 3:
                    continue  # the command strips the ends: fewer than 3 letters remain
                found = await city.reply_text("Anna", f"/who {part}")
                assert "1. Ben" in found, (skill, part, found)
        finally:
            await repo.close()


async def test_the_index_and_the_scan_rank_alike(city: GroupChat, repo: SqliteRepository) -> None:
    # the one statement over the term and trigram indexes (levels by UNION ALL, the
    # recently active first within a level, stopping at the limit) against the scan a
    # database without the trigram tokenizer uses, on profiles of every level
    skills = (
        "Grafik",
        "Grafikdesign",
        "Web Grafik",
        "Infografik",
        "graphic design",
        "Text",
        "Videoschnitt",
    )
    for n, skill in enumerate(skills * 3):
        await city.say(f"P{n}", f"/profile {skill}, Kochen")
    await city.say("P10", "/open 10-14 Café Museum")  # active: Infografik
    await city.say("P14", "/join")  # active: Grafik
    since = city.clock.now().date().replace(day=1)
    for query, synonyms, limit in (
        ("grafik", ("graphic", "graphik"), 11),
        ("grafik", ("graphic", "graphik"), 30),
        ("grafik", (), 4),
        ("design", (), 30),
        ("gr", (), 30),
        ("video", ("videoschnitt", "video editing"), 30),
        ("kochen", (), 3),
    ):
        found = await repo.talent.find_profiles(
            [1], query, synonyms, active_since=since, limit=limit
        )
        repo.talent._has_trigram = False
        scanned = await repo.talent.find_profiles(
            [1], query, synonyms, active_since=since, limit=limit
        )
        repo.talent._has_trigram = None

        def ranks(items: Sequence[Found]) -> list[tuple[int, bool]]:
            return [(f.quality, f.active) for f in items]

        assert ranks(found) == ranks(scanned), (query, limit)
        if limit == 30:
            assert {f.profile.person.name for f in found} == {
                f.profile.person.name for f in scanned
            }, query
        assert len({f.profile.person.name for f in found}) == len(found)  # each once
    top = await repo.talent.find_profiles([1], "grafik", (), active_since=since, limit=3)
    assert [(f.profile.person.name, f.quality, f.active) for f in top] == [
        ("P14", 4, True),
        ("P0", 4, False),
        ("P7", 4, False),
    ]
