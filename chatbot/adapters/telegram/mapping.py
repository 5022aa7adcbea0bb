"""Telegram updates -> the core's neutral events. Plain functions, no I/O.

Ids: a chat is `ChatRef("telegram", str(chat_id))`; a person is
`PersonRef("telegram", str(user_id))`, except for whoever posts *as a chat*: an
anonymous admin posting as the group is `chat:<chat id>` (admins.py says yes for the
chat itself), a user posting as a channel is `channel:<channel id>` (never an admin).
"""

from __future__ import annotations

import warnings

from telegram import (
    CallbackQuery,
    Chat,
    ChatMember,
    ChatMemberRestricted,
    ChatMemberUpdated,
    Location,
    Message,
    PollAnswer,
    User,
)
from telegram.constants import ChatType
from telegram.warnings import PTBDeprecationWarning

from chatbot.adapters.telegram.admins import CHANNEL_BOT_ID
from chatbot.adapters.telegram.state import PLATFORM, NativePoll, chat_ref
from chatbot.core.events import (
    CommandEvent,
    LocationEvent,
    MemberJoined,
    MemberLeft,
    Origin,
    Person,
    PersonRef,
    VoteEvent,
)

PREFIX = "/"


def person_of_user(user: User) -> Person:
    return Person(PersonRef(PLATFORM, str(user.id)), user.full_name, user.language_code)


def person_of_chat(sender: Chat, chat: Chat | None, signature: str | None = None) -> Person:
    """Someone posting as a chat: the group itself (an anonymous admin) or a channel."""
    if chat is not None and sender.id == chat.id:
        name = signature or sender.title or "Admin"
        return Person(PersonRef(PLATFORM, f"chat:{sender.id}"), name)
    name = sender.title or (f"@{sender.username}" if sender.username else str(sender.id))
    return Person(PersonRef(PLATFORM, f"channel:{sender.id}"), name)


def sender_of(message: Message) -> Person | None:
    if message.sender_chat is not None:
        return person_of_chat(message.sender_chat, message.chat, message.author_signature)
    user = message.from_user
    if user is None:
        return None
    if user.id == CHANNEL_BOT_ID:
        return Person(PersonRef(PLATFORM, f"channel:{user.id}"), user.full_name)
    return person_of_user(user)


def thread_of(message: Message) -> str | None:
    """A forum topic's id; None in the General topic and outside forums (where a
    message_thread_id only marks a reply thread, and sending with it would fail)."""
    if message.is_topic_message and message.message_thread_id:
        return str(message.message_thread_id)
    return None


def origin_of(message: Message, sender: Person) -> Origin:
    return Origin(
        chat=chat_ref(message.chat.id),
        sender=sender,
        is_private=message.chat.type == ChatType.PRIVATE,
        thread=thread_of(message),
        message_id=str(message.message_id),
        command_prefix=PREFIX,
        chat_title=message.chat.title,
        sent_at=message.date,
    )


def parse_command(text: str, bot_username: str) -> tuple[str, str] | None:
    """("heute", "args") for "/heute args" or "/heute@CoworkBot args"; None for plain
    text and for a command addressed to another bot. The name is taken up to the first
    space, so "/schließen" works although Telegram ends its command entity at "ß"."""
    if not text.startswith(PREFIX):
        return None
    head, _, rest = text[len(PREFIX) :].partition(" ")
    head, _, newline_rest = head.partition("\n")
    if newline_rest:
        rest = newline_rest + (" " + rest if rest else "")
    name, at, target = head.partition("@")
    if not name:
        return None
    if at and target.casefold() != bot_username.casefold():
        return None
    return name, rest.strip()


def command_event(message: Message, bot_username: str) -> CommandEvent | None:
    text = message.text
    sender = sender_of(message)
    if text is None or sender is None:
        return None
    parsed = parse_command(text, bot_username)
    if parsed is None:
        return None
    head = text.split(maxsplit=1)[0] if text.split() else ""
    replied = message.reply_to_message
    addressed = "@" in head or (
        replied is not None
        and replied.from_user is not None
        and (replied.from_user.username or "").casefold() == bot_username.casefold()
    )
    return CommandEvent(origin_of(message, sender), parsed[0], parsed[1], addressed=addressed)


def location_event(message: Message) -> LocationEvent | None:
    """A shared location (static, or the first point of a live one) or a venue."""
    sender = sender_of(message)
    if sender is None:
        return None
    origin = origin_of(message, sender)
    if message.venue is not None:
        venue = message.venue
        return LocationEvent(
            origin,
            venue.location.latitude,
            venue.location.longitude,
            venue.location.horizontal_accuracy,
            live=False,
            title=venue.title,
            address=venue.address or None,
        )
    location = message.location
    if location is None:
        return None
    return LocationEvent(
        origin,
        location.latitude,
        location.longitude,
        location.horizontal_accuracy,
        live=_is_live(location),
    )


def _is_live(location: Location) -> bool:
    with warnings.catch_warnings():  # int or timedelta, depending on PTB_TIMEDELTA
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return location.live_period is not None


def button_origin(query: CallbackQuery) -> Origin | None:
    """The presser in the chat (and topic) of the message that carries the button."""
    message = query.message
    if message is None:
        return None  # a button of an inline message: not ours
    thread = thread_of(message) if isinstance(message, Message) else None
    return Origin(
        chat=chat_ref(message.chat.id),
        sender=person_of_user(query.from_user),
        is_private=message.chat.type == ChatType.PRIVATE,
        thread=thread,
        message_id=str(message.message_id),
        command_prefix=PREFIX,
        chat_title=message.chat.title,
        sent_at=message.date,
    )


def vote_event(answer: PollAnswer, poll: NativePoll, chat_id: int) -> VoteEvent | None:
    """A vote in a native poll; the chat is the poll's (its current id)."""
    if answer.user is not None:
        voter = person_of_user(answer.user)
    elif answer.voter_chat is not None:
        voter = person_of_chat(answer.voter_chat, answer.voter_chat)
    else:
        return None
    origin = Origin(chat=chat_ref(chat_id), sender=voter, is_private=False, command_prefix=PREFIX)
    return VoteEvent(origin, poll.poll_key, tuple(answer.option_ids))


def is_in(member: ChatMember) -> bool:
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return member.status in (ChatMember.OWNER, ChatMember.ADMINISTRATOR, ChatMember.MEMBER)


def membership_event(change: ChatMemberUpdated, bot_id: int) -> MemberJoined | MemberLeft | None:
    """Someone (or the bot: `my_chat_member`) came into or left the chat; None for
    other changes (promotions, restrictions)."""
    was_in, now_in = is_in(change.old_chat_member), is_in(change.new_chat_member)
    if was_in == now_in:
        return None
    member_user = change.new_chat_member.user
    origin = Origin(
        chat=chat_ref(change.chat.id),
        sender=person_of_user(change.from_user),
        is_private=change.chat.type == ChatType.PRIVATE,
        command_prefix=PREFIX,
    )
    member = person_of_user(member_user)
    is_the_bot = member_user.id == bot_id
    if now_in:
        return MemberJoined(origin, member, is_the_bot)
    return MemberLeft(origin, member, is_the_bot)
