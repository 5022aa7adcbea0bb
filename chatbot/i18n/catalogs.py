"""Keep the message catalogs in step with the code.

    python -m chatbot.i18n.catalogs update   # extract, merge into de/en, fill English
    python -m chatbot.i18n.catalogs check    # report what is missing or out of date

`update` never invents German: new messages stay untranslated in de until someone
writes them, and `check` (run by the tests) fails until then.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from chatbot.i18n import DOMAIN, SUPPORTED, locales_dir

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
_PLACEHOLDER = re.compile(r"{(\w*)}")


def package_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def extract() -> Catalog:
    """Every message marked in the code, as a fresh template."""
    template = Catalog(project="chatbot", domain=DOMAIN)
    # the web page's templates too (Jinja2's Babel extractor finds their _() calls)
    method_map = [("**.py", "python"), ("web/templates/**.html", "jinja2.ext:babel_extract")]
    root = package_dir()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map=method_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        template.add(
            message,
            None,
            [(f"chatbot/{filename}", lineno)],
            auto_comments=comments,
            context=context,
        )
    return template


def _po_path(language: str) -> Path:
    return locales_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(language: str) -> Catalog:
    path = _po_path(language)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN)
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=True)
    path.write_bytes(buffer.getvalue())


def update() -> None:
    template = extract()
    _write(template, locales_dir() / f"{DOMAIN}.pot")
    for language in SUPPORTED:
        catalog = _read(language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if language == "en":
            for message in catalog:
                if message.id and not _translated(message.string):
                    message.string = message.id
        _write(catalog, _po_path(language))


def _translated(string: object) -> bool:
    if isinstance(string, tuple | list):
        return all(string)
    return bool(string)


def _texts(value: object) -> list[str]:
    if isinstance(value, tuple | list):
        return [str(v) for v in value]
    return [str(value or "")]


def _ids(messages: Iterable[object]) -> set[object]:
    return {m.id for m in messages if m.id}  # type: ignore[attr-defined]


def problems() -> list[str]:
    """What is wrong with the catalogs: missing, untranslated, fuzzy, or mismatched."""
    found: list[str] = []
    template = extract()
    wanted = _ids(template)
    for language in SUPPORTED:
        catalog = _read(language)
        have = _ids(catalog)
        for missing in sorted(map(str, wanted - have)):
            found.append(f"{language}: not in the catalog: {missing!r}")
        for extra in sorted(map(str, have - wanted)):
            found.append(f"{language}: no longer in the code: {extra!r}")
        for message in catalog:
            if not message.id or message.id not in wanted:
                continue
            if message.fuzzy:
                found.append(f"{language}: fuzzy: {message.id!r}")
            if not _translated(message.string):
                found.append(f"{language}: untranslated: {message.id!r}")
                continue
            ids = _texts(message.id)
            expected = set(_PLACEHOLDER.findall(" ".join(ids)))
            for string in _texts(message.string):
                if set(_PLACEHOLDER.findall(string)) != expected:
                    found.append(f"{language}: placeholders differ: {message.id!r} -> {string!r}")
    return found


def main(argv: list[str]) -> int:
    if argv[:1] == ["update"]:
        update()
        return 0
    if argv[:1] == ["check"]:
        issues = problems()
        print("\n".join(issues) or "catalogs complete")
        return 1 if issues else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
