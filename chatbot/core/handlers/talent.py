"""Profiles and the talent search.

`/profile SKILL, SKILL [| about you [| AREA]]` says what someone can do, in one city
group; nobody appears anywhere without a profile. `/who SKILL` lists the members of
the city with that talent: only in the city group itself, or in a private chat of a
member (someone with a profile or a session in the group), so an outsider learns no
names. Skills match by word parts, German and English (see `chatbot.core.talent`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.events import Person
from chatbot.core.names import clean_name
from chatbot.core.parsing import haversine_m, take_distance
from chatbot.core.talent import (
    MAX_ABOUT,
    MAX_AREA,
    MAX_SKILL,
    MAX_SKILLS,
    Found,
    Profile,
    search_form,
    search_text,
    skill_forms,
    synonyms_of,
)
from chatbot.core.text import excerpt, fold, one_line

OFF_WORDS = {"aus", "off", "loeschen", "delete"}
MUTE_WORDS = {"stumm", "mute"}
UNMUTE_WORDS = {"laut", "unmute"}
HERE_WORDS = {"hier", "here"}
SHOWN = 10  # people /who lists
SHOWN_SKILLS = 5  # skills shown per person
ACTIVE_DAYS = 30
# a list item's mark at the start of a pasted line: "- ", "• ", "* ", "1. ", "2) "
_BULLET_RE = re.compile(r"^(?:(?:[-–—•·*▪◦‣]+|\d{1,2}[.)])(?:\s+|$))+")
_RADIUS_RE = re.compile(r"^(?P<query>.+?)\s+(?:in|within|im umkreis von|umkreis)\s+(?P<radius>.+)$")


def profile_example(ctx: Context) -> str:
    return ctx.cmd("profile") + " " + ctx._("graphic design, video editing | Freelance designer")


def who_example(ctx: Context) -> str:
    return ctx.cmd("who") + " " + ctx._("video")


def mention(person: Person) -> str:
    """How to reach someone on their platform, from what the core knows: the name, and
    the Matrix user id (a Telegram user id reaches nobody, and the core knows no
    username)."""
    if person.ref.platform == "matrix" and person.ref.id.startswith("@"):
        return f"{person.name} ({person.ref.id})"
    return person.name


def parse_skills(ctx: Context, text: str, example: str) -> tuple[str, ...]:
    """Skills separated by commas (or semicolons, or one a line, as a pasted list, its
    bullets left out): cleaned like names, each one line of at most 40 characters, at
    most 15, the same skill once."""
    skills: list[str] = []
    seen: set[str] = set()
    for part in re.split(r"[,;\n]", text):
        skill = clean_name(_BULLET_RE.sub("", part.strip()))
        if not skill:
            continue
        if len(skill) > MAX_SKILL:
            raise UserError(
                ctx._("“{skill}” is too long: a skill has at most {limit} characters.").format(
                    skill=excerpt(skill), limit=MAX_SKILL
                ),
                example=example,
            )
        key = search_form(skill)
        if key and key not in seen:
            seen.add(key)
            skills.append(skill)
    if not skills:
        raise UserError(ctx._("Please name at least one skill."), example=example)
    if len(skills) > MAX_SKILLS:
        raise UserError(
            ctx._("At most {limit} skills, please.").format(limit=MAX_SKILLS), example=example
        )
    return tuple(skills)


def _checked_line(ctx: Context, text: str, limit: int, example: str) -> str:
    line = one_line(text)
    if len(line) > limit:
        raise UserError(
            ctx._("That text is too long: at most {limit} characters.").format(limit=limit),
            example=example,
        )
    return line


def describe_profile(ctx: Context, profile: Profile) -> str:
    lines = [", ".join(profile.skills)]
    if profile.about:
        lines.append(profile.about)
    if profile.area:
        lines.append(ctx._("Area: {area}").format(area=profile.area))
    elif profile.centre:
        lines.append(ctx._("Area: near the location you shared (rounded to about 1 km)"))
    if profile.muted:
        lines.append(ctx._("No direct messages about new projects."))
    return "\n".join(lines)


async def profile(ctx: Context, args: str) -> None:
    me = ctx.origin.sender
    word = fold(args.strip())
    if word in OFF_WORDS:
        await _delete(ctx)
        return
    if word in MUTE_WORDS or word in UNMUTE_WORDS:
        await _mute(ctx, word in MUTE_WORDS)
        return
    if not args.strip():
        await _show(ctx)
        return
    group = ctx.require_group()
    example = profile_example(ctx)
    parts = args.split("|")
    if len(parts) > 3:
        raise UserError(
            ctx._("Please give skills, one line about you and an area, separated by “|”."),
            example=example,
        )
    skills = parse_skills(ctx, parts[0], example)
    about = _checked_line(ctx, parts[1], MAX_ABOUT, example) if len(parts) > 1 else ""
    area = clean_name(parts[2]) if len(parts) > 2 else ""
    centre = None
    if fold(area) in HERE_WORDS:
        position = ctx.memory.position(me.ref, ctx.now())
        if position is None:
            raise UserError(
                ctx._(
                    "To put your place on your profile, share your location first: I keep it"
                    " rounded to about 1 km with your profile until you delete it."
                ),
                example=example,
            )
        area, centre = "", (round(position[0], 2), round(position[1], 2))
    elif len(area) > MAX_AREA:
        raise UserError(
            ctx._("That text is too long: at most {limit} characters.").format(limit=MAX_AREA),
            example=example,
        )
    old = await ctx.repo.talent.profile(group.id, me.ref)
    new = Profile(group.id, me, skills, about, area, centre, old.muted if old else False)
    async with ctx.repo.atomic():
        await ctx.repo.talent.save_profile(new, search_text(skills), ctx.now())
    text = ctx._("Your profile in {city}:").format(city=group.name) + "\n"
    text += describe_profile(ctx, new) + "\n"
    if centre is not None:
        text += (
            ctx._(
                "I keep your location rounded to about 1 km with your profile, and only"
                " because you asked; it goes when you delete the profile."
            )
            + "\n"
        )
    text += ctx._("Members find you with {who}. {off} deletes your profile.").format(
        who=ctx.cmd("who") + " " + skills[0], off=ctx.cmd("profile") + " " + ctx._("off")
    )
    ctx.reply(text)


async def _show(ctx: Context) -> None:
    me = ctx.origin.sender.ref
    if ctx.group is not None:
        found = await ctx.repo.talent.profile(ctx.group.id, me)
        if found is None:
            ctx.reply(
                ctx._(
                    "You have no profile in {city}: nobody finds you with {who}. Say what you"
                    " can do:"
                ).format(city=ctx.group.name, who=ctx.cmd("who"))
                + "\n"
                + profile_example(ctx)
            )
            return
        ctx.reply(
            ctx._("Your profile in {city}:").format(city=ctx.group.name)
            + "\n"
            + describe_profile(ctx, found)
        )
        return
    profiles = await ctx.repo.talent.profiles_of(me)
    if not profiles:
        ctx.reply(
            ctx._("You have no profile. Write {profile} in your city group.").format(
                profile=ctx.cmd("profile")
            )
        )
        return
    blocks = []
    for found in profiles:
        group = await ctx.repo.cities.group(found.group_id)
        city = group.name if group else "?"
        blocks.append(
            ctx._("Your profile in {city}:").format(city=city) + "\n" + describe_profile(ctx, found)
        )
    ctx.reply("\n\n".join(blocks))


async def _delete(ctx: Context) -> None:
    me = ctx.origin.sender.ref
    group_id = None if ctx.origin.is_private or ctx.group is None else ctx.group.id
    if group_id is None and not ctx.origin.is_private:
        ctx.require_group()
    async with ctx.repo.atomic():
        gone = await ctx.repo.talent.delete_profile(group_id, me)
    if not gone:
        ctx.reply(ctx._("You have no profile here."))
    elif group_id is None:
        ctx.reply(ctx._("Deleted: you have no profile anymore."))
    else:
        ctx.reply(ctx._("Deleted: your profile in this city group is gone."))


async def _mute(ctx: Context, muted: bool) -> None:
    me = ctx.origin.sender.ref
    group_id = None if ctx.origin.is_private or ctx.group is None else ctx.group.id
    if group_id is None and not ctx.origin.is_private:
        ctx.require_group()
    async with ctx.repo.atomic():
        changed = await ctx.repo.talent.set_profile_muted(group_id, me, muted)
    if not changed:
        ctx.reply(
            ctx._("You have no profile here. Say what you can do:") + "\n" + profile_example(ctx)
        )
    elif muted:
        ctx.reply(
            ctx._("No more direct messages about new projects. {unmute} turns them on.").format(
                unmute=ctx.cmd("profile") + " " + ctx._("unmute")
            )
        )
    else:
        ctx.reply(ctx._("You get direct messages about new projects that need your skills again."))


def _parse_who(ctx: Context, args: str) -> tuple[str, float | None]:
    """The skill asked for and a radius in km (`… in 5 km`), if any."""
    text = " ".join(args.split())
    radius = None
    match = _RADIUS_RE.match(text)
    if match:
        words = match.group("radius").split()
        taken = take_distance(words, 0)
        if taken is not None and taken[1] == len(words):
            text, radius = match.group("query"), taken[0]
            if not 0.5 <= radius <= 100:
                raise UserError(
                    ctx._("The radius is given in km, from 0.5 to 100."),
                    example=who_example(ctx) + " " + ctx._("in 5 km"),
                )
    return clean_name(text), radius


async def who(ctx: Context, args: str) -> None:
    query, radius = _parse_who(ctx, args)
    if not search_form(query):
        raise UserError(ctx._("Which talent are you looking for?"), example=who_example(ctx))
    me = ctx.origin.sender
    if ctx.group is not None:
        group_ids = [ctx.group.id]
    elif ctx.origin.is_private:
        group_ids = list(await ctx.repo.talent.member_groups(me.ref))
        if not group_ids:
            raise UserError(
                ctx._(
                    "I search only among the members of your city groups. Write {profile} in"
                    " your city group (or join a session there) first."
                ).format(profile=ctx.cmd("profile"))
            )
    else:
        ctx.require_group()
        return
    centre = None
    if radius is not None:
        centre = ctx.memory.position(me.ref, ctx.now())
        if centre is None and ctx.group is not None:
            mine = await ctx.repo.talent.profile(ctx.group.id, me.ref)
            centre = mine.centre if mine else None
        if centre is None:
            raise UserError(
                ctx._("To search by distance, share your location first."),
                example=who_example(ctx) + " " + ctx._("in 5 km"),
            )
    folded = search_form(query)
    synonyms = synonyms_of(folded)
    since = ctx.today() - timedelta(days=ACTIVE_DAYS)
    limit = SHOWN + 1 if centre is None else 500
    found = list(
        await ctx.repo.talent.find_profiles(
            group_ids, folded, synonyms, active_since=since, limit=limit
        )
    )
    if centre is not None and radius is not None:
        found = _by_distance(found, centre, radius * 1000)
    cities = {}
    for group_id in group_ids:
        group = ctx.group if ctx.group and ctx.group.id == group_id else None
        group = group or await ctx.repo.cities.group(group_id)
        cities[group_id] = group.name if group else "?"
    where = ", ".join(cities[g] for g in group_ids)
    if not found:
        ctx.reply(
            ctx._("Nobody in {city} has “{skill}” in their profile yet.").format(
                city=where, skill=excerpt(query)
            )
            + " "
            + ctx._("{profile} says what you can do.").format(profile=ctx.cmd("profile"))
        )
        return
    lines = [ctx._("“{skill}” in {city}:").format(skill=excerpt(query), city=where)]
    for i, item in enumerate(found[:SHOWN], start=1):
        lines.append(_found_line(ctx, i, item, (folded, *synonyms), cities, len(group_ids) > 1))
    if len(found) > SHOWN:
        lines.append(ctx._("More match: ask for a more specific skill."))
    ctx.reply("\n".join(lines))


def _by_distance(found: list[Found], centre: tuple[float, float], radius_m: float) -> list[Found]:
    """Within the radius, nearest first; then those without a shared place (an area in
    words or none) in their order; those farther away are left out."""
    near: list[Found] = []
    unknown: list[Found] = []
    for item in found:
        if item.profile.centre is None:
            unknown.append(item)
            continue
        distance = haversine_m(*centre, *item.profile.centre)
        if distance <= radius_m:
            near.append(replace(item, distance_m=distance))
    near.sort(key=lambda f: f.distance_m or 0.0)
    return near + unknown


def _found_line(
    ctx: Context,
    number: int,
    item: Found,
    terms: tuple[str, ...],
    cities: dict[int, str],
    with_city: bool,
) -> str:
    p = item.profile
    matching = [s for s in p.skills if any(t in skill_forms(s) for t in terms)]
    skills = matching + [s for s in p.skills if s not in matching]
    shown = ", ".join(skills[:SHOWN_SKILLS]) + (" …" if len(skills) > SHOWN_SKILLS else "")
    parts = [f"{number}. {mention(p.person)} – {shown}"]
    if p.area:
        parts.append(p.area)
    if item.distance_m is not None:
        parts.append(ctx.t.distance(item.distance_m))
    if with_city:
        parts.append(cities.get(p.group_id, "?"))
    line = " · ".join(parts)
    if p.about:
        line += "\n   " + excerpt(p.about, 120)
    return line
