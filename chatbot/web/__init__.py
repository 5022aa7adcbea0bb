"""The public web page of each city and its calendar feeds (aiohttp, Jinja2, icalendar).

`slugs` is pure and also used by the core (links in announcements and /week)."""
