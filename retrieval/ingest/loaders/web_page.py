"""Web pages (.html): the main content's headings, paragraphs, lists and tables, without the page chrome."""

from __future__ import annotations

import importlib.metadata
import logging
import re
import warnings
from typing import Any

from retrieval.ingest.loaders import Extracted, ExtractError, NoText
from retrieval.ingest.loaders.word import one_line, visible
from retrieval.text.regions import SECTION, Region, RegionMap

SUFFIXES = (".html", ".htm")
# Bump when the text for the same file changes: stores record it and re-read their pages.
# 2: hidden elements (the hidden attribute, an inline display:none or visibility:hidden) are not read.
_CITEBOT_VERSION = 2
# A heading names a citation's section ("section Annual leave"): past 120 characters it is a paragraph that
# wears a heading style, and its start is name enough.
_HEADING_CHARS = 120
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Never the page's content: code, styling, drawings, embedded media's fallback text, form controls, and the
# site's chrome (navigation, banners, sidebars, footers).
_DROPPED = frozenset(
    {"script", "style", "noscript", "template", "svg", "nav", "footer", "aside", "iframe", "object", "canvas"}
    | {"video", "audio", "select", "button", "textarea"}
)
_DROPPED_ROLES = frozenset({"navigation", "banner", "contentinfo"})
# An inline style that hides an element from everyone (visibility:collapse hides table rows so).
_HIDING_STYLE = re.compile(
    r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse))\s*(?:!important\s*)?(?:;|$)",
    re.IGNORECASE,
)
# A <header> is the site's banner unless it heads an article or section (ARIA's rule), where it holds the
# article's own title.
_SECTIONING = ("article", "main", "section")
# What a <form> around a page's text has inside (ASP.NET WebForms wraps the whole page in one <form>); a
# search box or a login form has none of it.
_CONTENT = ["main", "article", "p", *sorted(_HEADINGS)]
# Elements that start and end a block of text; inline elements (a, b, span...) join their text to it.
_BLOCKS = frozenset(
    {"address", "article", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "div", "dl"}
    | {"dt", "fieldset", "figcaption", "figure", "form", "header", "hgroup", "hr", "html", "legend", "li"}
    | {"main", "ol", "p", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
    | _HEADINGS
)
# A table holding any of these is page layout, read as blocks; any other is data, read as rows.
_LAYOUT = ["table", "p", "div", "ul", "ol", "pre", "blockquote", "section", "article", *sorted(_HEADINGS)]
# In <pre> text: any white space but tab and space (line breaks are split on first) reads as a space.
_ODD_SPACE = re.compile(r"[^\S\t ]")


def parser_version() -> str:
    """Beautiful Soup's version and citebot's web page text rules."""
    return f"beautifulsoup4 {importlib.metadata.version('beautifulsoup4')}; citebot html {_CITEBOT_VERSION}"


def _is_hidden(tag: Any) -> bool:
    """Whether an element is hidden from every reader of the page: the hidden attribute or an inline style.

    hidden="until-found" stays: a browser shows it when its find-in-page matches (a collapsed section's
    text). aria-hidden stays too: it hides an element from screen readers only, and everyone else sees its
    text. Stylesheets are not evaluated, so a class that hides (.sr-only, .d-none) is read as shown.
    """
    hidden = tag.get("hidden")
    if hidden is not None and str(hidden).strip().lower() != "until-found":
        return True
    return bool(_HIDING_STYLE.search(str(tag.get("style") or "")))


def _is_chrome(tag: Any) -> bool:
    """Whether an element is never content: dropped by name, by role, or a banner header or a form."""
    if tag.name in _DROPPED or str(tag.get("role", "")).strip().lower() in _DROPPED_ROLES:
        return True
    if tag.name == "header":
        return tag.find_parent(_SECTIONING) is None
    return tag.name == "form" and tag.find(_CONTENT) is None


def _prune(soup: Any) -> None:
    """Remove the page chrome, hidden elements, and every <title> (read before), from the tree."""
    chrome = [tag for tag in soup.find_all(True) if tag.name == "title" or _is_chrome(tag) or _is_hidden(tag)]
    for tag in chrome:
        # A dropped element inside one dropped before it went with it.
        if not tag.decomposed:
            tag.decompose()


def _content_root(soup: Any) -> Any:
    """<main>, else the page's one <article>, else <body>, else the whole document."""
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if main is not None:
        return main
    # Several articles (a blog's front page) are all content: then the body holds them.
    articles = soup.find_all("article", limit=2)
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


def _inline(tag: Any) -> str:
    """An element's text on one line; a line break or an inner block is a space."""
    from bs4.element import NavigableString, PreformattedString, Tag

    parts = []
    for node in tag.descendants:
        if isinstance(node, Tag):
            if node.name == "br" or node.name in _BLOCKS:
                parts.append(" ")
        elif isinstance(node, NavigableString) and not isinstance(node, PreformattedString):
            parts.append(str(node))
    return one_line("".join(parts))


def _pre_text(tag: Any) -> str:
    """Preformatted text with its lines and indentation kept; blank lines dropped (they would end a block)."""
    lines = (_ODD_SPACE.sub(" ", visible(line)).rstrip() for line in tag.get_text().splitlines())
    return "\n".join(line for line in lines if line.strip()).strip()


def _table_text(table: Any) -> str:
    """A data table's caption and rows, one "cell | cell" line each."""
    lines = [_inline(caption) for caption in table.find_all("caption")]
    for row in table.find_all("tr"):
        cells = [_inline(cell) for cell in row.find_all(["td", "th"], recursive=False)]
        if any(cells):
            # Single spaces even around empty cells ("a | | c"), and none after an empty last cell.
            lines.append(one_line(" | ".join(cells)))
    return "\n".join(line for line in lines if line)


def _whole_block(tag: Any) -> tuple[str, bool] | None:
    """The block an element is read as in one piece (a heading, <pre>, a data table); None for others."""
    if tag.name in _HEADINGS:
        return _inline(tag), True
    if tag.name == "pre":
        return _pre_text(tag), False
    if tag.name == "table" and tag.find(_LAYOUT) is None:
        return _table_text(tag), False
    return None


def _blocks(root: Any) -> list[tuple[str, bool]]:
    """The blocks of text under root in document order, each with whether it is a heading."""
    from bs4.element import NavigableString, PreformattedString, Tag

    blocks: list[tuple[str, bool]] = []
    inline: list[str] = []

    def add(text: str, heading: bool = False) -> None:
        if text:
            blocks.append((text, heading))

    def flush() -> None:
        add(one_line("".join(inline)))
        inline.clear()

    # An explicit stack, not recursion: a page nested thousands of elements deep is still read.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            flush()
        elif isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, CDATA, doctypes
                inline.append(str(node))
        elif isinstance(node, Tag):
            if node.name == "br":
                inline.append(" ")
            elif (whole := _whole_block(node)) is not None:
                flush()
                add(*whole)
            else:
                if node.name in _BLOCKS:
                    flush()
                    stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.contents))
    flush()
    return blocks


