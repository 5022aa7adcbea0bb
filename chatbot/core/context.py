"""What a use case gets to work with for one event: the chat's group, its language,
the clock, the repository, and a list of actions to send back."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from chatbot.core.actions import Action, Button, DirectMessage, SendText
from chatbot.core.clock import Clock, wall_clock_instant
from chatbot.core.commands import spec_for
from chatbot.core.errors import UserError
from chatbot.core.events import Origin, PersonRef
from chatbot.core.memory import ShortMemory
from chatbot.core.model import CityGroup
from chatbot.core.ports import AdminCheck, Repository
from chatbot.i18n import N_, Translator

# the label of the button that shares the position, where a platform offers one
SHARE_LOCATION = N_("Share my location")


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do, as its adapter registers it (`Bot.register`); the core
    decides with it instead of assuming one platform's limits."""

    prefix: str = "/"  # what people type before a command
    max_poll_options: int = 10  # a native poll's options at most (Telegram: 10)
    can_ask_location: bool = False  # a button that shares the position (Telegram, private)


@dataclass
class Context:
    repo: Repository
    clock: Clock
    is_admin: AdminCheck
    origin: Origin
    group: CityGroup | None
    t: Translator
    default_timezone: str
    actions: list[Action] = field(default_factory=list)
    capabilities: dict[str, Capabilities] = field(default_factory=dict)  # by platform
    memory: ShortMemory = field(default_factory=ShortMemory)
    # the base URL of the city pages and calendar feeds (`chatbot.web`); None: not served
    public_url: str | None = None

    # --- language ---------------------------------------------------------------------

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: float) -> str:
        return self.t.ngettext(singular, plural, n)

    def prefix(self, platform: str) -> str:
        """What people on that platform type before a command ("/", "!")."""
        return self.capabilities.get(platform, Capabilities()).prefix

    def cmd(self, key: str) -> str:
        """A command as the person types it here: "/neu", "!open"."""
        return self.origin.command_prefix + spec_for(key).name(self.t.language)

    def button(self, label: str, key: str, args: str = "") -> Button:
        return Button(label, key, args, spec_for(key).name(self.t.language))

    # --- time -------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.group.settings.timezone if self.group else self.default_timezone)

    def now(self) -> datetime:
        return self.clock.now()

    def local_now(self) -> datetime:
        return self.clock.now().astimezone(self.zone)

    def today(self) -> date:
        return self.local_now().date()

    def instant(self, day: date, wall: time) -> datetime:
        """The UTC instant of a wall-clock time in the group's zone."""
        return wall_clock_instant(day, wall, self.zone)

    # --- replies ----------------------------------------------------------------------

    def reply(
        self,
        text: str,
        buttons: tuple[Button, ...] = (),
        *,
        ask_location: bool = False,
        rejected: bool = False,
    ) -> None:
        self.actions.append(
            SendText(
                self.origin.chat,
                text,
                buttons,
                thread=self.origin.thread,
                reply_to=self.origin.message_id,
                ask_location=ask_location,
                location_label=self._(SHARE_LOCATION) if ask_location else "",
                rejected=rejected,
            )
        )

    def post(self, text: str, buttons: tuple[Button, ...] = ()) -> None:
        """A message for the whole chat (not a reply to one person)."""
        self.actions.append(SendText(self.origin.chat, text, buttons, thread=self.origin.thread))

    def direct(self, person: PersonRef, text: str, buttons: tuple[Button, ...] = ()) -> None:
        self.actions.append(DirectMessage(person, text, buttons))

    async def each_chat_of(self, group: CityGroup) -> list[Context]:
        """A context for every active chat of the group, to post the same news in each,
        in the chat's own command syntax."""
        contexts = []
        for chat in await self.repo.cities.chats_of_group(group.id):
            if chat == self.origin.chat:
                origin = self.origin
            else:
                origin = Origin(
                    chat=chat,
                    sender=self.origin.sender,
                    is_private=False,
                    command_prefix=self.prefix(chat.platform),
                )
            contexts.append(
                replace(
                    self,
                    origin=origin,
                    group=group,
                    t=Translator(group.settings.language),
                    actions=[],
                )
            )
        return contexts

    # --- guards -----------------------------------------------------------------------

    def require_group(self) -> CityGroup:
        if self.group is not None:
            return self.group
        if self.origin.is_private:
            raise UserError(self._("This is a private chat. Use this command in your city group."))
        raise UserError(
            self._("This chat is not a city group yet. An admin sets it up:"),
            example=self.cmd("setup") + " " + self._("Duisburg | Europe/Berlin | de"),
        )

    async def require_admin(self) -> None:
        if not await self.is_admin(self.origin.chat, self.origin.sender):
            raise UserError(self._("Sorry, only the admins of this chat can do that."))
