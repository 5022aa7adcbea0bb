"""Found by driving /profile and /project through the console as people who don't read
the docs: pasted lists, a lead taking someone who is not there, a number left out."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.handlers.talent import parse_skills
from chatbot.core.talent import MAX_SKILL, MAX_SKILLS, search_form
from chatbot.core.text import normalize_input
from tests.kit import GroupChat


async def test_a_pasted_list_of_skills_is_one_skill_a_line(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/profil Grafik\nVideoschnitt\n- Fotografie\n• Text")
    assert "\nGrafik, Videoschnitt, Fotografie, Text\n" in text, text
    assert "1. Ben" in await duisburg.reply_text("Carla", "/wer foto")


async def test_the_about_line_stays_one_line(duisburg: GroupChat) -> None:
    text = await duisburg.reply_text("Ben", "/profil Grafik | Logos\nund Filme")
    assert "\nGrafik\nLogos und Filme\n" in text, text


async def test_taking_someone_who_did_not_offer_names_them(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/projekt neu Logo | Grafik | Ein Logo")
    await duisburg.say("Carla", "/projekt mit 1")
    await duisburg.say("Ben", "/projekt nimm 1 Carla")
    # nobody offers any more, but Carla is in the team: not "nobody has offered yet"
    text = await duisburg.reply_text("Ben", "/projekt nimm 1 Dana")
    assert "„Dana“" in text and "noch niemand" not in text, text
    assert "Team: Carla" in await duisburg.reply_text("Ben", "/projekt 1")


async def test_a_missing_project_number_is_asked_for(duisburg: GroupChat) -> None:
    await duisburg.say("Ben", "/projekt neu Logo | Grafik | Ein Logo")
    for command in ("/projekt mit", "/projekt mit  ", "/projekt nimm", "/projekt fertig"):
        text = await duisburg.reply_text("Carla", command)
        assert "„“" not in text and "Welches Projekt?" in text, (command, text)
        assert "Beispiel: /projekt" in text, text
    assert "Hilfe angeboten" not in await duisburg.reply_text("Ben", "/projekt 1")


class _Ctx:
    """Just what parse_skills uses of a Context: the translation (English)."""

    @staticmethod
    def _(text: str) -> str:
        return text


_TEXT = st.text(
    st.characters(
        whitelist_categories=("Lu", "Ll", "Nd", "Zs", "Po", "So", "Pd", "No"),
        whitelist_characters=",;\n|²³•-* ",
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_the_skill_parser_gives_clean_skills_or_a_clear_refusal(text: str) -> None:
    ctx: Context = _Ctx()  # type: ignore[assignment]
    try:
        # as the bot passes it on: normalized at the entry (NFKC, nothing invisible)
        skills = parse_skills(ctx, normalize_input(text), "example")
    except UserError as refused:
        assert str(refused) and "example" == refused.example
        return
    assert 1 <= len(skills) <= MAX_SKILLS
    keys = [search_form(s) for s in skills]
    assert all(keys) and len(set(keys)) == len(keys)  # each skill once
    for skill in skills:
        assert len(skill) <= MAX_SKILL and skill == skill.strip()
        assert not any(ch in skill for ch in ",;\n\r"), skill
        assert not re.match(r"[-•*]+(\s|$)", skill), skill  # no list bullets kept
