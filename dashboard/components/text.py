"""Untrusted text (file names, case names, notes, error messages) inside Streamlit markdown.

Streamlit renders markdown everywhere (messages, captions, progress labels), so a file named
``![x](http://tracker/p.png).jpg`` would make every viewer's browser fetch that address. Every
value a person or a file supplied goes through :func:`md` before it is shown.

Escaping is not enough for links: Streamlit's GitHub-flavoured markdown turns bare
``https://…``, ``www.…`` and ``name@host.tld`` text into clickable links after parsing, escapes or
not (checked in Chromium). A word joiner (U+2060, invisible, no width) goes where each of those
patterns would start to match, so such a name is shown as text and leads nowhere.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~$])")
# Where remark-gfm's autolink literals would begin: a protocol or "www" before a domain, and
# the domain of an e-mail address (it needs a dot: "ana@dashboard", an account, is no link).
_AUTOLINK = re.compile(
    r"(?i)(?<=https:)(?=//[-.\w])|(?<=http:)(?=//[-.\w])|(?<=www)(?=\.[-.\w])"
    r"|(?<=[-.\w+]@)(?=[-\w]+(?:\.[-\w]+)+)"
)
WORD_JOINER = "\u2060"


def md(value: object) -> str:
    """``value`` as literal text in markdown: every markdown-special character escaped."""
    escaped = _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return _AUTOLINK.sub(WORD_JOINER, escaped)
