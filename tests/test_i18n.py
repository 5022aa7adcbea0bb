"""German and English: complete catalogs and locale-aware formats."""

from __future__ import annotations

import ast
from datetime import date, time
from pathlib import Path

from chatbot.i18n import Translator, normalize_language
from chatbot.i18n.catalogs import extract, problems

CHATBOT = Path(__file__).resolve().parent.parent / "chatbot"


def test_every_message_is_translated_in_both_languages_and_catalogs_are_current() -> None:
    assert problems() == []


def test_the_check_notices_a_message_without_translation(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    template = extract()
    template.add("A message nobody translated yet.")
    monkeypatch.setattr("chatbot.i18n.catalogs.extract", lambda: template)
    found = problems()
    assert "de: not in the catalog: 'A message nobody translated yet.'" in found
    assert "en: not in the catalog: 'A message nobody translated yet.'" in found


def test_times_dates_and_numbers_follow_the_language() -> None:
    de, en = Translator("de"), Translator("en")
    assert de.time(time(9, 30)) == "09:30"
    assert en.time(time(14, 0)) == "2:00\u202fPM"
    assert de.date(date(2026, 11, 30)) == "Montag, 30. November"
    assert en.date(date(2026, 11, 30)) == "Monday, November 30"
    assert de.distance(350) == "350 m"
    assert de.distance(1200) == "1,2 km"
    assert en.distance(1200) == "1.2 km"


def test_plural_forms() -> None:
    de = Translator("de")
    assert de.ngettext("{count} hour", "{count} hours", 1).format(count=1) == "1 Stunde"
    assert de.ngettext("{count} hour", "{count} hours", 3).format(count=3) == "3 Stunden"
    # a count that is not whole takes the plural: "1,5 Stunden", "1.5 hours"
    assert de.ngettext("{count} hour", "{count} hours", 1.5).format(count="1,5") == "1,5 Stunden"
    en = Translator("en")
    assert en.ngettext("{count} hour", "{count} hours", 1.5).format(count="1.5") == "1.5 hours"


def test_platform_language_tags_map_to_supported_languages() -> None:
    assert normalize_language("de-AT") == "de"
    assert normalize_language("en_GB") == "en"
    assert normalize_language("fr", default="en") == "en"
    assert normalize_language(None) == "de"


def test_the_core_imports_no_platform_library() -> None:
    forbidden = {"telegram", "nio", "aiohttp", "httpx"}
    offenders = []
    for path in (CHATBOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert offenders == []


def test_the_core_reads_no_clock_of_its_own() -> None:
    offenders = [
        path.name
        for path in (CHATBOT / "core").rglob("*.py")
        if path.name != "clock.py"
        and any(s in path.read_text(encoding="utf-8") for s in ("datetime.now(", "time.time("))
    ]
    assert offenders == []
