"""The HTML pages: the list of publicly listed cities and each city's page.

What a page shows comes from the core's data through the repository: the next 7 days
are the days' open sessions not over yet (`Repository.sessions_on`, after the day's
series are materialized by the core's `materialize_standing`, as /week does), the
weekly series (`standing_sessions`) and the venues. People's names are not shown on
the public page: how many come, not who.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from chatbot.core.model import CityGroup, Session, StandingSession, Venue
from chatbot.core.render import TAG_LABELS
from chatbot.i18n import Translator

WEEK_DAYS = 7


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("chatbot.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class DayView:
    day: date
    heading: str
    sessions: Sequence[Session]


def osm_link(latitude: float, longitude: float) -> str:
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.5f}&mlon={longitude:.5f}"
        f"#map=17/{latitude:.5f}/{longitude:.5f}"
    )


def day_heading(t: Translator, day: date, offset: int) -> str:
    if offset == 0:
        return t.gettext("Today, {date}").format(date=t.date(day))
    if offset == 1:
        return t.gettext("Tomorrow, {date}").format(date=t.date(day))
    return t.date(day)


def render_city(
    env: Environment,
    group: CityGroup,
    slug: str,
    days: Sequence[DayView],
    series: Sequence[StandingSession],
    venues: Sequence[Venue],
    now: datetime,
) -> bytes:
    t = Translator(group.settings.language)
    addresses = {v.id: v.address for v in venues if v.address}
    template = env.get_template("city.html")
    html = template.render(
        _=t.gettext,
        ngettext=t.ngettext,
        t=t,
        lang=t.language,
        group=group,
        slug=slug,
        feed=quote(slug) + ".ics",
        days=days,
        series=sorted(series, key=lambda s: (s.weekday, s.start, s.number)),
        venues=venues,
        addresses=addresses,
        tags=lambda venue: [t.gettext(TAG_LABELS[x]) for x in venue.tags if x in TAG_LABELS],
        session_item=lambda s: _session_item(
            env, _shown(s), t.language, addresses.get(s.venue_id or 0, "")
        ),
        osm=osm_link,
        invite=group.settings.invite_url,
        generated=now,
    )
    return html.encode("utf-8")


@dataclass(frozen=True)
class ShownSession:
    """What the page shows of a session: no names (the page is public, and what is
    kept in memory for it holds none after /forget)."""

    id: int
    number: int
    place: str
    local_date: date
    start: time
    end: time
    starts_at: datetime
    standing_id: int | None
    topic: str
    seats: int | None
    coming: int


def _shown(s: Session) -> ShownSession:
    return ShownSession(
        s.id, s.number, s.place, s.local_date, s.start, s.end, s.starts_at, s.standing_id,
        s.topic, s.seats, len(s.coming),
    )  # fmt: skip


@lru_cache(maxsize=8192)
def _session_item(env: Environment, session: ShownSession, language: str, address: str) -> Markup:
    """One session's list item, rendered once per shown values and language (a week
    of a busy city has hundreds; a session that changes shows new values)."""
    t = Translator(language)
    html = env.get_template("session.html").render(
        _=t.gettext, ngettext=t.ngettext, t=t, s=session, address=address
    )
    return Markup(html)


def render_index(env: Environment, language: str, cities: Sequence[tuple[CityGroup, str]]) -> bytes:
    t = Translator(language)
    html = env.get_template("index.html").render(
        _=t.gettext, ngettext=t.ngettext, t=t, lang=t.language, cities=cities
    )
    return html.encode("utf-8")


def render_not_found(env: Environment, language: str) -> bytes:
    t = Translator(language)
    html = env.get_template("not_found.html").render(
        _=t.gettext, ngettext=t.ngettext, t=t, lang=t.language
    )
    return html.encode("utf-8")


def week_days(today: date) -> list[date]:
    return [today + timedelta(days=offset) for offset in range(WEEK_DAYS)]
