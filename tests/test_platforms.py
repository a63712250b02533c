"""Links to posts built from their ids (rasd.platforms.post_url)."""

from __future__ import annotations

from rasd.platforms import post_url


def test_x_links():
    assert post_url("x", "1394735776701816833", author_handle="someone") == \
        "https://x.com/someone/status/1394735776701816833"
    assert post_url("x", "1394735776701816833") == \
        "https://x.com/i/web/status/1394735776701816833"
    # a handle that is not a handle is not put into a URL
    assert post_url("x", "5", author_handle="../../evil") == "https://x.com/i/web/status/5"
    assert post_url("x", "068c7d3c89f2") is None  # a derived id (CSV without ids)


def test_telegram_links():
    assert post_url("telegram", "channel555/12", chat_handle="somechannel") == \
        "https://t.me/somechannel/12"
    assert post_url("telegram", "channel555/12") == "https://t.me/c/555/12"
    assert post_url("telegram", "chat8/1") is None and post_url("telegram", "user3/4") is None
    assert post_url("telegram", "name:Some chat/4") is None


def test_the_sources_own_link_wins():
    assert post_url("telegram", "channel1/2",
                    extra={"url": "https://t.me/realname/2"}) == "https://t.me/realname/2"
    assert post_url("x", "5", extra={"url": "javascript:alert(1)"}) == \
        "https://x.com/i/web/status/5"
    assert post_url("forum", "p1") is None
