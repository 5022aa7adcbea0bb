"""Projects: a lead posts one with the skills it needs, members whose talents match
are told directly, who offers help may be taken into the team, and when the project is
done the team dissolves and each member gets a record (project, lead, team, dates) for
their own invoice.

A project has the group's next number (never reused) and an id (`pN`) that works in any
chat, a private one too (the direct messages' buttons carry it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import Person, PersonRef
from chatbot.core.handlers.talent import ACTIVE_DAYS, mention, parse_skills
from chatbot.core.model import CityGroup
from chatbot.core.names import clean_name
from chatbot.core.parsing import venue_key
from chatbot.core.talent import (
    MAX_PROJECT_NAME,
    MAX_PROJECT_TEXT,
    Project,
    ProjectState,
    search_form,
    synonyms_of,
)
from chatbot.core.text import excerpt, fold, one_line, parse_number
from chatbot.i18n import Translator

NEW_WORDS = {"neu", "new", "add"}
JOIN_WORDS = {"mit", "join", "helfen", "help"}
TAKE_WORDS = {"nimm", "take"}
DONE_WORDS = {"fertig", "done", "finish"}
CANCEL_WORDS = {"abbrechen", "cancel", "streichen"}
MAX_TOLD = 50  # members told directly about a new project


def new_example(ctx: Context) -> str:
    return (
        ctx.cmd("project")
        + " "
        + ctx._(
            "new Website for the bakery | web design, photography | Three pages, photos of the shop"
        )
    )


def _usage(ctx: Context) -> str:
    command = ctx.cmd("project")
    return ctx._(
        "{new} posts a project; {join} offers your help; {take} takes someone into the"
        " team (the lead); {show} shows it; {done} ends it with a record for the team."
    ).format(
        new=command + " " + ctx._("new NAME | SKILLS | TEXT"),
        join=command + " " + ctx._("join N"),
        take=command + " " + ctx._("take N NAME"),
        show=command + " N",
        done=command + " " + ctx._("done N"),
    )


async def project(ctx: Context, args: str) -> None:
    words = args.split(maxsplit=1)
    action = fold(words[0]) if words else ""
    rest = words[1] if len(words) > 1 else ""
    if action in NEW_WORDS:
        await _new(ctx, rest)
    elif action in JOIN_WORDS:
        await _offer(ctx, rest)
    elif action in TAKE_WORDS:
        await _take(ctx, rest)
    elif action in DONE_WORDS:
        await _end(ctx, rest, ProjectState.DONE)
    elif action in CANCEL_WORDS:
        await _end(ctx, rest, ProjectState.CANCELLED)
    elif action and not rest:
        await _show(ctx, await _find(ctx, words[0]))
    elif not action and ctx.group is not None:
        await list_projects(ctx, "")
    else:
        raise UserError(_usage(ctx), example=new_example(ctx))


async def _find(ctx: Context, reference: str, example: str = "") -> Project:
    """A project by its number in this group ("3"), or by its id in any chat ("p12")."""
    reference = reference.strip()
    if not reference:
        raise UserError(ctx._("Which project?"), example=example or ctx.cmd("project") + " 1")
    found = None
    if fold(reference).startswith("p") and (pid := parse_number(reference[1:])) is not None:
        found = await ctx.repo.talent.project(pid)
    elif (number := parse_number(reference)) is not None:
        group = ctx.require_group()
        found = await ctx.repo.talent.project_numbered(group.id, number)
    else:
        raise UserError(
            ctx._("“{value}” is not a project number.").format(value=excerpt(reference)),
            example=ctx.cmd("project") + " 1",
        )
    if found is None:
        raise UserError(
            ctx._("There is no project {number}. {projects} lists the open ones.").format(
                number=excerpt(reference), projects=ctx.cmd("projects")
            )
        )
    return found


async def _new(ctx: Context, text: str) -> None:
    group = ctx.require_group()
    example = new_example(ctx)
    parts = text.split("|")
    if len(parts) < 2 or len(parts) > 3:
        raise UserError(
            ctx._(
                "Please give the project's name, the skills it needs and what it is about,"
                " separated by “|”."
            ),
            example=example,
        )
    name = clean_name(parts[0])
    if not name:
        raise UserError(ctx._("The project needs a name."), example=example)
    if len(name) > MAX_PROJECT_NAME:
        raise UserError(
            ctx._("The name is too long: at most {limit} characters.").format(
                limit=MAX_PROJECT_NAME
            ),
            example=example,
        )
    skills = parse_skills(ctx, parts[1], example)
    about = one_line(parts[2]) if len(parts) > 2 else ""
    if len(about) > MAX_PROJECT_TEXT:
        raise UserError(
            ctx._("That text is too long: at most {limit} characters.").format(
                limit=MAX_PROJECT_TEXT
            ),
            example=example,
        )
    lead = ctx.origin.sender
    async with ctx.repo.atomic():
        await ctx.repo.people.remember_person(lead, ctx.now())
        created = await ctx.repo.talent.add_project(group.id, name, skills, about, lead, ctx.now())
        told = await _tell_matching(ctx, group, created)
    for chat_ctx in await ctx.each_chat_of(group):
        text = chat_ctx._("New project {number}: {name}, led by {lead}.").format(
            number=created.number, name=created.name, lead=lead.name
        )
        text += "\n" + chat_ctx._("Needs: {skills}").format(skills=", ".join(created.skills))
        if created.text:
            text += "\n" + created.text
        text += "\n" + chat_ctx._("Offer your help with {join}.").format(
            join=chat_ctx.cmd("project")
            + " "
            + chat_ctx._("join {number}").format(number=created.number)
        )
        if chat_ctx.origin.chat == ctx.origin.chat and told:
            text += "\n" + chat_ctx.ngettext(
                "I told {count} member whose profile matches.",
                "I told {count} members whose profiles match.",
                told,
            ).format(count=told)
        chat_ctx.post(text)
        ctx.actions.extend(chat_ctx.actions)


async def _tell_matching(ctx: Context, group: CityGroup, created: Project) -> int:
    """Inside the transaction that stores the project: a direct message to each member
    whose skills match one it needs (not the lead, not who muted project messages, at
    most MAX_TOLD, best matches first)."""
    since = ctx.today() - timedelta(days=ACTIVE_DAYS)
    chosen: dict[PersonRef, tuple[Person, list[str]]] = {}
    for skill in created.skills:
        folded = search_form(skill)
        for found in await ctx.repo.talent.find_profiles(
            [group.id], folded, synonyms_of(folded), active_since=since, limit=MAX_TOLD
        ):
            person = found.profile.person
            if person.ref == created.lead.ref or found.profile.muted:
                continue
            if person.ref not in chosen:
                if len(chosen) >= MAX_TOLD or not await ctx.repo.people.is_reachable(person.ref):
                    continue
                chosen[person.ref] = (person, [])
            chosen[person.ref][1].append(skill)
    for person, skills in chosen.values():
        t = Translator(person.language or group.settings.language)
        text = t.gettext("New project in {city}: {name}, led by {lead}.").format(
            city=group.name, name=created.name, lead=created.lead.name
        )
        text += "\n" + t.gettext("It needs {skills}: your profile says you can.").format(
            skills=", ".join(skills)
        )
        if created.text:
            text += "\n" + created.text
        label = t.gettext("Offer help")
        word = "mit" if t.language == "de" else "join"
        command_name = ctx.button(label, "project").command_name
        await ctx.repo.outbox.enqueue(
            "project",
            person.ref,
            text,
            due_at=ctx.now(),
            buttons=[(label, "project", f"{word} p{created.id}", command_name)],
        )
    return len(chosen)


async def _dm(
    ctx: Context, project: Project, person: Person, write: Callable[[Translator], str]
) -> None:
    """Inside a transaction: a direct message through the outbox, in the person's
    language (or the group's)."""
    group = await ctx.repo.cities.group(project.group_id)
    language = person.language or (group.settings.language if group else ctx.t.language)
    await ctx.repo.outbox.enqueue(
        "project", person.ref, write(Translator(language)), due_at=ctx.now()
    )


def _open_or_refuse(ctx: Context, project: Project) -> None:
    if project.state != ProjectState.OPEN:
        raise UserError(
            ctx._("Project {number} ({name}) has ended.").format(
                number=project.number, name=project.name
            )
        )


async def _offer(ctx: Context, reference: str) -> None:
    example = ctx.cmd("project") + " " + ctx._("join {number}").format(number=1)
    found = await _find(ctx, reference, example)
    _open_or_refuse(ctx, found)
    me = ctx.origin.sender
    if me.ref == found.lead.ref:
        raise UserError(ctx._("You lead this project yourself."))
    if found.in_team(me):
        ctx.reply(ctx._("You are in the team of {name} already.").format(name=found.name))
        return
    if found.has_offered(me):
        ctx.reply(
            ctx._("You offered your help already; {lead} decides.").format(lead=found.lead.name)
        )
        return
    async with ctx.repo.atomic():
        await ctx.repo.people.remember_person(me, ctx.now())
        await ctx.repo.talent.add_project_member(found.id, me, "offer", ctx.now())

        def write(t: Translator) -> str:
            return t.gettext(
                "{name} offers help with your project {number} ({project}). Take them into"
                " the team with {take}."
            ).format(
                name=mention(me),
                number=found.number,
                project=found.name,
                take=ctx.origin.command_prefix
                + ("projekt nimm" if t.language == "de" else "project take")
                + f" p{found.id} {me.name}",
            )

        await _dm(ctx, found, found.lead, write)
    ctx.reply(
        ctx._("{name} offers help with project {number} ({project}); {lead} is told.").format(
            name=me.name, number=found.number, project=found.name, lead=found.lead.name
        )
    )


def _match_person(name: str, people: tuple[Person, ...]) -> tuple[Person | None, list[Person]]:
    """Someone among those who offered, by display name, forgiving case, accents and
    typos (as venues are matched); else the closest names."""
    import difflib

    wanted = venue_key(name)
    exact = [p for p in people if venue_key(p.name) == wanted]
    if len(exact) == 1:
        return exact[0], []
    containing = [p for p in people if wanted and wanted in venue_key(p.name)]
    if len(containing) == 1 and not exact:
        return containing[0], []
    scored = sorted(
        people,
        key=lambda p: -difflib.SequenceMatcher(None, wanted, venue_key(p.name)).ratio(),
    )
    close = [
        p for p in scored if difflib.SequenceMatcher(None, wanted, venue_key(p.name)).ratio() >= 0.6
    ]
    if len(close) == 1 and not exact and not containing:
        return close[0], []
    return None, (exact or containing or close)[:3]


async def _take(ctx: Context, text: str) -> None:
    words = text.split(maxsplit=1)
    example = ctx.cmd("project") + " " + ctx._("take 1 Carla")
    found = await _find(ctx, words[0] if words else "", example)
    if len(words) < 2:
        raise UserError(ctx._("Whom do you take into the team?"), example=example)
    _open_or_refuse(ctx, found)
    if ctx.origin.sender.ref != found.lead.ref:
        raise UserError(
            ctx._("Only {lead}, who leads project {number}, takes people into the team.").format(
                lead=found.lead.name, number=found.number
            )
        )
    person, close = _match_person(words[1], found.offers + found.team)
    if person is None:
        if not found.offers and not found.team:
            raise UserError(
                ctx._("Nobody has offered help with project {number} yet.").format(
                    number=found.number
                )
            )
        text = ctx._("Nobody called “{name}” offered help with project {number}.").format(
            name=excerpt(words[1]), number=found.number
        )
        if close:
            text += " " + ctx._("Did you mean: {names}?").format(
                names=", ".join(p.name for p in close)
            )
        elif found.offers:
            text += " " + ctx._("They offered: {names}.").format(
                names=", ".join(p.name for p in found.offers)
            )
        raise UserError(text)
    if found.in_team(person):
        ctx.reply(ctx._("{name} is in the team already.").format(name=person.name))
        return
    async with ctx.repo.atomic():
        await ctx.repo.talent.add_project_member(found.id, person, "team", ctx.now())

        def write(t: Translator) -> str:
            return t.gettext("{lead} took you into the team of project {number} ({name}).").format(
                lead=mention(found.lead), number=found.number, name=found.name
            )

        await _dm(ctx, found, person, write)
    ctx.reply(
        ctx._("{name} is in the team of project {number} ({project}) and is told.").format(
            name=person.name, number=found.number, project=found.name
        )
    )


def _day(t: Translator, instant: datetime, zone: ZoneInfo) -> str:
    return str(format_date(instant.astimezone(zone).date(), format="long", locale=t.locale))


async def _end(ctx: Context, reference: str, state: ProjectState) -> None:
    if not reference.strip():
        raise UserError(ctx._("Which project?"), example=ctx.cmd("project") + " " + ctx._("done N"))
    found = await _find(ctx, reference)
    _open_or_refuse(ctx, found)
    if ctx.origin.sender.ref != found.lead.ref:
        raise UserError(
            ctx._("Only {lead}, who leads project {number}, can end it.").format(
                lead=found.lead.name, number=found.number
            )
        )
    group = await ctx.repo.cities.group(found.group_id)
    assert group is not None
    zone = ZoneInfo(group.settings.timezone)
    now = ctx.now()
    team = ", ".join(mention(p) for p in found.team)
    async with ctx.repo.atomic():
        if not await ctx.repo.talent.end_project(found.id, state, now):
            raise UserError(
                ctx._("Project {number} has ended already.").format(number=found.number)
            )
        for member in found.team:
            if state == ProjectState.DONE:

                def write(t: Translator) -> str:
                    return "\n".join(
                        [
                            t.gettext("Project {number} in {city} is done: {name}.").format(
                                number=found.number, city=group.name, name=found.name
                            ),
                            t.gettext("Led by: {lead}").format(lead=mention(found.lead)),
                            t.gettext("Team: {team}").format(team=team),
                            t.gettext("From {start} to {end}").format(
                                start=_day(t, found.created_at, zone), end=_day(t, now, zone)
                            ),
                            t.gettext("Keep this message as your record; the team is dissolved."),
                        ]
                    )

            else:

                def write(t: Translator) -> str:
                    return t.gettext(
                        "Project {number} in {city} ({name}) was cancelled by {lead}."
                    ).format(
                        number=found.number, city=group.name, name=found.name, lead=found.lead.name
                    )

            await _dm(ctx, found, member, write)
    if state == ProjectState.DONE:
        text = ctx._("Project {number} ({name}) is done; the team is dissolved.").format(
            number=found.number, name=found.name
        )
        if found.team:
            text += " " + ctx._("Each member got a record with the dates.")
    else:
        text = ctx._("Project {number} ({name}) is cancelled.").format(
            number=found.number, name=found.name
        )
        if found.team:
            text += " " + ctx._("The team is told.")
    ctx.reply(text)


async def _show(ctx: Context, found: Project) -> None:
    if ctx.group is None or ctx.group.id != found.group_id:
        if ctx.origin.sender.ref not in {
            found.lead.ref,
            *(p.ref for p in found.offers + found.team),
        }:
            if found.group_id not in await ctx.repo.talent.member_groups(ctx.origin.sender.ref):
                raise UserError(
                    ctx._("There is no project {number}. {projects} lists the open ones.").format(
                        number=f"p{found.id}", projects=ctx.cmd("projects")
                    )
                )
    ctx.reply(_describe(ctx, found))


def _describe(ctx: Context, found: Project) -> str:
    lines = [
        ctx._("Project {number}: {name}, led by {lead}.").format(
            number=found.number, name=found.name, lead=mention(found.lead)
        ),
        ctx._("Needs: {skills}").format(skills=", ".join(found.skills)),
    ]
    if found.text:
        lines.append(found.text)
    if found.team:
        lines.append(ctx._("Team: {team}").format(team=", ".join(mention(p) for p in found.team)))
    if found.offers:
        lines.append(
            ctx._("Offered help: {names}").format(names=", ".join(mention(p) for p in found.offers))
        )
    if found.state == ProjectState.DONE:
        lines.append(ctx._("Done."))
    elif found.state == ProjectState.CANCELLED:
        lines.append(ctx._("Cancelled."))
    return "\n".join(lines)


async def list_projects(ctx: Context, args: str) -> None:
    group = ctx.require_group()
    found = await ctx.repo.talent.open_projects(group.id)
    if not found:
        ctx.reply(
            ctx._("No open projects in {city}. Post one:").format(city=group.name)
            + "\n"
            + new_example(ctx)
        )
        return
    lines = [ctx._("Open projects in {city}:").format(city=group.name)]
    for p in found:
        line = ctx._("{number}. {name}, led by {lead} – needs {skills}").format(
            number=p.number, name=p.name, lead=p.lead.name, skills=", ".join(p.skills)
        )
        if p.team:
            line += " · " + ctx.ngettext(
                "{count} in the team", "{count} in the team", len(p.team)
            ).format(count=len(p.team))
        lines.append(line)
    ctx.reply("\n".join(lines))


async def before_forgetting(ctx: Context, person: PersonRef) -> None:
    """Inside /forget's transaction: open projects the person leads end (they are
    deleted with the person); their teams are told, without the lead's name."""
    for led in await ctx.repo.talent.projects_led_by(person):
        group = await ctx.repo.cities.group(led.group_id)
        city = group.name if group else ""
        for member in led.team + led.offers:

            def write(t: Translator, led: Project = led, city: str = city) -> str:
                return t.gettext(
                    "Project {number} in {city} ({name}) has ended: its lead left."
                ).format(number=led.number, city=city, name=led.name)

            await _dm(ctx, led, member, write)
