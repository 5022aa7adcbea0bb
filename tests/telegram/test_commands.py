"""End to end through the fake Bot API: commands, admins, buttons, topics, menus."""

from __future__ import annotations

from chatbot.core.bot import NOTICES
from chatbot.core.events import ButtonPress, CommandEvent
from chatbot.i18n import Translator
from tests.telegram.conftest import (
    ANNA,
    BEN,
    CARLA,
    DANA,
    GROUP,
    OTHER_GROUP,
    TelegramWorld,
    eventually,
)

DE = Translator("de")
CHANNEL = -1005550001


async def test_setup_by_an_admin_and_refused_for_others(tg: TelegramWorld) -> None:
    await tg.start()
    refused = await tg.ask(GROUP, BEN, "/einrichten Duisburg | Europe/Berlin | de")
    assert "nur die Admins" in refused.params["text"]
    assert tg.repo is not None and await tg.repo.cities.group_for_chat(_ref(GROUP)) is None
    # the answer is a reply to the command
    assert refused.params["reply_parameters"]["message_id"] > 0

    done = await tg.ask(GROUP, ANNA, "/einrichten Duisburg | Europe/Berlin | de")
    assert "Dieser Chat ist jetzt die Stadtgruppe Duisburg" in done.params["text"]
    assert tg.server.calls_to("getChatMember")[-1].params["user_id"] == ANNA


async def test_anonymous_admin_accepted_and_channel_impostor_refused(tg: TelegramWorld) -> None:
    await tg.start()
    # a user posting as a channel (sender_chat of type channel) is no admin
    refused = await tg.ask(GROUP, BEN, "/einrichten Duisburg", sender_chat=CHANNEL)
    assert "nur die Admins" in refused.params["text"]
    # the service account (automatic forwards from a linked channel) neither
    refused = await tg.ask(GROUP, 777000, "/einrichten Duisburg")
    assert "nur die Admins" in refused.params["text"]
    # an anonymous admin posts as the group itself
    done = await tg.ask(GROUP, BEN, "/einrichten Duisburg", sender_chat=GROUP)
    assert "Stadtgruppe Duisburg" in done.params["text"]
    commands = [e for e in tg.events if isinstance(e, CommandEvent)]
    assert commands[0].origin.sender.ref.id == f"channel:{CHANNEL}"
    assert commands[-1].origin.sender.ref.id == f"chat:{GROUP}"


