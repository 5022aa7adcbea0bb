"""Pings, reminders and personal data.

`/subscribe` in a city group: a direct message when someone opens a session there
(optionally only within a radius of a shared point, and outside quiet hours).
Joiners get a reminder before a session starts. The messages are written to the
outbox in the same transaction as what causes them; `chatbot.delivery` sends them.
`/privacy` says what is stored; `/forget` deletes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time, timedelta

from chatbot.core.commands import spec_for
from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import Person, PersonRef
from chatbot.core.handlers.common import bad_input
from chatbot.core.model import CityGroup, Session, Subscription
from chatbot.core.parsing import BadInput, haversine_m, parse_clock, take_distance
from chatbot.core.ports import Repository
from chatbot.core.render import opened_by
from chatbot.core.text import fold
from chatbot.i18n import Translator

QUIET_WORDS = {"ruhe", "quiet", "ruhezeit"}
ANYWHERE_WORDS = {"ueberall", "anywhere", "everywhere"}
OFF_WORDS = {"aus", "off", "keine", "none", "nie", "never"}


def subscribe_example(ctx: Context) -> str:
    return ctx.cmd("subscribe") + " " + ctx._("3 quiet 22-7")


async def subscribe(ctx: Context, args: str) -> None:
    """/subscribe [km] [quiet HH-HH | quiet off] [anywhere]: what is named changes,
    the rest of an existing subscription stays; alone, it shows the subscription."""
    group = ctx.require_group()
    me = ctx.origin.sender
    example = subscribe_example(ctx)
    current = next(
        (s for s in await ctx.repo.people.subscriptions_of(me.ref) if s.group_id == group.id), None
    )
    if current is not None and not args.strip():
        ctx.reply(
            ctx._("You already get pings from {city}.").format(city=group.name)
            + " "
            + _subscription_details(ctx, current)
            + "\n"
            + _subscription_changes(ctx)
        )
        return
    radius = current.radius_km if current else None
    centre = current.centre if current else None
    quiet = current.quiet if current else None
    radius_given = False
    words = args.split()
    i = 0
    while i < len(words):
        word = fold(words[i])
        if word in QUIET_WORDS and i + 1 < len(words):
            quiet = (
                None
                if fold(words[i + 1]) in OFF_WORDS
                else _quiet_hours(ctx, words[i + 1], example)
            )
            i += 2
            continue
        if word in ANYWHERE_WORDS:
            radius, centre, radius_given = None, None, False
            i += 1
            continue
        distance = take_distance(words, i)
        if distance is not None and not radius_given:
            radius, taken = distance
            if not 0.5 <= radius <= 100:
                raise UserError(
                    ctx._("The radius is given in km, from 0.5 to 100."), example=example
                )
            radius_given = True
            i += taken
            continue
        raise UserError(
            ctx._("I don't understand “{value}”.").format(value=words[i]), example=example
        )
    if radius_given:
        position = ctx.memory.position(me.ref, ctx.now())
        if position is not None:
            centre = (round(position[0], 2), round(position[1], 2))
        elif centre is None:  # a new radius keeps the centre shared before
            raise UserError(
                ctx._(
                    "For pings within a radius, share your location first: I keep it rounded"
                    " to about 1 km until you unsubscribe."
                ),
                example=example,
            )
    sub = Subscription(group.id, me, radius, centre, quiet)
    async with ctx.repo.atomic():
        await ctx.repo.people.remember_person(me, ctx.now())
        await ctx.repo.people.subscribe(sub, ctx.now())
    text = ctx._("{name} gets a direct message when a session opens in {city}.").format(
        name=me.name, city=group.name
    )
    text += " " + _subscription_details(ctx, sub)
    if not await ctx.repo.people.is_reachable(me.ref):
        text += "\n" + ctx._("I could not reach you last time: please start a chat with me.")
    ctx.reply(text)


def _subscription_details(ctx: Context, sub: Subscription) -> str:
    """The radius and quiet hours of a subscription, and how to stop it."""
    parts = []
    if sub.radius_km is not None:
        parts.append(
            ctx._("Only within {radius}.").format(radius=ctx.t.distance(sub.radius_km * 1000))
        )
    if sub.quiet is not None:
        parts.append(
            ctx._("None from {start} to {end}.").format(
                start=ctx.t.time(sub.quiet[0]), end=ctx.t.time(sub.quiet[1])
            )
        )
    parts.append(ctx._("{unsubscribe} stops it.").format(unsubscribe=ctx.cmd("unsubscribe")))
    return " ".join(parts)


def _subscription_changes(ctx: Context) -> str:
    command = ctx.cmd("subscribe") + " "
    return ctx._(
        "Change it: {radius} (km around your shared location), {anywhere}, {quiet},"
        " {quiet_off}; what you don't name stays."
    ).format(
        radius=command + "2",
        anywhere=command + ctx._("anywhere"),
        quiet=command + ctx._("quiet 22-7"),
        quiet_off=command + ctx._("quiet off"),
    )


def _quiet_hours(ctx: Context, text: str, example: str) -> tuple[time, time]:
    parts = re.split(r"[-–]", text)
    try:
        if len(parts) != 2:
            raise BadInput("range", text)
        start, end = parse_clock(parts[0]), parse_clock(parts[1])
    except BadInput as error:
        raise bad_input(ctx, error, example) from None
    if start == end:
        raise bad_input(ctx, BadInput("range", text), example)
    return start, end


async def unsubscribe(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    async with ctx.repo.atomic():
        removed = await ctx.repo.people.unsubscribe(group.id, ctx.origin.sender.ref)
    if removed:
        ctx.reply(ctx._("No more pings from {city} for you.").format(city=group.name))
    else:
        ctx.reply(
            ctx._("You had no pings here. {subscribe} turns them on.").format(
                subscribe=ctx.cmd("subscribe")
            )
        )


async def queue_pings(ctx: Context, group: CityGroup, session: Session) -> int:
    """Inside the transaction that opens the session: one ping per subscriber who wants
    it (not the opener or a joiner, within the radius, after quiet hours)."""
    queued = 0
    involved = {session.opener.ref, *(j.ref for j in session.joiners)}
    zone = ctx.zone
    for sub in await ctx.repo.people.subscriptions(group.id):
        person = sub.person.ref
        if person in involved or not await ctx.repo.people.is_reachable(person):
            continue
        if sub.radius_km is not None and sub.centre is not None:
            distance = haversine_m(*sub.centre, session.latitude, session.longitude)
            if distance > sub.radius_km * 1000:
                continue
        due = ctx.now()
        if sub.quiet_at(due.astimezone(zone).time()):
            due = _end_of_quiet(due.astimezone(zone), sub)
            if due >= session.ends_at:
                continue  # the session is over before the quiet hours are
        t = Translator(sub.person.language or group.settings.language)
        if session.local_date == ctx.today():
            text = t.gettext("New session in {city}: {place}, {time}, {opened_by}.")
        else:
            text = t.gettext("New session in {city}: {place}, {day}, {time}, {opened_by}.")
        text = text.format(
            city=group.name,
            place=session.place,
            day=t.date(session.local_date),
            time=t.time_range(session.start, session.end),
            opened_by=opened_by(t, session),
        )
        if session.topic:
            text += "\n" + t.gettext("Topic: {topic}").format(topic=session.topic)
        label = t.gettext("Join")
        command_name = ctx.button(label, "join").command_name
        if await ctx.repo.outbox.enqueue(
            "ping",
            person,
            text,
            due_at=due,
            session_id=session.id,
            buttons=[(label, "join", f"s{session.id}", command_name)],
            expires_at=session.ends_at,
        ):
            queued += 1
    return queued


def _end_of_quiet(local: datetime, sub: Subscription) -> datetime:
    assert sub.quiet is not None
    end = local.replace(hour=sub.quiet[1].hour, minute=sub.quiet[1].minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end


async def queue_reminder(ctx: Context, group: CityGroup, session: Session, person: Person) -> None:
    """Inside the transaction of a join: remind the person before the session starts."""
    minutes = group.settings.reminder_minutes
    if minutes <= 0:
        return
    due = session.starts_at - timedelta(minutes=minutes)
    if due <= ctx.now():
        return
    t = Translator(person.language or group.settings.language)
    text = t.ngettext(
        "Reminder: {place}, {time} starts in {minutes} minute.",
        "Reminder: {place}, {time} starts in {minutes} minutes.",
        minutes,
    ).format(place=session.place, time=t.time_range(session.start, session.end), minutes=minutes)
    await ctx.repo.outbox.enqueue(
        "reminder",
        person.ref,
        text,
        due_at=due,
        session_id=session.id,
        expires_at=session.starts_at,
    )


async def tell_unreachable(
    repo: Repository, now: datetime, person: PersonRef, link_for: Callable[[str], str | None]
) -> None:
    """A ping could not reach `person` (on their platform people first start a private
    chat with the bot): each of their groups is told once, in its chats on that
    platform, through the outbox. `link_for(start)`: the platform's link that opens
    that private chat, if it has one (Telegram's deep link starts it with /subscribe)."""
    for sub in await repo.people.subscriptions_of(person):
        group = await repo.cities.group(sub.group_id)
        if group is None:
            continue
        t = Translator(group.settings.language)
        text = t.gettext(
            "I can't send pings to {name}: on this platform people first have to start a"
            " private chat with me."
        ).format(name=sub.person.name)
        link = link_for(spec_for("subscribe").name(group.settings.language))
        if link:
            text += " " + t.gettext("Start it here: {link}").format(link=link)
        async with repo.atomic():
            if not await repo.people.set_told_unreachable(sub.group_id, person):
                continue
            for chat in await repo.cities.chats_of_group(sub.group_id):
                if chat.platform == person.platform:
                    await repo.outbox.enqueue("unreachable", person, text, due_at=now, chat=chat)


async def privacy(ctx: Context, args: str) -> None:
    """What the database holds about the sender, counted from it (reading this stores
    nothing), and how long each kind is kept."""
    me = ctx.origin.sender.ref
    counts = await ctx.repo.people.personal_data(me)
    days = ctx.group.settings.retention_days if ctx.group else 90
    if not any(counts.values()):
        ctx.reply(
            ctx._("I store nothing about you.")
            + "\n"
            + ctx._(
                "A shared location is not stored; a session opened “here” keeps a point"
                " rounded to about 100 m until it ends; a ping radius keeps one rounded to"
                " about 1 km until you unsubscribe."
            )
        )
        return
    lines = [ctx._("What I store about you:")]
    if counts["names"]:
        lines.append("• " + ctx._("your display name and language, to show who comes"))
    c = counts.get
    counted = [
        ctx.ngettext(
            "{count} subscription (pings), until you unsubscribe",
            "{count} subscriptions (pings), until you unsubscribe",
            c("subscriptions", 0),
        ).format(count=c("subscriptions", 0)),
        ctx.ngettext(
            "{count} session you opened", "{count} sessions you opened", c("sessions_opened", 0)
        ).format(count=c("sessions_opened", 0)),
        ctx.ngettext(
            "{count} session you joined", "{count} sessions you joined", c("joins", 0)
        ).format(count=c("joins", 0)),
        ctx.ngettext("{count} poll vote", "{count} poll votes", c("votes", 0)).format(
            count=c("votes", 0)
        ),
    ]
    # the rest only when there is some: a series, a poll, a message
    if c("standing_sessions", 0):
        counted.append(
            ctx.ngettext(
                "{count} series you started",
                "{count} series you started",
                c("standing_sessions", 0),
            ).format(count=c("standing_sessions", 0))
        )
    if c("polls_started", 0):
        counted.append(
            ctx.ngettext(
                "{count} poll you started", "{count} polls you started", c("polls_started", 0)
            ).format(count=c("polls_started", 0))
        )
    if c("messages", 0):
        counted.append(
            ctx.ngettext(
                "{count} direct message to you (ping or reminder), sent or waiting",
                "{count} direct messages to you (pings and reminders), sent or waiting",
                c("messages", 0),
            ).format(count=c("messages", 0))
        )
    if c("calendar_tokens", 0):
        counted.append(
            ctx._("the secret address of your calendar ({command}), until you delete it").format(
                command=ctx.cmd("calendar")
            )
        )
    if c("profiles", 0):
        counted.append(
            ctx.ngettext(
                "{count} profile (your skills), until you delete it",
                "{count} profiles (your skills), until you delete them",
                c("profiles", 0),
            ).format(count=c("profiles", 0))
        )
    if c("projects", 0):
        counted.append(
            ctx.ngettext(
                "{count} project you led or helped with; a finished one goes after {days} days",
                "{count} projects you led or helped with; finished ones go after {days} days",
                c("projects", 0),
            ).format(count=c("projects", 0), days=days)
        )
    lines += ["• " + line for line in counted]
    lines += [
        "",
        ctx._(
            "After {days} days, past sessions and polls lose who opened, joined or voted,"
            " and sent direct messages are deleted. Your name and language go {days} days"
            " after you last opened, joined, voted or subscribed, unless you still get"
            " pings. A series keeps your name while it runs."
        ).format(days=days),
        ctx._(
            "A shared location is not stored; a session opened “here” keeps a point"
            " rounded to about 100 m until it ends; a ping radius keeps one rounded to"
            " about 1 km until you unsubscribe."
        ),
        ctx._("{forget} deletes all of it.").format(forget=ctx.cmd("forget")),
    ]
    ctx.reply("\n".join(lines))


async def forget(ctx: Context, args: str) -> None:
    from chatbot.core.handlers import projects
    from chatbot.core.handlers.cancelling import before_forgetting

    me = ctx.origin.sender.ref
    async with ctx.repo.atomic():
        await before_forgetting(ctx, me)
        await projects.before_forgetting(ctx, me)
        await ctx.repo.people.forget_person(me, ctx.now())
    ctx.memory.forget(me)
    ctx.reply(
        ctx._(
            "Done: I deleted everything I stored about you (name, subscriptions, joins, votes,"
            " messages waiting for you). Sessions you opened that others joined are now led"
            " by the first who joined; the others are cancelled, and your weekly series have"
            " ended. The groups were told, without your name."
        )
    )
