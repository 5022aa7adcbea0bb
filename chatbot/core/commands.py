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
    # `/help COMMAND`: the syntax with what it does, and two examples (marked with N_;
    # "{command}" is the command itself, "{open}", "{today}" … any other command)
    usage: str = ""
    examples: tuple[str, ...] = ()
    # what the command does in a private chat (N_); empty: it works only in a group
    private: str = ""

    def name(self, language: str) -> str:
        return self.de if language == "de" else self.en


# commands that take no arguments: given some, they answer with their usage instead of
# reading them some other way ("/poll new 'x'" is another bot's syntax, not a poll)
NO_ARGUMENTS = frozenset(
    {"poll", "close", "venues", "series", "forget", "unsubscribe", "projects", "unlink"}
)
# commands that only show something; with arguments, "settings", "profile" and "project"
# change things, and alone (or "project N") they show
READ_ONLY = frozenset(
    {"today", "tomorrow", "week", "where", "series", "venues", "help", "privacy", "who"}
    | {"projects", "calendar", "nearby"}
)
READ_ONLY_ALONE = frozenset({"settings", "profile"})


def changes_state(key: str, args: str) -> bool:
    """Does this command (with these arguments) change anything? A late one that does is
    not applied (the bot says so); a late one that only shows something is dropped."""
    if key in READ_ONLY:
        return False
    if key in READ_ONLY_ALONE and not args.strip():
        return False
    return not (key == "project" and args.strip().isdigit())


def _command(
    key: str,
    en: str,
    de: str,
    summary: str,
    usage: str,
    examples: tuple[str, ...],
    *,
    admin_only: bool = False,
    aliases: tuple[str, ...] = (),
    private: str = "",
) -> CommandSpec:
    return CommandSpec(key, en, de, admin_only, summary, aliases, usage, examples, private)


