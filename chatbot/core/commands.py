"""The command catalogue: every command's English and German name.

Both names always work, on every platform; /help and the platform's command menu
show the names of the chat's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.core.text import fold
from chatbot.i18n import N_


@dataclass(frozen=True)
class CommandSpec:
    key: str
    en: str
    de: str
    admin_only: bool
    summary: str  # marked with N_, translated when shown
    aliases: tuple[str, ...] = ()

    def name(self, language: str) -> str:
        return self.de if language == "de" else self.en


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("today", "today", "heute", False, N_("today's sessions, with buttons to join")),
    CommandSpec("tomorrow", "tomorrow", "morgen", False, N_("tomorrow's sessions")),
    CommandSpec("week", "week", "woche", False, N_("the next 7 days, series included")),
    CommandSpec(
        "open", "open", "neu", False, N_("open a session: time range, venue, topic after ' - '")
    ),
    CommandSpec("join", "join", "dabei", False, N_("join a session (number from today's list)")),
    CommandSpec("leave", "leave", "absagen", False, N_("leave a session you joined")),
    CommandSpec("cancel", "cancel", "streichen", False, N_("cancel a session (opener or admin)")),
    CommandSpec(
        "change", "change", "aendern", False, N_("change a session's time, day, venue or topic")
    ),
    CommandSpec("series", "series", "serien", False, N_("the weekly series with their numbers")),
    CommandSpec("venues", "venues", "orte", False, N_("list the venues with their numbers")),
    CommandSpec("venue", "venue", "ort", True, N_("add, edit or remove a venue (admins)")),
    CommandSpec("setup", "setup", "einrichten", True, N_("make this chat a city group (admins)")),
    CommandSpec(
        "settings",
        "settings",
        "einstellungen",
        False,
        N_("show the settings; admins change them"),
    ),
    CommandSpec("poll", "poll", "umfrage", False, N_("post today's venue poll now")),
    CommandSpec("vote", "vote", "stimme", False, N_("vote in today's poll by number")),
    CommandSpec(
        "close", "close", "schliessen", False, N_("close today's poll now (starter or admin)")
    ),
    CommandSpec(
        "nearby", "nearby", "naehe", False, N_("today's sessions near a location you share")
    ),
    CommandSpec(
        "subscribe",
        "subscribe",
        "abo",
        False,
        N_("a direct message when a session opens (radius in km, quiet hours)"),
    ),
    CommandSpec("unsubscribe", "unsubscribe", "abbestellen", False, N_("no more pings")),
    CommandSpec("privacy", "privacy", "datenschutz", False, N_("what I store about you")),
    CommandSpec("forget", "forget", "vergessen", False, N_("delete everything about you")),
    CommandSpec("help", "help", "hilfe", False, N_("this help"), aliases=("start",)),
)

_BY_NAME: dict[str, CommandSpec] = {}
for _spec in COMMANDS:
    for _name in (_spec.en, _spec.de, *_spec.aliases):
        _BY_NAME[_name] = _spec


def find_command(name: str) -> CommandSpec | None:
    """The command with this English or German name, in any case, umlauts folded."""
    return _BY_NAME.get(fold(name))


def spec_for(key: str) -> CommandSpec:
    for spec in COMMANDS:
        if spec.key == key:
            return spec
    raise KeyError(key)
