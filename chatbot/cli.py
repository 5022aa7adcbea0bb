"""The `chatbot` command: `chatbot console` and `chatbot run`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from chatbot.config import Settings


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO, and a Bot API URL contains the token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


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
    commands.add_parser("run", help="serve every platform whose credentials are configured")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level if args.command == "run" else "WARNING")
    if args.command == "console":
        from chatbot.adapters.console_main import run_console

        code = asyncio.run(
            run_console(
                settings,
                script=args.script,
                admins=args.admin,
                database=args.database,
                echo=args.echo,
            )
        )
    else:
        from chatbot.runner import run_platforms

        code = asyncio.run(run_platforms(settings))
    raise SystemExit(code)
