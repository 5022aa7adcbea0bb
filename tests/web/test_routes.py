"""The city pages and feeds over real HTTP: every route, the 404s, content types,
caching headers and 304, and the links the bot sends."""

from __future__ import annotations

import re
from datetime import UTC, time
from email.utils import format_datetime
from html.parser import HTMLParser

import icalendar

from chatbot.core.events import ChatRef
from chatbot.i18n import Translator
from chatbot.storage.sqlite import SqliteRepository
from chatbot.web.slugs import slugify, slugs_of
from tests.kit import PLATFORM, GroupChat, berlin
from tests.web.conftest import PUBLIC_URL, Web

HTML = "text/html; charset=utf-8"
CALENDAR = "text/calendar; charset=utf-8"


async def test_the_index_lists_the_public_cities_only(city: GroupChat, web: Web) -> None:
    other = GroupChat(city.bot, city.clock, city.admins, chat=ChatRef(PLATFORM, "group-2"))
    await other.say("Anna", "/einrichten Mülheim an der Ruhr | Europe/Berlin | de")
    await other.say("Anna", "/einstellungen öffentlich aus")
    status, headers, body = await web.get("/")
    assert status == 200 and headers["Content-Type"] == HTML
    html = body.decode()
    assert '<a href="duisburg">Duisburg</a>' in html
    assert "Mülheim" not in html
    assert (await web.get("/muelheim-an-der-ruhr"))[0] == 404
    assert (await web.get("/muelheim-an-der-ruhr.ics"))[0] == 404


async def test_the_city_page_shows_the_week_the_series_the_venues_and_the_chat(
    city: GroupChat, web: Web, repo: SqliteRepository
) -> None:
    status, headers, body = await web.get("/duisburg")
    assert status == 200 and headers["Content-Type"] == HTML
    html = body.decode()
    assert '<html lang="de">' in html
    session = (await repo.sessions.sessions_on(1, berlin("2026-11-30 00:00").date()))[0]
    assert f'id="s{session.id}"' in html
    assert "Café Museum" in html and "Königstraße 1" in html and "10:00–14:00" in html
    assert "Steuererklärung" in html
    assert "2 von 4 Plätzen belegt" in html
    # the series: in the list of series and materialized on Tuesday
    assert "Morgen, Dienstag, 1. Dezember" in html and "Buchhaltung" in html
    assert "jeden Dienstag, 09:00–13:00, Kö Lounge" in html
    assert (
        "https://www.openstreetmap.org/?mlat=51.43440&amp;mlon=6.76230#map=17/51.43440/6.76230"
        in html
    )
    assert 'href="https://t.me/+AbCdEf123"' in html
    assert 'href="duisburg.ics"' in html
    # no names on the public page, nothing from elsewhere
    assert "Carla" not in html and "Ben" not in html
    assert not re.search(r'(src|href)="(https?:)?//(?!www\.openstreetmap\.org|t\.me)', html)
    assert "<script" not in html
    assert "default-src 'none'" in headers["Content-Security-Policy"]


async def test_an_english_city_page_is_in_english(group: GroupChat, web: Web) -> None:
    await group.say("Anna", "/setup Leeds | Europe/London | en")
    await group.say("Anna", "/venue add Café Nero | 53.7997, -1.5492 | Briggate 1 | wifi")
    await group.say("Ben", "/open 10-14 Café Nero")
    html = await web.text("/leeds")
    assert '<html lang="en">' in html
    assert "Coworking in Leeds" in html and "Today, Monday, November 30" in html
    assert Translator("en").time_range(time(10), time(14)) in html and "Wi-Fi" in html


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


async def test_the_page_has_landmarks_one_h1_and_no_skipped_heading_level(
    city: GroupChat, web: Web
) -> None:
    outline = _Outline()
    outline.feed(await web.text("/duisburg"))
    names = [tag for tag, _ in outline.tags]
    assert {"header", "main", "footer", "nav"} <= set(names)
    headings = [int(tag[1]) for tag in names if re.fullmatch(r"h[1-6]", tag)]
    assert headings.count(1) == 1 and headings[0] == 1
    assert all(b - a <= 1 for a, b in zip(headings, headings[1:], strict=False))
    assert all(attrs.get("alt") for tag, attrs in outline.tags if tag == "img")


async def test_what_is_not_there_is_404(city: GroupChat, web: Web) -> None:
    for path in (
        "/berlin",
        "/berlin.ics",
        "/Duisburg",
        "/duisburg/",
        "/me/" + "A" * 32 + ".ics",
        "/me/duisburg.ics",
        "/..%2f..%2fetc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fapp.py",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
    ):
        status, headers, body = await web.get(path)
        assert status == 404, path
        assert headers["Content-Type"] == HTML
        assert b"import" not in body and b"root:" not in body


