"""Untrusted text (file names, case names, notes, error messages) inside Streamlit markdown.

Streamlit renders markdown everywhere (messages, captions, progress labels), so a file named
``![x](http://tracker/p.png).jpg`` would make every viewer's browser fetch that address. Every
value a person or a file supplied goes through :func:`md` before it is shown.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~$])")


def md(value: object) -> str:
    """``value`` as literal text in markdown: every markdown-special character escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
