"""The web server: the aiohttp application and its routes.

    /                  the publicly listed cities
    /<slug>            a city's page (404 unless the city is listed publicly)
    /<slug>.ics        the city's calendar feed
    /me/<token>.ics    a person's secret feed (`/calendar` in a private chat)
    /static/…          the stylesheet

Responses carry an ETag (a hash of the body) and a Last-Modified (when that body was
first served by this process), and answer If-None-Match / If-Modified-Since with 304.
Rendered bodies are cached by a cheap version key: the database's change counters
(`content_version`) and the current minute (a page hides sessions that are over).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web

from chatbot.core.clock import Clock
from chatbot.core.handlers.sessions import materialize_standing
from chatbot.core.model import CityGroup, StandingSession
from chatbot.i18n import Translator
from chatbot.storage.sqlite import SqliteRepository
from chatbot.web import feeds, pages
from chatbot.web.slugs import slugs_of

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
HTML = "text/html"
CALENDAR = "text/calendar"
CACHE_ENTRIES = 512
SECURITY_HEADERS = {
    # nothing from third parties, no scripts, no frames
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Key = tuple[object, ...]


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    etag: str
    last_modified: datetime  # whole seconds, UTC
    digest: str  # of the content before the feed's DTSTAMP was filled in


class Site:
    """What the routes share: the repository, the clock, the templates, the cache."""

    def __init__(
        self,
        repo: SqliteRepository,
        clock: Clock,
        *,
        public_url: str | None = None,
        default_language: str = "de",
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.public_url = public_url.rstrip("/") if public_url else None
        self.default_language = default_language
        self.env = pages.environment()
        self._cache: OrderedDict[str, tuple[Key, Rendered]] = OrderedDict()
        self._slugs: tuple[Key, dict[str, CityGroup]] | None = None
        # (group id, day) -> ids of the series materialized for that day
        self._materialized: dict[tuple[int, date], frozenset[int]] = {}

    # --- what every route needs ---------------------------------------------------------

    def base_url(self, request: web.Request) -> str:
        return self.public_url or f"{request.scheme}://{request.host}"

    def host(self, request: web.Request) -> str:
        return urlsplit(self.base_url(request)).hostname or "localhost"

    async def version(self) -> Key:
        minute = self.clock.now().replace(second=0, microsecond=0)
        return (await self.repo.calendar.content_version(), minute)

    async def cities(self) -> dict[str, CityGroup]:
        """The publicly listed cities by slug (slugs are decided over every group)."""
        key = await self.version()
        if self._slugs is None or self._slugs[0] != key:
            groups = await self.repo.cities.groups()
            slugs = slugs_of(groups)
            public = {slugs[g.id]: g for g in groups if g.settings.public}
            self._slugs = (key, public)
        return self._slugs[1]

    async def cached(
        self,
        path: str,
        content_type: str,
        render: Callable[[], Awaitable[bytes]],
        *,
        stamped: bool = False,
    ) -> Rendered:
        """The body for this path at this version of the data, rendered at most once per
        version; a body that comes out the same keeps its ETag and Last-Modified."""
        key = await self.version()
        entry = self._cache.get(path)
        if entry is not None and entry[0] == key:
            self._cache.move_to_end(path)
            return entry[1]
        body = await render()
        digest = hashlib.sha256(body).hexdigest()
        if entry is not None and entry[1].digest == digest:
            rendered = entry[1]
        else:
            modified = self.clock.now().astimezone(UTC).replace(microsecond=0)
            if stamped:
                body = feeds.with_stamp(body, modified)
            rendered = Rendered(body, content_type, f'"{digest[:32]}"', modified, digest)
        self._cache[path] = (key, rendered)
        self._cache.move_to_end(path)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return rendered

    async def materialize_week(self, group: CityGroup, today: date) -> list[StandingSession]:
        """The core's materialization of the week's series (as /week does), once per
        day and set of series; returns the group's series."""
        series = list(await self.repo.sessions.standing_sessions(group.id))
        by_weekday: dict[int, set[int]] = defaultdict(set)
        for standing in series:
            by_weekday[standing.weekday].add(standing.id)
        zone = ZoneInfo(group.settings.timezone)
        for day in pages.week_days(today):
            ids = frozenset(by_weekday.get(day.weekday(), ()))
            if not ids or self._materialized.get((group.id, day)) == ids:
                continue
            await materialize_standing(self.repo, group, day, zone, today, self.clock.now())
            self._materialized[(group.id, day)] = ids
        if len(self._materialized) > 10_000:
            self._materialized = {k: v for k, v in self._materialized.items() if k[1] >= today}
        return series

    # --- routes ----------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.StreamResponse:
        cities = await self.cities()

        async def render() -> bytes:
            listed = sorted(((g, slug) for slug, g in cities.items()), key=lambda c: c[0].name)
            return pages.render_index(self.env, self.default_language, listed)

        return respond(request, await self.cached("/", HTML, render), public=True)

    async def city_page(self, request: web.Request) -> web.StreamResponse:
        slug = request.match_info["slug"]
        group = (await self.cities()).get(slug)
        if group is None:
            return self.not_found()
        zone = ZoneInfo(group.settings.timezone)
        today = self.clock.now().astimezone(zone).date()
        series = await self.materialize_week(group, today)

        async def render() -> bytes:
            now = self.clock.now()
            days = []
            for offset, day in enumerate(pages.week_days(today)):
                on_day = await self.repo.sessions.sessions_on(group.id, day)
                sessions = [s for s in on_day if s.ends_at > now]
                heading = pages.day_heading(_translator(group), day, offset)
                days.append(pages.DayView(day, heading, sessions))
            venues = await self.repo.venues.of_group(group.id)
            return pages.render_city(self.env, group, slug, days, series, venues, now)

        return respond(request, await self.cached(f"/{slug}", HTML, render), public=True)

    async def city_feed(self, request: web.Request) -> web.StreamResponse:
        slug = request.match_info["slug"]
        group = (await self.cities()).get(slug)
        if group is None:
            return self.not_found()
        base = self.base_url(request)
        host = self.host(request)

        async def render() -> bytes:
            zone = ZoneInfo(group.settings.timezone)
            today = self.clock.now().astimezone(zone).date()
            first, last = _window(today)
            sessions = await self.repo.calendar.sessions_between(group.id, first, last)
            started = await self.repo.calendar.series_started(group.id)
            series = [
                feeds.FeedSeries(s, feeds.first_meeting(s, started[s.id], zone))
                for s in await self.repo.sessions.standing_sessions(group.id)
                if s.id in started
            ]
            city = await self._feed_city(group, f"{base}/{slug}")
            # in a thread: events not written before take icalendar a while
            return await asyncio.to_thread(
                feeds.build_calendar, group.name, host, {group.id: city}, sessions, series
            )

        rendered = await self.cached(f"/{slug}.ics", CALENDAR, render, stamped=True)
        return respond(request, rendered, public=True)

    async def person_feed(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        person = await self.repo.calendar.person_of_calendar_token(token)
        if person is None:
            return self.not_found()
        base = self.base_url(request)
        host = self.host(request)

        async def render() -> bytes:
            today = self.clock.now().astimezone(UTC).date()
            first, last = _window(today)
            # a day's margin: the cities' dates are local
            sessions = await self.repo.calendar.sessions_of_person_between(
                person, first - timedelta(days=1), last + timedelta(days=1)
            )
            opened = await self.repo.calendar.series_ids_of_opener(person)
            group_ids = {s.group_id for s in sessions} | {g for g, _ in opened}
            groups = {g.id: g for g in await self.repo.cities.groups() if g.id in group_ids}
            slugs = slugs_of(await self.repo.cities.groups())
            cities = {}
            series: list[feeds.FeedSeries] = []
            for group in groups.values():
                page = f"{base}/{slugs[group.id]}" if group.settings.public else ""
                cities[group.id] = await self._feed_city(group, page)
                mine = {i for g, i in opened if g == group.id}
                if not mine:
                    continue
                started = await self.repo.calendar.series_started(group.id)
                zone = ZoneInfo(group.settings.timezone)
                for standing in await self.repo.sessions.standing_sessions(group.id):
                    if standing.id in mine and standing.id in started:
                        first_day = feeds.first_meeting(standing, started[standing.id], zone)
                        series.append(feeds.FeedSeries(standing, first_day))
            sessions = [s for s in sessions if s.group_id in cities]
            name = _translator(None, self.default_language).gettext("My coworking sessions")
            return await asyncio.to_thread(
                feeds.build_calendar, name, host, cities, sessions, series
            )

        rendered = await self.cached(f"/me/{token}.ics", CALENDAR, render, stamped=True)
        return respond(request, rendered, public=False)

    async def _feed_city(self, group: CityGroup, page_url: str) -> feeds.FeedCity:
        addresses = {
            v.id: v.address for v in await self.repo.venues.of_group(group.id) if v.address
        }
        return feeds.FeedCity(group, page_url, addresses)

    def not_found(self) -> web.Response:
        body = pages.render_not_found(self.env, self.default_language)
        return web.Response(
            status=404, body=body, content_type=HTML, charset="utf-8", headers=SECURITY_HEADERS
        )


def _translator(group: CityGroup | None, language: str = "de") -> Translator:
    return Translator(group.settings.language if group else language)


def _window(today: date) -> tuple[date, date]:
    return today - timedelta(days=feeds.FEED_PAST_DAYS), today + timedelta(weeks=feeds.FEED_WEEKS)


def respond(request: web.Request, rendered: Rendered, *, public: bool) -> web.Response:
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": format_datetime(rendered.last_modified, usegmt=True),
        "Cache-Control": ("public" if public else "private") + ", max-age=60",
        **SECURITY_HEADERS,
    }
    if _not_modified(request, rendered):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=rendered.body, content_type=rendered.content_type, charset="utf-8", headers=headers
    )


