"""The core's entry point: neutral events in, neutral actions out.

Adapters call `Bot.handle(event, is_admin)` for every event and carry out the
returned actions; they call `Bot.tick()` regularly (or when a simulated clock moves)
for the work that time brings. Handlers are registered here, in one visible place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from chatbot.core import schedule
from chatbot.core.actions import Action, SendText
from chatbot.core.clock import Clock
from chatbot.core.commands import NO_ARGUMENTS, changes_state, find_command
from chatbot.core.context import Capabilities, Context
from chatbot.core.errors import UserError
from chatbot.core.events import (
    ButtonPress,
    ChatRef,
    CommandEvent,
    Event,
    LocationEvent,
    MemberJoined,
    Origin,
    Person,
    PersonRef,
    VoteEvent,
)
from chatbot.core.handlers import (
    calendar,
    cancelling,
    info,
    joining,
    linking,
    nearby,
    pings,
    planning,
    polls,
    projects,
    sessions,
    setup,
    talent,
    venues,
)
from chatbot.core.memory import ShortMemory
from chatbot.core.model import CityGroup
from chatbot.core.ports import AdminCheck, Repository
from chatbot.core.text import excerpt, normalize_input
from chatbot.i18n import N_, Translator, normalize_language

log = logging.getLogger(__name__)

Handler = Callable[[Context, str], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "today": planning.today,
    "tomorrow": planning.tomorrow,
    "week": planning.week,
    "change": planning.change_session,
    "open": sessions.open_session,
    "join": joining.join_session,
    "leave": joining.leave_session,
    "where": joining.show_place,
    "cancel": cancelling.cancel_session,
    "series": cancelling.list_series,
    "venues": venues.list_venues,
    "venue": venues.manage_venue,
    "setup": setup.setup,
    "settings": setup.settings,
    "link": linking.link,
    "unlink": linking.unlink,
    "help": info.help_text,
    "poll": polls.start_poll,
    "vote": polls.cast_vote,
    "close": polls.close_now,
    "nearby": nearby.ask_for_location,
    "subscribe": pings.subscribe,
    "unsubscribe": pings.unsubscribe,
    "privacy": pings.privacy,
    "forget": pings.forget,
    "profile": talent.profile,
    "who": talent.who,
    "project": projects.project,
    "projects": projects.list_projects,
    "calendar": calendar.calendar,
}

HANDLED_KEPT = timedelta(days=7)
# a command older than this when it arrives (the bot was down, a platform's backlog) is
# not applied as if it were new
LATE = timedelta(minutes=10)
# what an adapter has to say itself, in the chat's language (`Bot.notice`)
NOTICES = {
    # the alert for a button press we do not know (a forged or outdated button)
    "unknown_button": N_("This button is not valid (any more)."),
    # a room the bot cannot read (Matrix without its e2e extra)
    "encrypted_room": N_(
        "This room is encrypted. I can't read encrypted messages yet, so I won't answer"
        " here. Please invite me to an unencrypted room."
    ),
    # a Matrix room was upgraded and the bot could not follow ({link}: the new room)
    "upgrade_invite": N_(
        "This room was replaced by a new one, but I could not follow it there. Please invite"
        " me to the new room: {link} Until then the city group stays in this room."
    ),
}
SCHEDULE = Person(PersonRef("core", "schedule"), "schedule")


class Bot:
    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        *,
        default_language: str = "de",
        default_timezone: str = "Europe/Berlin",
        public_url: str | None = None,
    ) -> None:
        self.repo = repo
        self.public_url = public_url  # the web pages' base URL, for links in messages
        self.clock = clock
        self.default_language = normalize_language(default_language)
        self.default_timezone = default_timezone
        self.capabilities: dict[str, Capabilities] = {}  # by platform, see `register`
        self.memory = ShortMemory()
        # late commands not applied, per chat, until `late_notes` says so (once per batch)
        self._not_applied: dict[ChatRef, tuple[Context, list[str]]] = {}

    def register(self, platform: str, capabilities: Capabilities) -> None:
        """An adapter tells the core what its platform can do (its command prefix, how
        many options a native poll takes, whether it can ask for a location)."""
        self.capabilities[platform] = capabilities

    def prefix(self, platform: str) -> str:
        """What people on this platform type before a command ("/", "!")."""
        return self.capabilities.get(platform, Capabilities()).prefix

    async def notice(self, kind: str, chat: ChatRef | None, language: str | None = None) -> str:
        """A text an adapter shows on its own (an alert, a notice), decided here: in the
        chat's group's language, else the person's (`language`), else the default."""
        group = await self.repo.cities.group_for_chat(chat) if chat is not None else None
        return Translator(self._language(group, language)).gettext(NOTICES[kind])

    def language_for(self, origin: Origin, group: CityGroup | None) -> str:
        return self._language(group, origin.sender.language if origin.is_private else None)

    def _language(self, group: CityGroup | None, personal: str | None) -> str:
        """The city's language; else that of the one person who reads it (a private chat,
        an alert); else the default."""
        if group is not None:
            return group.settings.language
        return normalize_language(personal, self.default_language)

    async def context(self, origin: Origin, is_admin: AdminCheck) -> Context:
        group = await self.repo.cities.group_for_chat(origin.chat)
        return self._context(origin, group, is_admin)

    def _context(self, origin: Origin, group: CityGroup | None, is_admin: AdminCheck) -> Context:
        return Context(
            repo=self.repo,
            clock=self.clock,
            is_admin=is_admin,
            origin=origin,
            group=group,
            t=Translator(self.language_for(origin, group)),
            default_timezone=self.default_timezone,
            capabilities=self.capabilities,
            memory=self.memory,
            public_url=self.public_url,
        )

    async def handle(self, event: Event, is_admin: AdminCheck) -> list[Action]:
        """Handle one event; never raises (an internal error becomes an apology)."""
        started = time.monotonic()
        actions = await self._handle(event, is_admin)
        origin = event.origin
        log.info(
            "%s handled in %.0f ms",
            _describe(event),
            (time.monotonic() - started) * 1000,
            extra={"platform": origin.chat.platform, "chat": origin.chat.id},
        )
        return actions

    async def _handle(self, event: Event, is_admin: AdminCheck) -> list[Action]:
        try:
            ctx = await self.context(event.origin, is_admin)
        except Exception:
            log.exception("could not load the chat for %s", type(event).__name__)
            ctx = self._context(event.origin, None, is_admin)
            ctx.reply(ctx._("Sorry, something went wrong on my side. Please try again."))
            return ctx.actions
        try:
            sender = event.origin.sender.ref
            if (
                event.origin.is_private
                and isinstance(event, CommandEvent | ButtonPress)
                and not await self.repo.people.is_reachable(sender)
            ):
                # who writes to the bot privately can be messaged privately again
                async with self.repo.atomic():
                    await self.repo.people.set_reachable(sender, True)
            if isinstance(event, CommandEvent | ButtonPress):
                name = event.name if isinstance(event, CommandEvent) else event.command
                name, args = normalize_input(name), normalize_input(event.args)
                if self._late(ctx, name, args):
                    return []
                addressed = not isinstance(event, CommandEvent) or event.addressed
                await self._command(ctx, name, args, addressed=addressed)
            elif isinstance(event, MemberJoined) and event.is_the_bot:
                info.greet(ctx)
            elif isinstance(event, VoteEvent):
                await polls.native_vote(ctx, event)
            elif isinstance(event, LocationEvent):
                await nearby.answer_location(ctx, event)
        except UserError as error:
            ctx.actions.clear()
            text = error.text
            if error.example:
                text += "\n" + ctx._("Example: {example}").format(example=error.example)
            ctx.reply(text, rejected=True)
        except Exception:
            log.exception("handler failed for %s", type(event).__name__)
            ctx.actions[:] = [
                SendText(
                    event.origin.chat,
                    ctx._("Sorry, something went wrong on my side. Please try again."),
                    thread=event.origin.thread,
                    reply_to=event.origin.message_id,
                )
            ]
        return ctx.actions

    def _late(self, ctx: Context, name: str, args: str) -> bool:
        """A command sent long before it arrived: not applied. One that would change
        something is remembered for the chat's note (`late_notes`); one that only shows
        something is dropped (what it showed then is not what is true now)."""
        sent_at = ctx.origin.sent_at
        if sent_at is None or ctx.now() - sent_at <= LATE:
            return False
        spec = find_command(name)
        if spec is not None and changes_state(spec.key, args):
            typed = ctx.origin.command_prefix + name + (" " + excerpt(args, 40) if args else "")
            _, commands = self._not_applied.setdefault(ctx.origin.chat, (ctx, []))
            commands.append(typed)
        log.info(
            "a command sent %s ago was not applied",
            ctx.now() - sent_at,
            extra={"platform": ctx.origin.chat.platform, "chat": ctx.origin.chat.id},
        )
        return True

    def late_notes(self) -> list[Action]:
        """One note per chat for the late commands since the last call: which were not
        applied, and to send them again. Adapters call it after each batch of updates."""
        actions: list[Action] = []
        for ctx, commands in self._not_applied.values():
            text = ctx.ngettext(
                "I was not reachable for a while. This command came late and I did not"
                " carry it out: {commands}. Please send it again if it still holds.",
                "I was not reachable for a while. These commands came late and I did not"
                " carry them out: {commands}. Please send them again if they still hold.",
                len(commands),
            ).format(commands=", ".join(commands))
            actions.append(SendText(ctx.origin.chat, text, thread=ctx.origin.thread))
        self._not_applied.clear()
        return actions

    async def _command(self, ctx: Context, name: str, args: str, *, addressed: bool) -> None:
        spec = find_command(name)
        if spec is None:
            if not ctx.origin.is_private and not addressed:
                # another bot's command in a shared group ("!remind", "/poll new"): silence
                log.info("unknown command %r not addressed to the bot; ignored", name[:40])
                return
            raise UserError(
                ctx._("I don't know the command {command}.").format(
                    command=ctx.origin.command_prefix + name
                )
                + " "
                + ctx._("{help} lists what I can do.").format(help=ctx.cmd("help"))
            )
        if spec.key in NO_ARGUMENTS and args:
            raise info.takes_no_arguments(ctx, spec.key)
        await HANDLERS[spec.key](ctx, args)

    async def tick(self) -> list[Action]:
        """Everything due at the clock's now: standing sessions of the day appear, polls
        open and close, sessions past their end are ended. Never raises."""
        actions: list[Action] = []
        now = self.clock.now()
        self.memory.prune(now)  # shared positions and pending radii expire
        async with self.repo.atomic():
            await self.repo.sessions.end_sessions_before(now)
            await self.repo.ledger.forget_handled_before(now - HANDLED_KEPT)
        polls_due = {
            group.id: closes_at for group, closes_at in await schedule.polls_due(self.repo, now)
        }
        closes_due = await schedule.closes_due(self.repo, now)
        for group in await self.repo.cities.groups():
            try:
                ctx = await self.group_context(group)
                if ctx is None:
                    continue
                await sessions.standing_of_the_day(ctx, group)
                if group.id in polls_due:
                    try:
                        await polls.open_poll(ctx, group, None, polls_due[group.id])
                    except UserError:
                        pass  # e.g. fewer than two venues: no automatic poll
                for poll in closes_due.get(group.id, ()):
                    await polls.finish_poll(ctx, group, poll)
                retention = ctx.today() - timedelta(days=group.settings.retention_days)
                async with self.repo.atomic():
                    await self.repo.people.purge_before(group.id, retention)
                actions += ctx.actions
            except Exception:
                log.exception("scheduled work failed for group %s", group.id)
        return actions

    async def next_due(self) -> datetime | None:
        """When `tick` has something to do next (after the clock's now)."""
        return await schedule.next_due(self.repo, self.clock.now())

    async def group_context(self, group: CityGroup) -> Context | None:
        """A context for scheduled work, speaking in the group's first chat."""
        chats = await self.repo.cities.chats_of_group(group.id)
        if not chats:
            return None
        origin = Origin(
            chat=chats[0],
            sender=SCHEDULE,
            is_private=False,
            command_prefix=self.prefix(chats[0].platform),
        )
        return self._context(origin, group, _nobody_is_admin)


def _describe(event: Event) -> str:
    if isinstance(event, CommandEvent):
        return f"command {event.name}"
    if isinstance(event, ButtonPress):
        return f"button {event.command}"
    return type(event).__name__


async def _nobody_is_admin(chat: ChatRef, person: Person) -> bool:
    return False
