"""Citations checked without citebot's loader: quotes against text_path, and PDF quotes on the page named."""

from __future__ import annotations

import re
import unicodedata

from retrieval.types import Citation

_PAGE_RANGE = re.compile(r"^pages (\d+)-(\d+)$")


def squash(text: str) -> str:
    """Text with whitespace, hyphens and soft hyphens gone, so a line or page break cannot matter."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s\-\u00ad\u2010\u2011\ufffe\x02]+", "", text)


class PageText:
    """Each PDF page's text read independently of citebot's loader (pypdfium2's own text), squashed."""

    def __init__(self) -> None:
        self._pages: dict[str, list[str]] = {}

    def pages(self, pdf: str) -> list[str]:
        """The PDF's pages, squashed, read once."""
        if pdf not in self._pages:
            import pypdfium2

            document = pypdfium2.PdfDocument(pdf)
            self._pages[pdf] = [squash(page.get_textpage().get_text_range()) for page in document]
        return self._pages[pdf]

    def holds(self, citation: Citation) -> bool:
        """Whether the quote is on the page the citation names, or in order across the range it names.

        A quote over a page break is checked part by part (citebot's text puts a paragraph break between
        pages), since the PDF's own page text has the footer and the next page's header between the parts.
        """
        if citation.page is None:
            return False
        first = last = citation.page
        if spans := _PAGE_RANGE.match(citation.location):
            first, last = int(spans[1]), int(spans[2])
        pages = self.pages(citation.path)
        if first != citation.page or not 1 <= first <= last <= len(pages):
            return False
        parts = [squash(part) for part in citation.quote.split("\n\n") if squash(part)]
        if first == last:
            return "".join(parts) in pages[first - 1]
        at = first
        for part in parts:
            while at <= last and part not in pages[at - 1]:
                at += 1
            if at > last:
                return False
        return parts[0] in pages[first - 1] and parts[-1] in pages[last - 1]

    def found_on(self, citation: Citation) -> list[int]:
        """The pages that hold the whole quote (for a citation that names another)."""
        quote = squash(citation.quote)
        return [n for n, page in enumerate(self.pages(citation.path), start=1) if quote in page]


class Verifier:
    """Checks citations against their text_path, reading each text once."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def verifies(self, citation: Citation) -> bool:
        """Whether text_path's text[start:end] is the quote, exactly."""
        if citation.text_path not in self._texts:
            with open(citation.text_path, encoding="utf-8", newline="") as handle:
                self._texts[citation.text_path] = handle.read()
        return self._texts[citation.text_path][citation.start : citation.end] == citation.quote
