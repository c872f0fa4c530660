"""Citations built by hand, for rendering tests: one factory, every field a keyword."""

from __future__ import annotations

from retrieval.types import Citation


def citation(
    quote: str = "Hello",
    *,
    source: str = "a.txt",
    path: str | None = None,
    text_path: str | None = None,
    start: int = 0,
    end: int | None = None,
    line: int = 1,
    n: int = 1,
    score: float = 1,
    page: int | None = None,
    location: str | None = None,
) -> Citation:
    """A citation of quote in source: its id `source#start-end`, path `/source` and text_path the path unless
    given, end start + len(quote) unless given."""
    path = f"/{source}" if path is None else path
    end = start + len(quote) if end is None else end
    # page and location are passed only when given, so that the fields set are those a hand-built one sets.
    located = {k: v for k, v in (("page", page), ("location", location)) if v is not None}
    return Citation(
        n=n,
        id=f"{source}#{start}-{end}",
        source=source,
        path=path,
        text_path=path if text_path is None else text_path,
        start=start,
        end=end,
        line=line,
        quote=quote,
        score=score,
        **located,
    )
