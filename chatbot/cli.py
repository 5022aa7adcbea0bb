"""The `chatbot` command: `chatbot console` and `chatbot run`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from chatbot import logs
from chatbot.config import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatbot", description="The coworking bot.")
    commands = parser.add_subparsers(dest="command", required=True)
    console = commands.add_parser(
        "console", help="a local group chat in the terminal (SQLite, no accounts)"
    )
    console.add_argument("--script", help="read lines from this file instead of standard input")
    console.add_argument(
        "--admin", action="append", default=[], metavar="NAME", help="NAME is an admin"
    )
    console.add_argument("--database", metavar="URL", help="database URL (sqlite:///file.db)")
    console.add_argument("--echo", action="store_true", help="print each input line before replies")
    console.add_argument(
        "--web", type=int, metavar="PORT", help="serve the city pages and feeds on this port"
    )
    commands.add_parser("run", help="serve every platform whose credentials are configured")
    commands.add_parser(
        "check-config", help="validate the settings and reach each configured platform"
    )
    commands.add_parser("health", help="exit 0 if `chatbot run` is alive (container health)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print("The settings are not valid:", file=sys.stderr)
        for problem in error.errors():
            name = "CHATBOT_" + "_".join(str(p) for p in problem["loc"]).upper()
            print(f"  {name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    level = settings.log_level if args.command in ("run", "check-config") else "WARNING"
    logs.configure(level, settings.log_format, settings.secrets())
    if args.command == "console":
        from chatbot.adapters.console_main import run_console

        code = asyncio.run(
            run_console(
                settings,
                script=args.script,
                admins=args.admin,
                database=args.database,
                echo=args.echo,
                web=args.web,
            )
        )
    elif args.command == "check-config":
        from chatbot.checks import run_check

        code = run_check(settings)
    elif args.command == "health":
        from chatbot.checks import healthy

        report: list[str] = []
        code = 0 if asyncio.run(healthy(settings, report)) else 1
        print("\n".join(report))
    else:
        from chatbot.runner import run_platforms

        code = asyncio.run(run_platforms(settings))
    raise SystemExit(code)
