"""Finding rows by a piece of their text, as an index lookup on both databases.

Text typed into a search box (three characters or more) matches any part of the searched
columns, whatever its case: on SQLite through an FTS5 table with the trigram tokenizer
(`search_<table>`, kept by triggers), on PostgreSQL through pg_trgm GIN indexes
(`search_<table>_<column>`), both made by the migrations. Matches come newest first (highest
id), at most `limit` of them, so a word that a hundred thousand rows share costs what a rare
one does.
"""

from sqlalchemy import Select, literal_column, or_, select, table, text

from handoff.kernel.db import db

SHORTEST = 3  # characters: trigrams need three


def searchable(query: str) -> bool:
    """Whether `query` is long enough to search text for."""
    return len(query.strip()) >= SHORTEST


def matching_ids(model, columns: list, query: str, limit: int, digits: tuple | None = None):
    """A select of the ids of `model`'s rows whose `columns` contain `query` (and, with
    `digits` = (column, digits), whose column contains those digits), newest first."""
    found, key = matching(model, columns, query, digits)
    return found.order_by(key.desc()).limit(limit)


def matching(model, columns: list, query: str, digits: tuple | None = None):
    """matching_ids in no order and without a limit, and the column that is the rows' id in
    it: for a list that pages by id (kernel.paging.reading_after)."""
    query = query.strip()
    if db.engine.dialect.name == "sqlite":
        return _fts(model.__tablename__, [c.key for c in columns], query, digits)
    conditions = [column.icontains(query, autoescape=True) for column in columns]
    if digits:
        column, wanted = digits
        conditions.append(column.contains(wanted, autoescape=True))
    return select(model.id).where(or_(*conditions)), model.id


def _phrase(words: str) -> str:
    """An FTS5 phrase: the text as it is, quotes doubled (no operator in it is read)."""
    return '"' + words.replace('"', '""') + '"'


def _fts(name: str, columns: list[str], query: str, digits) -> tuple[Select, object]:
    index = table(f"search_{name}")
    match = f"{{{' '.join(columns)}}} : {_phrase(query)}"
    if digits:
        column, wanted = digits
        match = f"({match}) OR ({{{column.key}}} : {_phrase(wanted)})"
    rowid = literal_column("rowid")
    found = (
        select(rowid)
        .select_from(index)
        .where(text(f"search_{name} MATCH :match").bindparams(match=match))
    )
    return found, rowid


def is_search_structure(name, type_, parent_names) -> bool:
    """Whether a table or index is one of the search structures above, which the migrations
    make for each database and the models do not describe (for comparing the two)."""
    return bool(name) and name.startswith("search_")
