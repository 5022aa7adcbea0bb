"""Errors whose text the user sees."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused request: the text is already translated for the chat.

    The dispatcher replies with the text (and the example, if any) and nothing is
    stored: use cases raise it before they write.
    """

    def __init__(self, text: str, example: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.example = example
