"""Translations and locale-aware formatting.

Messages are written in English in the code and marked with `_`, `ngettext` or `N_`;
the catalogs live in `locales/<lang>/LC_MESSAGES/chatbot.po` (German and English,
both complete; a test checks that). Dates, times and numbers are formatted with
Babel for the chat's language.
"""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
import io
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, get_day_names
from babel.dates import format_time as _babel_format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

DOMAIN = "chatbot"
SUPPORTED = ("de", "en")


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


def locales_dir() -> Path:
    """Where the catalogs are: inside the installed package, or in the source tree."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "locales", here.parent / "locales"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("no locales folder next to the chatbot package")


@cache
def _catalog(language: str) -> _gettext.GNUTranslations | _gettext.NullTranslations:
    po_path = locales_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def normalize_language(language: str | None, default: str = "de") -> str:
    """Map a platform's language tag ("de-AT", "en_GB") to a supported language."""
    if language:
        base = language.replace("_", "-").split("-")[0].lower()
        if base in SUPPORTED:
            return base
    return default


@cache
def _locale(language: str) -> Locale:
    # a Translator is made for every update; parsing its locale each time cost more
    # than the rest of making it
    return Locale.parse(language)


@lru_cache(maxsize=8192)
def _short_time(value: dt.time, language: str) -> str:
    # babel parses and applies the pattern on every call; a day has 1,440 minutes and
    # /today shows the same few times again and again
    return str(_babel_format_time(value, "short", locale=_locale(language)))


def plural_count(value: float, locale: Locale) -> int:
    """A whole number that selects the same gettext plural form as `value` does under
    the locale's CLDR rule: 1 for "one", else 2 (German and English have two forms;
    1.5 is "other" in both, so "1,5 Stunden", "1.5 hours")."""
    if float(value).is_integer():
        return int(value)
    return 1 if locale.plural_form(value) == "one" else 2


class Translator:
    """Everything language-dependent for one chat: messages and formats."""

    def __init__(self, language: str) -> None:
        self.language = normalize_language(language)
        self.locale = _locale(self.language)
        self._catalog = _catalog(self.language)

    def gettext(self, message: str) -> str:
        return self._catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: float) -> str:
        """The singular or plural message for a count; a count that is not a whole
        number ("1,5 Stunden", "1.5 hours") takes the plural, as the language's CLDR
        plural rule says."""
        return self._catalog.ngettext(singular, plural, plural_count(n, self.locale))

    def time(self, value: dt.time) -> str:
        """A wall-clock time: "9:30" in German, "9:30 AM" in English."""
        return _short_time(value, self.language)

    def time_range(self, start: dt.time, end: dt.time) -> str:
        return self.gettext("{start}–{end}").format(start=self.time(start), end=self.time(end))

    def date(self, value: dt.date) -> str:
        """A day: "Samstag, 28. November" / "Saturday, November 28"."""
        # the pattern is a message, so each language's catalog says how a day reads
        return str(format_date(value, self.gettext("EEEE, MMMM d"), locale=self.locale))

    def weekday(self, weekday: int) -> str:
        """0 = Monday -> "Montag" / "Monday"."""
        return str(get_day_names("wide", locale=self.locale)[weekday])

    def weekday_short(self, weekday: int) -> str:
        """0 = Monday -> "Mo." / "Mon"."""
        return str(get_day_names("abbreviated", locale=self.locale)[weekday])

    def number(self, value: float, digits: int = 1) -> str:
        """A number as the language writes it: "1,5" / "1.5"; at most `digits`
        decimals, none when it is whole."""
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return str(format_decimal(value, pattern, locale=self.locale))

    def hours(self, hours: float) -> str:
        """An amount of hours: "1 Stunde", "1,5 Stunden", "2,25 Stunden" /
        "1 hour", "1.5 hours", "2.25 hours"."""
        return self.ngettext("{count} hour", "{count} hours", hours).format(
            count=self.number(hours, 2)
        )

    def duration(self, minutes: int) -> str:
        """A length of time: "45 Minuten", "4 Stunden", "1,5 Stunden",
        "2 Stunden 15 Minuten" / "45 minutes", "4 hours", "1.5 hours", "2 hours 15 minutes"."""
        if minutes < 60:
            return self.minutes(minutes)
        if minutes % 30 == 0:
            return self.hours(minutes / 60)
        return self.gettext("{hours} {minutes}").format(
            hours=self.hours(minutes // 60), minutes=self.minutes(minutes % 60)
        )

    def minutes(self, minutes: int) -> str:
        return self.ngettext("{count} minute", "{count} minutes", minutes).format(
            count=self.number(minutes, 0)
        )

    def distance(self, metres: float) -> str:
        """ "350 m", "1,2 km" (German) / "1.2 km" (English)."""
        if metres < 1000:
            return self.gettext("{metres} m").format(metres=int(round(metres, -1)))
        return self.gettext("{km} km").format(km=self.number(metres / 1000, 1))