COMMANDS: tuple[CommandSpec, ...] = (
    _command(
        "today",
        "today",
        "heute",
        N_("today's sessions, with buttons to join"),
        N_(
            "{command} – today's sessions, each with its number, who comes, and today's"
            " poll; join with a button or {join} N.\n"
            "{command} CITY – in a private chat: a publicly listed city's sessions today."
        ),
        (N_("{command}"), N_("{command} Duisburg")),
        private=N_("{command} CITY – today's sessions of a publicly listed city"),
    ),
    _command(
        "tomorrow",
        "tomorrow",
        "morgen",
        N_("tomorrow's sessions"),
        N_(
            "{command} – tomorrow's sessions, series included.\n"
            "{command} CITY – in a private chat: a publicly listed city's sessions tomorrow."
        ),
        (N_("{command}"), N_("{command} Duisburg")),
        private=N_("{command} CITY – tomorrow's sessions of a publicly listed city"),
    ),
    _command(
        "week",
        "week",
        "woche",
        N_("the next 7 days, series included"),
        N_(
            "{command} – the next 7 days, a heading per day, series included.\n"
            "{command} CITY – in a private chat: a publicly listed city's week."
        ),
        (N_("{command}"), N_("{command} Duisburg")),
        private=N_("{command} CITY – the week of a publicly listed city"),
    ),
    _command(
        "open",
        "open",
        "neu",
        N_("open a session: time range, venue, topic after ' - '"),
        N_(
            "{command} TIME VENUE [- TOPIC] – open a session; time and venue in either order,"
            " the venue by name or by its number from {venues}, the topic after “ - ”.\n"
            "Another day: tomorrow, fri, 5.12. (up to 8 weeks ahead). max 4: how many fit."
            " every tue: each Tuesday (a series).\n"
            "{command} here 10-14 – at the location you just shared."
        ),
        (N_("{command} 10-14 Café Museum - tax return"), N_("{command} tomorrow 9:30 2 max 4")),
    ),
    _command(
        "join",
        "join",
        "dabei",
        N_("join a session (number from today's list)"),
        N_(
            "{command} N – join session N (the number {today} shows); without N: the only"
            " session today.\n"
            "{command} sN – the id a button carries; works in any chat, a private one too."
        ),
        (N_("{command} 1"), N_("{command} s1")),
        private=N_("{command} sN – join a session by the id its button carries"),
    ),
    _command(
        "where",
        "where",
        "wo",
        N_("where a session meets: the place on a map"),
        N_(
            "{command} N – the place of session N as the platform shows places (a map),"
            " with its address; {command} sN works in any chat."
        ),
        (N_("{command} 1"), N_("{command} s1")),
        private=N_("{command} sN – where a session meets, on a map"),
    ),
    _command(
        "leave",
        "leave",
        "absagen",
        N_("leave a session you joined"),
        N_(
            "{command} N – leave session N (or sN, the id a button carries); in a private"
            " chat without N: the one you joined."
        ),
        (N_("{command} 1"), N_("{command} s1")),
        private=N_("{command} sN – leave a session you joined"),
    ),
    _command(
        "cancel",
        "cancel",
        "streichen",
        N_("cancel a session (opener or admin)"),
        N_(
            "{command} N – cancel session N (who opened it, or an admin); who joined is"
            " told. A series' session: only that day.\n"
            "{command} series N – end weekly series N ({series} lists them)."
        ),
        (N_("{command} 1"), N_("{command} series 1")),
    ),
    _command(
        "change",
        "change",
        "aendern",
        N_("change a session's time, day, venue or topic"),
        N_(
            "{command} N WHAT – change session N: a new time (11-15), day (tomorrow), venue,"
            " topic (after “ - ”) or seats (max 4). It keeps its number and its people, who"
            " are told."
        ),
        (N_("{command} 1 11-15"), N_("{command} 1 - bookkeeping")),
    ),
    _command(
        "series",
        "series",
        "serien",
        N_("the weekly series with their numbers"),
        N_(
            "{command} – the city's weekly series, each with its number. {open} every tue"
            " 9-13 VENUE starts one; {cancel} series N ends one."
        ),
        (N_("{command}"), N_("{open} every tue 9-13 Café Museum")),
    ),
    _command(
        "venues",
        "venues",
        "orte",
        N_("list the venues with their numbers"),
        N_(
            "{command} – the venues by name, each with its number (given once, never"
            " reused) and what it offers. The number works wherever a venue is asked for."
        ),
        (N_("{command}"), N_("{open} 10-14 2")),
    ),
    _command(
        "venue",
        "venue",
        "ort",
        N_("add, edit or remove a venue (admins)"),
        N_(
            "{command} add NAME | LAT,LON [| ADDRESS] [| TAGS [| NOTES]] – add a venue;"
            " or {command} add alone, then share the place's location.\n"
            "{command} edit N FIELD VALUE – change venue N; fields: name, coordinates,"
            " address, tags, notes (“-” removes address, tags or notes).\n"
            "{command} remove N – remove venue N; its coming sessions are cancelled and who"
            " joined is told.\n"
            "Tags: wifi, power, quiet, food. N is the number {venues} shows; it is never"
            " given to another venue."
        ),
        (
            N_("{command} add City Library | 51.4310, 6.7700 | Düsseldorfer Str. 5 | wifi, quiet"),
            N_("{command} edit 2 address Königstraße 12"),
        ),
        admin_only=True,
    ),
    _command(
        "setup",
        "setup",
        "einrichten",
        N_("make this chat a city group (admins)"),
        N_(
            "{command} CITY [| TIMEZONE] [| LANGUAGE] – make this chat a city group. The"
            " timezone is an IANA name (Europe/Berlin) or a city (New York), the language de"
            " or en. In a city group again: changes its name, timezone or language."
        ),
        (N_("{command} Duisburg | Europe/Berlin | en"), N_("{command} New York | New York")),
        admin_only=True,
    ),
    _command(
        "settings",
        "settings",
        "einstellungen",
        N_("show the settings; admins change them"),
        N_(
            "{command} – all settings. Admins change one at a time:\n"
            "{command} language de (or en)\n"
            "{command} timezone Europe/Berlin (or a city: New York)\n"
            "{command} hours 9-13 (or now) – a session opened without a time\n"
            "{command} duration 4 – hours of a session opened without an end\n"
            "{command} public on (or off) – visitors and other cities see the sessions\n"
            "{command} poll 8:00 (or off) – the daily venue poll; close 10:00: when it"
            " closes; days mo-fr: on which days\n"
            "{command} travel 30 – minutes from the poll's close to its session\n"
            "{command} radius 5 – km for a shared location (500 m works too)"
        ),
        (N_("{command} poll 8:00"), N_("{command} public off")),
    ),
    _command(
        "link",
        "link",
        "verbinden",
        N_("link another chat (Telegram or Matrix) to this city (admins)"),
        N_(
            "{command} – in the city's chat: a one-time code, valid for 15 minutes.\n"
            "{command} CODE – in another group chat or room, on Telegram or Matrix: that"
            " chat becomes part of the same city (the same sessions, poll, venues and"
            " settings; news is posted in each). {unlink} lets a chat leave again."
        ),
        (N_("{command}"), N_("{command} K7M-4QX")),
        admin_only=True,
    ),
    _command(
        "unlink",
        "unlink",
        "trennen",
        N_("this chat leaves the city it is linked to (admins)"),
        N_(
            "{command} – this chat leaves its city; the city keeps its sessions, venues"
            " and its other chats. The last chat of a city cannot leave it."
        ),
        (N_("{command}"), N_("{link}")),
        admin_only=True,
    ),
    _command(
        "poll",
        "poll",
        "umfrage",
        N_("post today's venue poll now"),
        N_(
            "{command} – post today's venue poll now (one a day). It closes at the set time,"
            " or in an hour if that has passed; the winner's session opens then. A daily"
            " poll: {settings} poll 8:00."
        ),
        (N_("{command}"), N_("{settings} poll 8:00")),
    ),
    _command(
        "vote",
        "vote",
        "stimme",
        N_("vote in today's poll by number"),
        N_(
            "{command} N – vote for venue N in today's poll (the number before its name)."
            " Your latest vote counts until the close."
        ),
        (N_("{command} 2"), N_("{command} 1")),
    ),
    _command(
        "close",
        "close",
        "schliessen",
        N_("close today's poll now (starter or admin)"),
        N_(
            "{command} – close today's poll now (who started it, or an admin); the winner's"
            " session opens and who voted for it comes."
        ),
        (N_("{command}"), N_("{poll}")),
    ),
    _command(
        "nearby",
        "nearby",
        "naehe",
        N_("today's sessions near a location you share"),
        N_(
            "{command} [RADIUS] – I ask for your location and list today's sessions near it,"
            " nearest first. The radius in km (2, 2 km, 2,5 km) or m (500 m); without it the"
            " group's. In a private chat, just share a location."
        ),
        (N_("{command}"), N_("{command} 500 m")),
        private=N_("{command} [RADIUS] – sessions near a location you share"),
    ),
    _command(
        "subscribe",
        "subscribe",
        "abo",
        N_("a direct message when a session opens (radius in km, quiet hours)"),
        N_(
            "{command} – a direct message when someone opens a session in this city group;"
            " when you have one, {command} alone shows it.\n"
            "{command} 3 – only within 3 km of a location you shared (2 km, 500 m work too);"
            " {command} anywhere removes the radius.\n"
            "{command} quiet 22-7 – none from 22:00 to 7:00; {command} quiet off removes"
            " the quiet hours.\n"
            "Each {command} changes what it names and keeps the rest. {unsubscribe} stops it."
        ),
        (N_("{command} 3 quiet 22-7"), N_("{command} quiet off")),
    ),
    _command(
        "unsubscribe",
        "unsubscribe",
        "abbestellen",
        N_("no more pings"),
        N_("{command} – no more direct messages about new sessions in this city group."),
        (N_("{command}"), N_("{subscribe}")),
    ),
    _command(
        "profile",
        "profile",
        "profil",
        N_("what you can do, so that others find you (opt-in)"),
        N_(
            "{command} SKILL, SKILL [| ABOUT YOU [| AREA]] – what you can do, in this city"
            " group; members find you with {who}. AREA is a district in words, or “here”"
            " after sharing a location (kept rounded to about 1 km, only then).\n"
            "{command} – your profile; {command} off deletes it; {command} mute: no direct"
            " messages about new projects ({command} unmute: again)."
        ),
        (
            N_("{command} graphic design, video editing | Freelance designer | Ruhrort"),
            N_("{command} mute"),
        ),
        private=N_("{command} – your profiles; off, mute, unmute work here too"),
    ),
    _command(
        "who",
        "who",
        "wer",
        N_("members of this city with a talent"),
        N_(
            "{command} SKILL – members of this city group whose profile has that talent"
            " (word parts and German or English names match), best match first.\n"
            "{command} SKILL in 5 km – nearest first, after you shared a location."
        ),
        (N_("{command} video"), N_("{command} translation in 5 km")),
        private=N_("{command} SKILL – members of your city groups with that talent"),
    ),
    _command(
        "project",
        "project",
        "projekt",
        N_("a team for one project: post, offer help, take, finish"),
        N_(
            "{command} new NAME | SKILLS | TEXT – post a project; members whose profile"
            " matches are told.\n"
            "{command} join N – offer your help; the lead is told.\n"
            "{command} take N NAME – the lead takes someone who offered into the team.\n"
            "{command} N – the project, the skills it needs, the team.\n"
            "{command} done N – the lead ends it; each member gets a record with the dates."
            " {command} cancel N ends it without one."
        ),
        (
            N_("{command} new Bakery website | web design, photography | Three pages"),
            N_("{command} take 1 Carla"),
        ),
        private=N_("{command} join pN – offer help with a project by its id"),
    ),
    _command(
        "projects",
        "projects",
        "projekte",
        N_("the city's open projects"),
        N_("{command} – the city's open projects with their numbers; {project} N shows one."),
        (N_("{command}"), N_("{project} 1")),
    ),
    _command(
        "privacy",
        "privacy",
        "datenschutz",
        N_("what I store about you"),
        N_("{command} – what I store about you, and for how long. Works in a private chat."),
        (N_("{command}"), N_("{forget}")),
        private=N_("{command} – what I store about you"),
    ),
    _command(
        "forget",
        "forget",
        "vergessen",
        N_("delete everything about you"),
        N_(
            "{command} – delete everything I store about you. Sessions you opened that others"
            " joined pass to the first who joined; the groups are told without your name."
        ),
        (N_("{command}"), N_("{privacy}")),
        private=N_("{command} – delete everything about you"),
    ),
    _command(
        "calendar",
        "calendar",
        "kalender",
        N_("a secret calendar address of your sessions"),
        N_(
            "{command} – in a private chat: the secret address of a calendar feed with the"
            " sessions you opened or joined, in every city; {command} new replaces it,"
            " {command} off deletes it. In a group: the city's public calendar."
        ),
        (N_("{command}"), N_("{command} new")),
        private=N_("{command} – a secret calendar address of your sessions"),
    ),
    _command(
        "help",
        "help",
        "hilfe",
        N_("this help"),
        N_(
            "{command} – what I can do. {command} COMMAND – one command with examples (its"
            " German or English name)."
        ),
        (N_("{command}"), N_("{command} open")),
        aliases=("start",),
        private=N_("{command} COMMAND – one command with examples"),
    ),
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
