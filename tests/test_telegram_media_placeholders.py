"""Telegram Desktop media that were not downloaded: the export writes a placeholder
where a path would be (``"(File exceeds maximum size. …)"``); it is a reason kept,
never a path looked for, and the document's own name and size are kept."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select
from tests.test_ingest_telegram import _msg, channel_export
from tests.test_ingest_telegram_html import html_export, message

from rasd.ingest import ingest_path
from rasd.ingest.base import RawSink, get_parser
from rasd.ingest.telegram import media_placeholder
from rasd.model import Post
from rasd.store import schema as S

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
TOO_BIG = "(File exceeds maximum size. Change data exporting settings to download.)"
UNAVAILABLE = "(File unavailable, please try again later)"
ODD = "(File gone somewhere new. A later Desktop may say this.)"

PLACEHOLDERS = [(NOT_INCLUDED, "not included"), (TOO_BIG, "exceeds maximum size"),
                (UNAVAILABLE, "unavailable"), (ODD, ODD)]


def _media(store) -> dict:
    with store.connect() as c:
        return {r.media_key: r for r in c.execute(select(S.media))}


@pytest.mark.parametrize(("value", "reason"), PLACEHOLDERS)
def test_placeholder_reasons(value, reason):
    assert media_placeholder(value) == reason


@pytest.mark.parametrize("value", ["files/report.pdf", "photos/photo_1@01-05-2024.jpg",
                                   "", "(File not included", "files/(File x).pdf",
                                   None, 12, ["(File not included.)"]])
def test_paths_and_other_values_are_no_placeholder(value):
    assert media_placeholder(value) is None


def test_an_unknown_placeholder_is_kept_bounded_and_clean():
    long = "(File " + "x\x00" * 300 + ")"
    why = media_placeholder(long)
    assert why is not None and len(why) == 200 and "\x00" not in why and "\ufffd" in why


def test_each_placeholder_gives_media_without_a_path(store, tmp_path):
    msgs = []
    for i, (value, _) in enumerate(PLACEHOLDERS):
        msgs.append(_msg(10 + i, f"doc {i}", file=value, file_name=f"leak {i}.pdf",
                         file_size=1_000_000 + i, mime_type="application/pdf"))
        msgs.append(_msg(20 + i, f"photo {i}", photo=value, photo_file_size=5000 + i,
                         width=800, height=600))
    d = channel_export(tmp_path, msgs)
    # a file named as a placeholder, where the export's files lie: never taken for one
    for value, _ in PLACEHOLDERS:
        (d / value).write_bytes(b"not the media")
    rep = ingest_path(store, d)
    assert rep.rejected == 0
    media = _media(store)
    for i, (_, reason) in enumerate(PLACEHOLDERS):
        doc = media[f"channel555/{10 + i}/file"]
        assert doc.local_path is None and doc.type == "file"
        assert doc.mime_type == "application/pdf"
        assert doc.extra == {"not_downloaded": reason, "file_name": f"leak {i}.pdf",
                             "file_size": 1_000_000 + i}
        photo = media[f"channel555/{20 + i}/photo"]
        assert photo.local_path is None and photo.type == "photo"
        assert (photo.width, photo.height) == (800, 600)
        assert photo.extra == {"not_downloaded": reason, "file_size": 5000 + i}


def test_placeholders_in_a_zipped_export_name_no_member(store, tmp_path):
    import zipfile

    from rasd.ingest.archive import member_stream

    d = channel_export(tmp_path, [_msg(2, "big", file=TOO_BIG, file_name="big.mp4",
                                       media_type="video_file"),
                                  _msg(3, "kept", photo="photos/photo_1.jpg")])
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(d.rglob("*")):
            z.write(p, f"ChatExport/{p.relative_to(d)}")
        z.writestr(f"ChatExport/{TOO_BIG}", b"not the media")
    rep = ingest_path(store, member_stream(archive, "ChatExport/result.json"))
    assert rep.rejected == 0
    media = _media(store)
    big = media["channel555/2/file"]
    assert big.type == "video_file" and big.local_path is None
    assert big.extra == {"not_downloaded": "exceeds maximum size", "file_name": "big.mp4"}
    kept = media["channel555/3/photo"]
    assert kept.local_path == f"{archive.resolve()}!/ChatExport/photos/photo_1.jpg"


def test_a_downloaded_file_keeps_its_path_name_and_size(sqlite_store, tmp_path):
    d = channel_export(tmp_path, [
        _msg(2, "doc", file="files/report.pdf", file_name="report.pdf", file_size="2,048"),
        _msg(3, "photo", photo="photos/photo_1.jpg", photo_file_size=9)])
    (d / "files").mkdir()
    (d / "files" / "report.pdf").write_bytes(b"%PDF-1.4")
    rep = ingest_path(sqlite_store, d)
    assert rep.rejected == 0
    media = _media(sqlite_store)
    doc = media["channel555/2/file"]
    assert doc.local_path == str((d / "files" / "report.pdf").resolve())
    assert doc.extra == {"relative_path": "files/report.pdf", "file_name": "report.pdf",
                         "file_size": 2048}
    photo = media["channel555/3/photo"]
    assert photo.local_path == str((d / "photos" / "photo_1.jpg").resolve())
    assert photo.extra == {"relative_path": "photos/photo_1.jpg", "file_size": 9}


def test_file_name_is_bounded_and_cleaned(tmp_path):
    d = channel_export(tmp_path, [_msg(2, "doc", file=NOT_INCLUDED,
                                       file_name="a\x00b" + "c" * 400, file_size=None),
                                  _msg(3, "empty name", file=NOT_INCLUDED, file_name="")])
    recs = [r for r in get_parser("telegram").parse(d, RawSink()) if isinstance(r, Post)]
    first, second = (p.media[0] for p in recs)
    assert first.extra["file_name"] == ("a\ufffdb" + "c" * 400)[:300]
    assert "file_size" not in first.extra and first.local_path is None
    assert second.extra == {"not_downloaded": "not included"}


@pytest.mark.parametrize(("fields", "field"), [
    ({"file": TOO_BIG, "file_size": "huge"}, "file_size"),
    ({"file": "files/x.pdf", "file_size": [1]}, "file_size"),
    ({"file": UNAVAILABLE, "file_size": True}, "file_size"),
    ({"file": NOT_INCLUDED, "file_name": {"name": "x"}}, "file_name"),
    ({"file": NOT_INCLUDED, "file_name": False}, "file_name"),
    ({"photo": TOO_BIG, "photo_file_size": "big"}, "photo_file_size"),
])
def test_a_wrong_type_rejects_the_message_naming_the_field(sqlite_store, tmp_path, fields,
                                                           field):
    d = channel_export(tmp_path, [_msg(2, "before", file=NOT_INCLUDED, file_name="a.pdf"),
                                  _msg(3, "bad", **fields), _msg(4, "after")])
    rep = ingest_path(sqlite_store, d)
    assert rep.rejected == 1
    assert rep.rejects[0]["field"] == field and field in rep.rejects[0]["reason"]
    assert rep.rejects[0]["path"] == "channel555.messages[1]"
    assert sqlite_store.stats()["posts"] == 2
    assert set(_media(sqlite_store)) == {"channel555/2/file"}


def _missing_video(mid: int, status: str) -> str:
    box = ('       <div class="media_wrap clearfix">\n'
           '        <div class="media clearfix pull_left media_video">\n'
           '         <div class="fill pull_left"></div>\n         <div class="body">\n'
           '          <div class="title bold">Video file</div>\n'
           f'          <div class="status details">{html.escape(status)}</div>\n'
           "         </div>\n        </div>\n       </div>\n")
    return message(mid, f"video {mid}").replace('       <div class="text">', box +
                                               '       <div class="text">', 1)


@pytest.mark.parametrize(("status", "reason"), [
    ("Not included, change data exporting settings to download.", "not included"),
    ("Exceeds maximum size, change data exporting settings to download.",
     "exceeds maximum size"),
    ("Unavailable, please try again later.", "unavailable"),
])
def test_html_export_keeps_why_a_file_is_missing(sqlite_store, tmp_path, status, reason):
    d = html_export(tmp_path, [[_missing_video(2, status), _missing_video(3, "1.2 MB")]])
    rep = ingest_path(sqlite_store, d / "messages.html")
    assert rep.rejected == 0
    media = {k.rsplit("/", 2)[1]: m for k, m in _media(sqlite_store).items()}
    assert media["2"].type == "video" and media["2"].local_path is None
    assert media["2"].extra == {"not_included": True, "not_downloaded": reason}
    assert media["3"].extra == {"not_included": False}
