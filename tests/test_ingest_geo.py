"""Shared locations are evidence (a target, a meeting point): Telegram's
locations, live locations and venues land in ``posts.extra["geo"]`` in X's
shape (``coordinates`` [lon, lat], ``place``), from Desktop JSON, Desktop HTML
(the writer's map link) and Telethon. Fixtures follow tdesktop's published JSON
and HTML writers and Telethon's ``MessageMediaGeo``/``Venue``/``GeoLive``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.helpers import post
from tests.test_ingest_telegram_html import CHAT, CID, HEAD, TAIL, message
from tests.test_ingest_telethon import CHAN
from tests.test_ingest_telethon import write as write_telethon

from rasd.ingest import ingest_path
from rasd.ingest.base import make_geo


def _desktop(tmp_path, msgs):
    d = tmp_path / "export"
    d.mkdir()
    (d / "result.json").write_text(json.dumps(
        {"name": "Chan", "type": "public_channel", "id": 5, "messages": msgs}))
    return d


def test_desktop_json_locations(store, tmp_path):
    base = {"type": "message", "date": "2024-03-01T10:00:00", "from": "Chan",
            "from_id": "channel5", "text": ""}
    msgs = [{**base, "id": 1, "location_information": {"latitude": 52.5163,
                                                         "longitude": 13.3777}},
            {**base, "id": 2, "place_name": "Central Station", "address": "Main Sq. 1",
             "location_information": {"latitude": 48.1, "longitude": 11.5}},
            {**base, "id": 3, "location_information": {"latitude": 40.0, "longitude": 29.0},
             "live_location_period_seconds": 900},
            {**base, "id": 4, "location_information": None},  # an invalid point: null
            {**base, "id": 5, "location_information": {"latitude": 95, "longitude": 0}}]
    assert ingest_path(store, _desktop(tmp_path, msgs)).rejected == 0
    g = {i: (post(store, "telegram", f"channel5/{i}").extra or {}).get("geo")
         for i in range(1, 6)}
    assert g[1] == {"coordinates": [13.3777, 52.5163]}
    assert g[2] == {"coordinates": [11.5, 48.1],
                    "place": {"full_name": "Central Station", "address": "Main Sq. 1"}}
    assert g[3] == {"coordinates": [29.0, 40.0], "live_seconds": 900}
    assert g[4] is None and g[5] is None  # not a point on Earth: nothing claimed


def test_desktop_html_locations(store, tmp_path):
    loc = ('       <div class="media_wrap clearfix">\n'
           '        <a class="media clearfix pull_left block_link media_location" '
           'href="https://maps.google.com/maps?q=52.5163,13.3777&amp;ll=52.5163,13.3777&amp;z=16">'
           '\n         <div class="fill pull_left"></div>\n         <div class="body">\n'
           '          <div class="title bold">Location</div>\n'
           '          <div class="status details">52.5163, 13.3777</div>\n'
           "         </div>\n        </a>\n       </div>\n")
    venue = ('       <div class="media_wrap clearfix">\n'
             '        <a class="media clearfix pull_left block_link media_venue" '
             'href="https://maps.google.com/maps?q=48.1,11.5&amp;ll=48.1,11.5&amp;z=16">\n'
             '         <div class="fill pull_left"></div>\n         <div class="body">\n'
             '          <div class="title bold">Central Station</div>\n'
             '          <div class="description">Main Sq. 1</div>\n'
             "         </div>\n        </a>\n       </div>\n")
    msgs = [message(7, "").replace('       <div class="text">', loc + '       <div class="text">'),
            message(8, "", date="01.03.2024 11:00:00 UTC+03:00").replace(
                '       <div class="text">', venue + '       <div class="text">')]
    d = tmp_path / "ChatExport"
    d.mkdir()
    (d / "messages.html").write_text(HEAD.format(title=CHAT) + "".join(msgs) + TAIL, "utf-8")
    assert ingest_path(store, d / "messages.html").rejected == 0
    assert post(store, "telegram", f"{CID}/7").extra["geo"] == {
        "coordinates": [13.3777, 52.5163]}
    assert post(store, "telegram", f"{CID}/8").extra["geo"] == {
        "coordinates": [11.5, 48.1],
        "place": {"full_name": "Central Station", "address": "Main Sq. 1"}}


def test_telethon_locations(store, tmp_path):
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    base = {"_": "Message", "peer_id": CHAN, "date": when, "message": ""}
    msgs = [{**base, "id": 70, "media": {"_": "MessageMediaGeo", "geo": {
                "_": "GeoPoint", "long": 13.3777, "lat": 52.5163, "access_hash": 1}}},
            {**base, "id": 71, "media": {"_": "MessageMediaVenue", "geo": {
                "_": "GeoPoint", "long": 11.5, "lat": 48.1}, "title": "Central Station",
                "address": "Main Sq. 1", "provider": "foursquare", "venue_id": "x"}},
            {**base, "id": 72, "media": {"_": "MessageMediaGeoLive", "geo": {
                "_": "GeoPoint", "long": 29.0, "lat": 40.0}, "period": 900}},
            {**base, "id": 73, "media": {"_": "MessageMediaGeo", "geo": {"_": "GeoPointEmpty"}}}]
    assert ingest_path(store, write_telethon(tmp_path, msgs)).rejected == 0
    g = {i: (post(store, "telegram", f"channel555/{i}").extra or {}).get("geo")
         for i in (70, 71, 72, 73)}
    assert g[70] == {"coordinates": [13.3777, 52.5163]}
    assert g[71]["place"] == {"full_name": "Central Station", "address": "Main Sq. 1"}
    assert g[72] == {"coordinates": [29.0, 40.0], "live_seconds": 900}
    assert g[73] is None


def test_make_geo_bounds():
    assert make_geo("52.5", "13.4") == {"coordinates": [13.4, 52.5]}
    assert make_geo(float("nan"), 1) is None and make_geo(True, 1) is None
    assert make_geo(None, None, name="x" * 1000)["place"]["full_name"] == "x" * 300
    assert make_geo(1, 2, live_seconds=-5) == {"coordinates": [2.0, 1.0]}


def test_contact_cards_are_kept_and_read(store, tmp_path):
    """A contact card posted "for brothers who want to help" may be an indicator:
    kept in posts.extra.contact from all three Telegram formats, and its name and
    number are among the words detectors read after the text."""
    from rasd.detect.scan import load_subjects

    base = {"type": "message", "date": "2024-03-01T10:00:00", "from": "Chan",
            "from_id": "channel5", "text": "Call him"}
    d = _desktop(tmp_path, [{**base, "id": 1, "contact_information": {
        "first_name": "Abu", "last_name": "Hamza", "phone_number": "+44 7700 900123"}}])
    ingest_path(store, d)
    p = post(store, "telegram", "channel5/1")
    assert p.extra["contact"] == {"name": "Abu Hamza", "phone": "+44 7700 900123"}
    sub = load_subjects(store, "post", [p.id])[0]
    assert sub.text == "Call him\n\nAbu Hamza +44 7700 900123"

    card = ('       <div class="media_wrap clearfix">\n'
            '        <div class="media clearfix pull_left media_contact">\n'
            '         <div class="fill pull_left"></div>\n         <div class="body">\n'
            '          <div class="title bold">Abu Hamza</div>\n'
            '          <div class="status details">+44 7700 900123 - vCard</div>\n'
            "         </div>\n        </div>\n       </div>\n")
    h = tmp_path / "html"
    h.mkdir()
    (h / "messages.html").write_text(HEAD.format(title=CHAT) + message(9, "").replace(
        '       <div class="text">', card + '       <div class="text">') + TAIL, "utf-8")
    ingest_path(store, h / "messages.html")
    assert post(store, "telegram", f"{CID}/9").extra["contact"] == {
        "name": "Abu Hamza", "phone": "+44 7700 900123"}

    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    f = write_telethon(tmp_path, [{"_": "Message", "id": 80, "peer_id": CHAN, "date": when,
                                   "message": "", "media": {
                                       "_": "MessageMediaContact", "phone_number": "447700900123",
                                       "first_name": "Abu", "last_name": "", "vcard": "",
                                       "user_id": 42}}])
    ingest_path(store, f)
    assert post(store, "telegram", "channel555/80").extra["contact"] == {
        "name": "Abu", "phone": "447700900123", "user_id": "user42"}
