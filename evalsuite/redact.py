"""Secrets never reach disk: one redaction applied before anything is cut, logged or stored.

Two layers:

* **known values**: a judge that reads a secret (an API key from the environment) registers
  it with :func:`register`; every occurrence of it - verbatim, JSON-escaped or URL-encoded -
  is replaced by ``***`` in whatever the run store, ``results.json``, ``samples.jsonl`` and
  error messages write;
* **shapes of secrets**, whatever their value: the value of an ``Authorization`` /
  ``Proxy-Authorization`` / ``X-Api-Key`` / ``Api-Key`` header, a ``Bearer`` token, the
  password of a ``scheme://user:password@host`` URL, and URL query parameters named like
  credentials (``key``, ``api_key``, ``token``, ``access_token``, ``signature``, ...).

Redact first, cut after: a message is cut to its display length only once redacted, so no
prefix of a secret can survive a cut.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse

MASK = "***"
_MIN_SECRET_LEN = 4  # shorter values would mask ordinary text; nobody's key is that short

_secrets: set[str] = set()
_guard = threading.Lock()

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer <x> / "authorization": "Basic <x>" / x-api-key=<x>
    (re.compile(r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key)(\"?\s*[:=]\s*\"?)"
                r"((?:bearer|basic|token|digest)\s+)?[^\s\"',;}]+"), rf"\1\2\3{MASK}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), rf"\1{MASK}"),
    (re.compile(r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|sig|signature|"
                r"password|secret|client[_-]?secret)=)[^&#\s\"'<>]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@\"'<>]+:)[^@\s/\"'<>]+@"), rf"\1{MASK}@"),
)


def register(secret: str | None) -> None:
    """Mask this value (and its escaped forms) from now on, in this process."""
    if not secret or len(secret) < _MIN_SECRET_LEN:
        return
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    with _guard:
        _secrets.update(f for f in forms if len(f) >= _MIN_SECRET_LEN)


def forget_all() -> None:
    """Drop every registered value (tests)."""
    with _guard:
        _secrets.clear()


def redact(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped value masked."""
    if not text:
        return text
    with _guard:
        known = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leftovers
    for s in known:
        if s in text:
            text = text.replace(s, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_cut(text: str, limit: int) -> str:
    """Redact, then cut to ``limit`` characters (never the other way round)."""
    text = redact(text)
    return text if len(text) <= limit else text[:limit] + "..."


def redact_obj(obj):
    """A JSON-able object with :func:`redact` applied to every string in it (keys included),
    before it is encoded: masking the encoded text could break its escapes."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(k) if isinstance(k, str) else k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj


# Every pattern above needs one of these in the text it changes (the words in any case);
# JSON encoding leaves them as they are, so a dump without any of them (and without a
# registered value's JSON form) has nothing to mask.
# Outside ASCII, case-insensitive matching has its own rules (the Kelvin sign matches k):
# there the patterns' own matcher decides.
_TRIGGERS = re.compile(r"(?i)authoriz|api-key|bearer|=|://")


def _may_hold_secret(text: str) -> bool:
    if not text.isascii():
        return _TRIGGERS.search(text) is not None
    lower = text.lower()
    return ("=" in text or "://" in text or "authoriz" in lower or "api-key" in lower
            or "bearer" in lower)


def _clean(text: str) -> bool:
    """Whether encoded ``text`` holds nothing :func:`redact` could change."""
    if _may_hold_secret(text):
        return False
    with _guard:
        known = list(_secrets)
    return not any(s in text for s in known)


def dumps(obj, **kw) -> str:
    """``json.dumps(redact_obj(obj), **kw)``, the same text, without walking ``obj`` string
    by string when its encoding shows nothing that could be masked (the common case: run
    records and samples are written once per item)."""
    text = json.dumps(obj, **kw)
    return text if _clean(text) else json.dumps(redact_obj(obj), **kw)


def line_encoder(**kw):
    """``json.JSONEncoder(**kw).encode`` for many objects in a row: the same text, with the
    C encoder ``encode`` builds on every call built once (a quarter of the cost of a short
    line). Falls back to ``encode`` itself where the C encoder is missing or ``kw`` asks for
    what it does not do (indent)."""
    enc = json.JSONEncoder(**kw)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or enc.indent is not None or not enc.check_circular:
        return enc.encode
    quote = json.encoder.encode_basestring_ascii if enc.ensure_ascii \
        else json.encoder.encode_basestring

    def build():
        return make({}, enc.default, quote, None, enc.key_separator, enc.item_separator,
                    enc.sort_keys, enc.skipkeys, enc.allow_nan)

    state = [build()]

    def encode(o) -> str:
        if isinstance(o, str):  # as JSONEncoder.encode: a bare string is quoted directly
            return quote(o)
        try:
            return "".join(state[0](o, 0))
        except BaseException:
            state[0] = build()  # a failed call may leave its circular-reference marks behind
            raise
    return encode


def dump_lines(objs, **kw) -> str:
    """``"".join(dumps(o, **kw) + "\n" for o in objs)``, the same text: one encoder for the
    batch and one look for secrets in the batch's text; only when it shows something
    maskable is each line redacted on its own."""
    objs = list(objs)
    encode = line_encoder(**kw)
    lines = [encode(o) for o in objs]
    text = "\n".join(lines)
    if not _clean(text):
        lines = [encode(redact_obj(o)) if not _clean(x) else x for o, x in zip(objs, lines)]
    return "".join(x + "\n" for x in lines)
