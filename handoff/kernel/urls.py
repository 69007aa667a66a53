"""Addresses for many rows at once: an endpoint's address built once with placeholders,
then filled in for each row (url_for for every link of a long page or a digest cost more
than all the rest of a row)."""

from urllib.parse import quote

from flask import url_for

NUMBER_MARK = 9_000_000_001  # beyond any database id: a placeholder no real value can be


class UrlPattern:
    """The address of `endpoint` with these values left open (`numbers`: the ones a URL
    converter takes as integers), filled in by `url`."""

    def __init__(self, endpoint: str, names, numbers=(), external: bool = False):
        self.marks = {
            name: str(NUMBER_MARK + i) if name in numbers else f"__mark{i}__"
            for i, name in enumerate(sorted(names))
        }
        values = {name: int(mark) if name in numbers else mark for name, mark in self.marks.items()}
        self.pattern = url_for(endpoint, _external=external, **values)

    def url(self, **values) -> str:
        url = self.pattern
        for name, value in values.items():
            written = str(value) if type(value) is int else quote(str(value), safe="")
            url = url.replace(self.marks[name], written, 1)
        return url