def _not_modified(request: web.Request, rendered: Rendered) -> bool:
    match = request.headers.get("If-None-Match")
    if match is not None:  # takes precedence over If-Modified-Since (RFC 9110 13.2.2)
        tags = {tag.strip().removeprefix("W/") for tag in match.split(",")}
        return "*" in tags or rendered.etag in tags
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return rendered.last_modified <= when
    return False


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    site: Site = request.app[SITE]
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return site.not_found()


SITE = web.AppKey("site", Site)


def create_app(
    repo: SqliteRepository,
    clock: Clock,
    *,
    public_url: str | None = None,
    default_language: str = "de",
) -> web.Application:
    site = Site(repo, clock, public_url=public_url, default_language=default_language)
    app = web.Application(middlewares=[_errors])
    app[SITE] = site
    app.router.add_get("/", site.index)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.router.add_get(r"/me/{token:[A-Za-z0-9_-]+}.ics", site.person_feed)
    app.router.add_get(r"/{slug:[a-z0-9][a-z0-9-]*}.ics", site.city_feed)
    app.router.add_get(r"/{slug:[a-z0-9][a-z0-9-]*}", site.city_page)
    return app


async def start_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve the app; the caller stops it with `runner.cleanup()`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info(
        "web pages on http://%s:%s/", host, runner.addresses[0][1] if runner.addresses else port
    )
    return runner