async def test_the_stylesheet_is_served_from_the_same_server(city: GroupChat, web: Web) -> None:
    status, headers, body = await web.get("/static/style.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert b"@import" not in body and b"url(" not in body


async def test_etag_and_last_modified_give_304_until_something_changes(
    city: GroupChat, web: Web
) -> None:
    for path in ("/duisburg", "/duisburg.ics", "/"):
        status, headers, _ = await web.get(path)
        etag, modified = headers["ETag"], headers["Last-Modified"]
        assert status == 200 and etag.startswith('"')
        status, headers, body = await web.get(path, {"If-None-Match": etag})
        assert (status, body) == (304, b"") and headers["ETag"] == etag
        assert (await web.get(path, {"If-None-Match": f'"other", W/{etag}'}))[0] == 304
        assert (await web.get(path, {"If-Modified-Since": modified}))[0] == 304
        assert (await web.get(path, {"If-None-Match": '"other"'}))[0] == 200
        earlier = format_datetime(berlin("2026-11-29 08:00").astimezone(UTC), usegmt=True)
        assert (await web.get(path, {"If-Modified-Since": earlier}))[0] == 200
    _, before, _ = await web.get("/duisburg")
    await city.say("Dana", "/neu 15-17 Finkenkrug")
    status, after, body = await web.get("/duisburg", {"If-None-Match": before["ETag"]})
    assert status == 200 and after["ETag"] != before["ETag"] and b"Finkenkrug" in body
    # the same content a minute later keeps its validators
    city.clock.set(berlin("2026-11-30 08:31"))
    _, later, _ = await web.get("/duisburg")
    assert later["ETag"] == after["ETag"]


async def test_the_city_feed(city: GroupChat, web: Web, repo: SqliteRepository) -> None:
    await city.say("Dana", "/neu morgen 15-17 Finkenkrug")
    await city.say("Dana", "/streichen 3")  # tomorrow's one-off, cancelled
    await city.say("Ben", "/streichen 2")  # tomorrow's series day, skipped
    status, headers, body = await web.get("/duisburg.ics")
    assert status == 200 and headers["Content-Type"] == CALENDAR
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar.walk("VTIMEZONE")[0]["TZID"] == "Europe/Berlin"
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    sessions = await repo.calendar.sessions_between(
        1, berlin("2026-11-30 00:00").date(), berlin("2026-12-31 00:00").date()
    )
    one_off = next(s for s in sessions if s.topic == "Steuererklärung")
    cancelled = next(s for s in sessions if s.place == "Finkenkrug")
    event = events[f"session-{one_off.id}@cowork.example.org"]
    assert event["LOCATION"] == "Café Museum, Königstraße 1"
    assert (event["GEO"].latitude, event["GEO"].longitude) == (51.4344, 6.7623)
    assert event["DTSTART"].dt == berlin("2026-11-30 10:00")
    assert str(event["DTSTART"].params["TZID"]) == "Europe/Berlin"
    assert event["STATUS"] == "CONFIRMED" and "DTSTAMP" in event
    assert event["URL"] == f"{PUBLIC_URL}/duisburg#s{one_off.id}"
    assert events[f"session-{cancelled.id}@cowork.example.org"]["STATUS"] == "CANCELLED"
    series = events["series-1@cowork.example.org"]
    assert series["RRULE"]["FREQ"] == ["WEEKLY"]
    assert series["DTSTART"].dt == berlin("2026-12-01 09:00")
    assert [d.dt for d in series["EXDATE"].dts] == [berlin("2026-12-01 09:00")]
    # the series' materialized days are not events of their own
    assert not any(
        str(uid).startswith("session-") and e["SUMMARY"].endswith("Buchhaltung")
        for uid, e in events.items()
    )


async def test_the_personal_feed_from_calendar_to_forget(city: GroupChat, web: Web) -> None:
    other = GroupChat(city.bot, city.clock, city.admins, chat=ChatRef(PLATFORM, "group-2"))
    await other.say("Anna", "/einrichten Oberhausen | Europe/Berlin | de")
    await other.say("Anna", "/ort add Gdanska | 51.4700, 6.8600")
    await other.say("Anna", "/einstellungen öffentlich aus")
    await other.say("Erik", "/neu morgen 9-12 Gdanska")
    await other.say("Carla", "/dabei s" + str(await _last_session_id(city)))
    text = await city.reply_text("Carla", "/kalender", private=True)
    url = re.search(r"https://cowork\.example\.org(/me/[A-Za-z0-9_-]{32}\.ics)", text)
    assert url, text
    assert "/kalender neu" in text and "/kalender aus" in text
    # the same address again
    assert url.group(1) in await city.reply_text("Carla", "/kalender", private=True)
    status, headers, body = await web.get(url.group(1))
    assert status == 200 and headers["Content-Type"] == CALENDAR
    assert headers["Cache-Control"].startswith("private")
    summaries = sorted(str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT"))
    assert summaries == ["Coworking: Café Museum – Steuererklärung", "Coworking: Gdanska"]
    # a non-public city's session is in the personal feed, without a link to a page
    gdanska = next(
        e for e in icalendar.Calendar.from_ical(body).walk("VEVENT") if "Gdanska" in e["SUMMARY"]
    )
    assert "URL" not in gdanska
    # /privacy lists it, /forget ends it
    assert "Kalender" in await city.reply_text("Carla", "/datenschutz", private=True)
    await city.say("Carla", "/vergessen", private=True)
    assert (await web.get(url.group(1)))[0] == 404


async def _last_session_id(group: GroupChat) -> int:
    sessions = await group.bot.repo.sessions.sessions_on(2, berlin("2026-12-01 00:00").date())
    return sessions[-1].id


async def test_a_new_address_replaces_the_old_and_off_deletes_it(city: GroupChat, web: Web) -> None:
    first = re.findall(r"/me/\S+\.ics", await city.reply_text("Ben", "/kalender", private=True))[0]
    second = re.findall(
        r"/me/\S+\.ics", await city.reply_text("Ben", "/kalender neu", private=True)
    )[0]
    assert first != second
    assert (await web.get(first))[0] == 404 and (await web.get(second))[0] == 200
    text = await city.reply_text("Ben", "/kalender aus", private=True)
    assert "funktioniert nicht mehr" in text
    assert (await web.get(second))[0] == 404


async def test_calendar_in_the_group_points_to_the_private_chat_and_the_city_feed(
    city: GroupChat,
) -> None:
    text = await city.reply_text("Ben", "/kalender")
    assert "/kalender" in text and f"{PUBLIC_URL}/duisburg.ics" in text
    assert "/me/" not in text


async def test_without_a_public_url_calendar_says_the_page_is_not_set_up(
    duisburg: GroupChat,
) -> None:
    duisburg.bot.public_url = None
    text = await duisburg.reply_text("Ben", "/kalender", private=True)
    assert "Webseite" in text and "/me/" not in text
    announcement = await duisburg.reply_text("Ben", "/neu 10-14 Café Museum")
    assert "https://" not in announcement


async def test_announcements_and_the_week_link_to_the_page(
    duisburg: GroupChat, repo: SqliteRepository
) -> None:
    text = await duisburg.reply_text("Ben", "/neu 10-14 Café Museum")
    session = (await repo.sessions.sessions_on(1, berlin("2026-11-30 00:00").date()))[0]
    assert text.splitlines()[-1] == f"{PUBLIC_URL}/duisburg#s{session.id}"
    week = await duisburg.reply_text("Ben", "/woche")
    assert week.splitlines()[-1].endswith(f"{PUBLIC_URL}/duisburg")
    await duisburg.say("Anna", "/einstellungen öffentlich aus")
    text = await duisburg.reply_text("Ben", "/neu 15-17 Kö Lounge")
    assert "https://" not in text


async def test_the_invite_link_is_checked(duisburg: GroupChat, web: Web) -> None:
    for bad in (
        "http://t.me/+abc",
        "https://evil.example/t.me",
        "https://t.me.evil.example/+abc",
        "https://user@t.me/+abc",
        "javascript:alert(1)",
        "https://t.me/+a b",
    ):
        text = await duisburg.reply_text("Anna", f"/einstellungen einladung {bad}")
        assert "t.me, telegram.me oder matrix.to" in text, (bad, text)
    assert "nur die Admins" in await duisburg.reply_text(
        "Ben", "/einstellungen einladung https://t.me/+x"
    )
    ok = await duisburg.reply_text(
        "Anna", "/einstellungen einladung https://matrix.to/#/#duisburg:example.org"
    )
    assert "https://matrix.to/#/#duisburg:example.org" in ok
    assert 'href="https://matrix.to/#/#duisburg:example.org"' in await web.text("/duisburg")
    await duisburg.say("Anna", "/einstellungen einladung aus")
    assert "matrix.to" not in await web.text("/duisburg")


async def test_slugs_are_readable_and_unique_by_group_id(group: GroupChat, web: Web) -> None:
    assert slugify("Mülheim an der Ruhr") == "muelheim-an-der-ruhr"
    assert slugify("Düsseldorf") == "duesseldorf" and slugify("São Paulo") == "sao-paulo"
    await group.say("Anna", "/einrichten Duisburg | Europe/Berlin | de")
    second = GroupChat(group.bot, group.clock, group.admins, chat=ChatRef(PLATFORM, "group-2"))
    await second.say("Anna", "/einrichten duisburg | Europe/Berlin | en")
    groups = await group.bot.repo.cities.groups()
    assert slugs_of(groups) == {1: "duisburg", 2: "duisburg-2"}
    assert slugs_of(reversed(list(groups))) == {1: "duisburg", 2: "duisburg-2"}
    assert '<html lang="en">' in await web.text("/duisburg-2")
    assert '<html lang="de">' in await web.text("/duisburg")
