"""Addresses for many rows at once: an endpoint's address built once with placeholders,
then filled in for each row (url_for for every link of a long page or a digest cost more
than all the rest of a row)."""

import re
from urllib.parse import quote

from flask import url_for

_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")  # what quoting leaves as it is (a number, C-1042)
NUMBER_MARK = 9_000_000_001  # beyond any database id: a placeholder no real value can be


class UrlPattern:
    """The address of `endpoint` with these values left open (`numbers`: the ones a URL
    converter takes as integers), filled in by `url`."""

    def __init__(self, endpoint: str, names, numbers=(), external: bool = False):
        marks = {
            name: str(NUMBER_MARK + i) if name in numbers else f"__mark{i}__"
            for i, name in enumerate(sorted(names))
        }
        values = {name: int(mark) if name in numbers else mark for name, mark in marks.items()}
        pattern = url_for(endpoint, _external=external, **values)
        # the address cut at its placeholders once: a value is put in its place, never into
        # another value that happens to contain a placeholder's text
        where = re.compile("|".join(re.escape(mark) for mark in marks.values()))
        named = {mark: name for name, mark in marks.items()}
        self.pieces = where.split(pattern)
        self.names = [named[found] for found in where.findall(pattern)]

    def url(self, **values) -> str:
        pieces = self.pieces
        parts = [pieces[0]]
        for i, name in enumerate(self.names, 1):
            value = values[name]
            text = str(value)
            parts.append(text if _PLAIN.fullmatch(text) else quote(text, safe=""))
            parts.append(pieces[i])
        return "".join(parts)