async def test_open_join_by_button_and_today(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    opened = await tg.ask(GROUP, BEN, "/neu 10-14 Café Museum", "Neue Session")
    assert "Café Museum, 10:00–14:00, eröffnet von Ben" in opened.params["text"]
    keyboard = opened.params["reply_markup"]["inline_keyboard"]
    button = keyboard[0][0]
    assert button["text"] == "Dabei bei 1"
    data = button["callback_data"]
    assert data.startswith("b:") and "join" not in data  # opaque, not the command

    before = len(tg.server.calls)
    tg.server.push_update(
        tg.server.callback_query_update(GROUP, CARLA, opened.result["message_id"], data)
    )
    joined = await tg.reply(GROUP, "Carla ist dabei")
    answer = await tg.server.wait_for("answerCallbackQuery")
    assert not answer.params.get("show_alert")
    # answered at once, before the core's reply went out
    assert tg.server.calls.index(answer) < tg.server.calls.index(joined)
    assert tg.server.calls.index(answer) >= before
    press = [e for e in tg.events if isinstance(e, ButtonPress)][0]
    assert (press.command, press.args, press.origin.sender.name) == ("join", "s1", "Carla")

    today = await tg.ask(GROUP, DANA, "/heute", "Heute in Duisburg")
    assert "2 dabei: Ben, Carla" in today.params["text"]
    assert today.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == data


async def test_forged_or_foreign_button_data_changes_nothing(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.setup_group()
    opened = await tg.ask(GROUP, BEN, "/neu 10-14 Café Museum", "Neue Session")
    data = opened.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    message_id = opened.result["message_id"]
    forged = ["b:AAAAAAAAAAAAAAAA", "join 1", "b:" + data[2:-1] + "x", ""]
    for fake_data in forged:
        tg.server.push_update(tg.server.callback_query_update(GROUP, DANA, message_id, fake_data))
    # a real button of GROUP, pressed under a message in another chat
    tg.server.push_update(tg.server.callback_query_update(OTHER_GROUP, DANA, 1, data))
    alerts = await tg.server.wait_for(
        "answerCallbackQuery", lambda c: c.params.get("show_alert") is True, count=5
    )
    assert all(a.params["text"] == DE.gettext(NOTICES["unknown_button"]) for a in alerts)
    today = await tg.ask(GROUP, CARLA, "/heute", "Heute in Duisburg")
    assert "Dana" not in today.params["text"]
    assert not [e for e in tg.events if isinstance(e, ButtonPress)]


async def test_forum_topic_and_addressed_commands(tg: TelegramWorld) -> None:
    forum = -1007770001
    tg.server.add_chat(forum, "supergroup", title="Ruhr", is_forum=True)
    await tg.start()
    await tg.setup_group(forum)
    tg.say(forum, BEN, "/heute@OtherBot", message_thread_id=7)
    in_topic = await tg.ask(forum, BEN, "/heute@CoworkBot", "Heute in", message_thread_id=7)
    assert in_topic.params["message_thread_id"] == 7
    general = await tg.ask(forum, BEN, "/heute", "Heute in")
    assert "message_thread_id" not in general.params
    today_answers = [t for t in tg.texts(forum) if t.startswith("Heute in")]
    assert len(today_answers) == 2  # /heute@OtherBot was not answered
    names = [e.name for e in tg.events if isinstance(e, CommandEvent)]
    assert names.count("heute") == 2 and "heute@OtherBot" not in names


async def test_added_to_a_group_greets_with_the_setup_hint(tg: TelegramWorld) -> None:
    await tg.start()
    new_group = -1003330001
    tg.server.push_update(
        tg.server.my_chat_member_update(new_group, "left", "member", from_user_id=ANNA)
    )
    greeting = await tg.reply(new_group, DE.gettext("Hello! I help this group cowork in cafés."))
    assert "/einrichten" in greeting.params["text"]
    # promoted to administrator: no second greeting
    tg.server.push_update(
        tg.server.my_chat_member_update(new_group, "member", "administrator", from_user_id=ANNA)
    )
    await tg.ask(new_group, ANNA, "/hilfe")
    assert len([t for t in tg.texts(new_group) if t.startswith("Hallo!")]) == 1


async def test_command_menus_per_language_and_for_admins(tg: TelegramWorld) -> None:
    await tg.start()
    await tg.server.wait_for("setMyCommands", count=6)
    admin_scope = {"type": "all_chat_administrators"}
    german = [c["command"] for c in tg.server.commands_for(None, "de")]
    english = [c["command"] for c in tg.server.commands_for(None, "en")]
    german_admin = [c["command"] for c in tg.server.commands_for(admin_scope, "de")]
    english_admin = [c["command"] for c in tg.server.commands_for(admin_scope, "en")]
    assert "heute" in german and "today" in english
    assert "einrichten" not in german and "ort" not in german and "setup" not in english
    assert {"einrichten", "ort", "heute"} <= set(german_admin)
    assert {"setup", "venue", "today"} <= set(english_admin)
    assert tg.server.commands_for(None, "") == tg.server.commands_for(None, "de")  # default de
    summary = {c["command"]: c["description"] for c in tg.server.commands_for(None, "de")}
    assert summary["heute"] == DE.gettext("today's sessions, with buttons to join")

    # a group set up in English gets its own menus in English
    await tg.ask(GROUP, ANNA, "/setup Duisburg | Europe/Berlin | en", "city group")
    chat_scope = {"type": "chat", "chat_id": GROUP}
    admin_chat_scope = {"type": "chat_administrators", "chat_id": GROUP}

    async def chat_menu() -> bool:
        return bool(tg.server.commands_for(admin_chat_scope, ""))

    await eventually(chat_menu)
    assert "today" in [c["command"] for c in tg.server.commands_for(chat_scope, "")]
    admins = tg.server.commands_for(admin_chat_scope, "")
    assert "setup" in [c["command"] for c in admins]


async def test_private_chat_uses_the_persons_language(tg: TelegramWorld) -> None:
    await tg.start()
    answer = await tg.ask(CARLA, CARLA, "/help", "In a private chat with me", language_code="en")
    assert answer.chat_id == CARLA


def _ref(chat_id: int):  # type: ignore[no-untyped-def]
    from chatbot.core.events import ChatRef

    return ChatRef("telegram", str(chat_id))
