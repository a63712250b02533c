"""What rasd knows of each platform beyond its name: how to link to a post.

A reviewer opens the post; a referral or a removal order (TCO Art. 3, Annex I
section B) must name its exact URL. Collected data rarely carries that URL, so it
is built from the ids: X resolves ``/i/web/status/<id>`` for any post, Telegram
``t.me/<channel username>/<message id>`` for public channels and
``t.me/c/<channel id>/<message id>`` for members of private ones. A URL given by
the source itself (a CSV's ``msg_link``, kept in ``extra.url``) wins.
"""

from __future__ import annotations

import re
from typing import Any

# A platform's name as the store keeps it (``x``, ``telegram``, ``forum-a``):
# lower case, at most 32 characters.
PLATFORM_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_TG_POST = re.compile(r"^channel(\d{1,20})/(\d{1,20})$")


def post_url(platform: str, platform_id: str, *, author_handle: str | None = None,
             chat_handle: str | None = None, extra: dict[str, Any] | None = None) -> str | None:
    """The public address of a post, or None when the ids cannot give one.

    ``author_handle``: the author's username (X); ``chat_handle``: the public
    username of the Telegram channel or group the post is in; ``extra``: the
    post's ``extra`` (a ``url`` there is the source's own link)."""
    given = (extra or {}).get("url")
    if isinstance(given, str) and given.startswith(("https://", "http://")):
        return given
    if platform == "x" and platform_id.isdigit():
        if author_handle and _HANDLE.match(author_handle):
            return f"https://x.com/{author_handle}/status/{platform_id}"
        return f"https://x.com/i/web/status/{platform_id}"
    if platform == "telegram":
        m = _TG_POST.match(platform_id)
        if m is None:
            return None
        if chat_handle and _HANDLE.match(chat_handle):
            return f"https://t.me/{chat_handle}/{m.group(2)}"
        return f"https://t.me/c/{m.group(1)}/{m.group(2)}"
    return None
