"""redact_url and redact on keys anywhere in a URL, and their cost on hostile input of many megabytes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from retrieval.text.redaction import redact, redact_url

KEY = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"  # the shape of a Google API key
HEX_KEY = "8f14e45fceea167a5a36dedd4bea2543"  # the shape of an Azure key


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://gw.example/v1?api_key=abc", "https://gw.example/v1?api_key=***"),
        (
            f"https://gw.example/v1?api-version=2024-06-01&api-key={HEX_KEY}",
            "https://gw.example/v1?api-version=2024-06-01&api-key=***",
        ),
        (f"https://g.example/v1beta/openai/?key={KEY}", "https://g.example/v1beta/openai/?key=***"),
        ("http://h/v1?access_token=short&x=1", "http://h/v1?access_token=***&x=1"),
        (
            "http://h/v1?X-Amz-Signature=ab12&Code=9&pass=x",
            "http://h/v1?X-Amz-Signature=***&Code=***&pass=***",
        ),
        (f"http://h/v1?k={HEX_KEY}", "http://h/v1?k=***"),
        (f"http://h/v1?{HEX_KEY}", "http://h/v1?***"),
        (f"http://h/v1#access_token={HEX_KEY}", "http://h/v1#access_token=***"),
        (f"https://gw.example/keys/{HEX_KEY}/v1", "https://gw.example/keys/***/v1"),
        ("https://gw.example/sk-proj-AbCdEf0123456789xyz/v1", "https://gw.example/***/v1"),
        (f"https://{HEX_KEY}@gw.example/v1", "https://***@gw.example/v1"),
        (f"https://user:{KEY}@gw.example/v1?key={KEY}", "https://user:***@gw.example/v1?key=***"),
        ("http://a/?next=http://u:pw@b/", "http://a/?next=http://u:***@b/"),
    ],
)
def test_redact_url_hides_a_key_anywhere_in_the_url(url: str, shown: str) -> None:
    """Bad input: keys in the query string (named api_key, api-key, key, access_token, a signature, or any
    name when the value is key-shaped, or no name), in the fragment, as a path segment, as the user name, as
    the password, and a URL with a password inside another URL's query."""
    assert redact_url(url) == shown
    assert redact(url, []) == shown


@pytest.mark.parametrize(
    "url",
    [
        "https://api-inference.huggingface.co/models/meta-llama/Meta-Llama-3-8B-Instruct/v1",
        "https://res.openai.azure.com/openai/deployments/gpt-4o-2024-08-06/?api-version=2024-06-01",
        "http://h/x?id=42&page=2#section-3",
        "http://h/v1?api_key=",
        "/root/.cache/citebot/encoder-53aa51172d142c89/int8.onnx",
    ],
)
def test_redact_url_leaves_what_is_no_key_readable(url: str) -> None:
    """Bad input: model names and dates in paths, an API version, plain ids, an empty key, a cache path."""
    assert redact_url(url) == url


def test_keys_in_urls_inside_messages_and_links() -> None:
    """Bad input: an error message and a Slack link that quote endpoint URLs with keys in three places."""
    text = (
        f'cannot reach "http://u:{KEY}@h:8000/v1?api_key={HEX_KEY}" or '
        f"<https://gw.example/keys/{HEX_KEY}/v1|the gateway>"
    )
    assert redact(text, []) == (
        'cannot reach "http://u:***@h:8000/v1?api_key=***" or <https://gw.example/keys/***/v1|the gateway>'
    )


MB = 1_000_000
SHAPES: dict[str, Callable[[int], str]] = {
    "one run of letters": lambda n: "a" * n,
    "letters and colons": lambda n: "a:" * (n // 2),
    "a scheme-like run with no ://": lambda n: "sk-" * (n // 3),
    "one URL, no credentials": lambda n: "http://" + "a" * n,
    "one URL, a password with no @": lambda n: "http://u:" + "p" * n,
    "one URL, a huge query": lambda n: "http://h/v1?" + "a=b&" * (n // 4),
    "a path of short segments": lambda n: "http://h/" + "x/" * (n // 2),
    "many URLs with passwords": lambda n: "http://u:p@h " * (n // 13),
    "many query keys": lambda n: "://h?key=v " * (n // 11),
    "a bearer then spaces": lambda n: "Bearer " + " " * n,
    "only ://": lambda n: "://" * (n // 3),
}


def _seconds(text: str) -> float:
    """This process's CPU seconds for one redaction (other processes on a shared machine do not count)."""
    began = time.process_time()
    redact(text, ["some-configured-secret"])
    return time.process_time() - began


@pytest.mark.parametrize("shape", SHAPES)
def test_redaction_is_linear_at_ten_megabytes(shape: str) -> None:
    """Bad input: 10 MB strings shaped against each pattern (the URL password pattern used to be quadratic:
    80 KB of letters took 21 s). 10 MB must cost about ten times 1 MB in CPU time, not the hundred times a
    quadratic pattern costs (under 30 times: the slack is for caches on a busy machine); the faster of three
    runs of each is compared."""
    make = SHAPES[shape]
    small, large = make(MB), make(10 * MB)
    one = min(_seconds(small) for _ in range(3))
    ten = min(_seconds(large) for _ in range(3))
    assert ten / max(one, 1e-3) < 30, f"{shape}: 1 MB {one:.3f} s, 10 MB {ten:.3f} s"