def extract(data: bytes) -> Extracted:
    """The page's main text, blocks one blank line apart, headings starting sections; its title first."""
    try:
        from bs4 import BeautifulSoup
    except ImportError as exc:
        raise ExtractError("needs beautifulsoup4 (pip install beautifulsoup4)") from exc
    # Beautiful Soup logs a warning for bytes it cannot decode (they read as U+FFFD): the page is read anyway,
    # and a stray line on an ingest's terminal would only puzzle.
    logging.getLogger("bs4.dammit").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # Beautiful Soup warns about markup that looks like a file name or a URL; here it is a file
            warnings.simplefilter("ignore")
            # Given bytes, Beautiful Soup picks the encoding: a byte-order mark, the declared charset, a guess
            soup = BeautifulSoup(data, "html.parser")
        for tag in soup.find_all("svg"):
            # Drawings have <title>s of their own; the page's is the first one left.
            if not tag.decomposed:
                tag.decompose()
        found = soup.find("title")
        title = one_line(found.get_text()) if found is not None else ""
        _prune(soup)
        blocks = _blocks(_content_root(soup))
    except Exception as exc:
        raise ExtractError(f"not a readable web page ({type(exc).__name__}: {exc!s:.120})") from exc
    if not blocks:
        raise NoText("no text (the page holds only navigation, scripts or nothing)")
    if title and blocks[0][0] != title:
        # The title is searched and quoted like the text: it goes first unless the page begins with it.
        blocks.insert(0, (title, False))
    regions: list[Region] = []
    offset = 0
    for text, heading in blocks:
        if heading:
            regions.append(Region(offset, SECTION, heading=text[:_HEADING_CHARS]))
        offset += len(text) + 2
    return Extracted("\n\n".join(text for text, _heading in blocks), RegionMap(regions), title)
