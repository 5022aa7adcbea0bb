"""Replies shared by several use cases."""

from __future__ import annotations

from chatbot.core.context import Context
from chatbot.core.errors import UserError
from chatbot.core.parsing import BadInput
from chatbot.core.text import excerpt


def bad_input(ctx: Context, error: BadInput, example: str) -> UserError:
    """The translated reply for a value that could not be read; the value is quoted
    back as a short excerpt."""
    texts = {
        "time": ctx._("“{value}” is not a time of day. Use hours 0–23 and minutes 0–59."),
        "time_start": ctx._("“{value}”: please give the start too, as in 10-14."),
        "range": ctx._("“{value}” is not a time range: the end must come after the start."),
        "two_times": ctx._("“{value}”: please give one time or one range, not two."),
        "coordinates": ctx._("“{value}” are not coordinates. Write latitude,longitude."),
        "coordinates_range": ctx._(
            "“{value}” is off the map: latitude goes from -90 to 90, longitude from -180 to 180."
        ),
        "tag": ctx._("“{value}” is not a venue tag. Known tags: wifi, power, quiet, food."),
        "weekday": ctx._("“{value}” is not a weekday. Write mo, di, mi … or mon, tue, wed …"),
        "date": ctx._("“{value}” is not a date in the calendar."),
        "two_days": ctx._("“{value}”: please give one day, not two."),
        "seats": ctx._("“{value}”: seats are written as max and a number from 2 to 500."),
    }
    text = texts.get(error.reason) or ctx._("I could not read “{value}”.")
    return UserError(text.format(value=excerpt(error.value)), example=example)
