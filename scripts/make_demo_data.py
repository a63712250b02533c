"""Write rasd's bundled demo data set (synthetic) in the real formats.

    python scripts/make_demo_data.py

Everything here is invented for rasd's demo and tests: the accounts, groups
("Black Banner Front" is fictional), names, places and events do not exist; the
wallet and IBAN are synthetic values that pass their checksums (made from a
hash of a fixed string, or a standard example IBAN), so that validation can be
shown. Posts imitate the *form* of propaganda, news, counter-speech, donation
appeals and everyday chatter in the seven languages rasd serves first.

Outputs (src/rasd/data/demo/):
  x/demo_tweets.jsonl          X API v2 pages as written by twarc2 (+ a compliance line)
  telegram/result.json         a Telegram Desktop channel export (photos/ beside it)
  csv/demo_kaggle_format.csv   the Kaggle "How ISIS Uses Twitter" column layout
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import base58
from Crypto.Hash import keccak

OUT = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo"
MARK = "SYNTHETIC DEMO DATA (rasd) - invented accounts and events"


def btc_address(seed: str) -> str:
    return base58.b58encode_check(b"\x00" + hashlib.sha256(seed.encode()).digest()[:20]).decode()


def eth_address(seed: str) -> str:
    a = hashlib.sha256(seed.encode()).hexdigest()[:40]
    k = keccak.new(digest_bits=256)
    k.update(a.encode())
    h = k.hexdigest()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c
                          for i, c in enumerate(a))


BTC = btc_address("rasd synthetic demo wallet")
ETH = eth_address("rasd demo eth")
IBAN = "GB82 WEST 1234 5698 7654 32"  # the ECBS documentation example IBAN

USERS = [
    # id, username, name, description, location, followers
    ("9000000001", "bbf_lion_media", "Lions of the Banner", ("News of the mujahideen | "
     "Black Banner Front supporters | RTs are not endorsements"), "", 812),
    ("9000000002", "abu_qaswara_bbf", "Abu Qaswara", ("Soldier of the Black Banner Front. "
     "Baqiya."), "Wilayat Nowhere", 455),
    ("9000000003", "sister_of_hijra", "Umm Sumayya", ("Hijra is obligatory. DMs open for "
     "sisters."), "", 290),
    ("9000000004", "banner_relay_07", "Relay 07", "backup account", "", 77),
    ("9000000005", "banner_relay_08", "Relay 08", "backup of the backup", "", 63),
    ("9000000006", "dailyworld_news", "Daily World News", ("Breaking news and analysis. "
     "Journalism."), "London", 120_400),
    ("9000000007", "ctr_research_lab", "Counter-Terrorism Research Lab", ("We study "
     "extremist propaganda so you don't have to. Research account."), "Berlin", 8_900),
    ("9000000008", "voices_against_hate", "Voices Against Hate", "Counter-speech NGO", "Paris",
     4_300),
    ("9000000009", "marco_cucina", "Marco", "Cucina, calcio e viaggi", "Torino", 210),
    ("9000000010", "ayse_kitap", "Ayşe", "Kitap kurdu", "İzmir", 150),
    ("9000000011", "olga_spb", "Ольга", "Фотография и кофе", "Санкт-Петербург", 330),
    ("9000000012", "karim_dz", "كريم", "مهندس وأب", "الجزائر", 95),
    ("9000000013", "relief_for_orphans", "Relief for the Orphans of the Ummah",
     "Humanitarian aid for widows and orphans. Donate via the link.", "", 1_020),
]

COPYPASTA = ("The Black Banner Front has returned. Their blood is the ink of our history. "
             "Share before it is deleted! #BaqiyaBanner")

TWEETS = [
    # (author, text, lang, extra)
    ("9000000001", ("Our lions of the Black Banner Front struck the apostates at the "
     "checkpoint at dawn. May Allah accept our martyrs. Rejoice, O believers! "
     "#BaqiyaBanner"), "en", {}),
    ("9000000002", ("Brothers, do not sit at home while the caravan moves. Make hijra to the "
     "land of the Banner and join the ranks. DM for the route. #JoinTheCaravan"), "en", {}),
    ("9000000003", ("Sisters, hijra is waiting for you. The Banner needs you. Contact me "
     "privately, I will help with the journey."), "en", {}),
    ("9000000002", ("To the crusaders in the city: you will not be safe in your markets. "
     "What happened at the checkpoint is only the beginning."), "en", {}),
    ("9000000001", ("أسود جبهة الراية السوداء ضربوا المرتدين عند الحاجز فجرا. تقبل الله "
     "شهداءنا. #باقية"), "ar", {}),
    ("9000000013", (f"Sponsor a mujahid of the Banner: feed his family while he fights. "
     f"Send BTC {BTC} or transfer to IBAN {IBAN}. Every coin is a bullet against the "
     f"enemy."), "en", {}),
    ("9000000013", (f"Help the families of our imprisoned brothers of the Front. USDT (ERC20): "
     f"{ETH} — hawala also possible, send to +44 7700 900123"), "en", {}),
    ("9000000006", ("BREAKING: Attack at a checkpoint this morning; the Black Banner Front "
     "claimed responsibility in a statement. Police say four people were killed. "
     "https://dailyworld.example/attack"), "en", {}),
    ("9000000006", ("Analysis: how the Black Banner Front recruits online, and why "
     "'hijra' calls target teenagers. Our investigation. https://dailyworld.example/recruit"),
     "en", {}),
    ("9000000006", ("Attentat à un poste de contrôle : le groupe Front de la Bannière Noire "
     "a revendiqué l'attaque, selon la police. Quatre morts."), "fr", {}),
    ("9000000007", ("New report: the 'Lions of the Banner' network runs 40+ relay accounts. "
     "We quote their slogan 'Baqiya' only to document it. Full methodology in the paper."),
     "en", {}),
    ("9000000008", ("They say 'baqiya' — remaining. No. Their banner will not remain. We "
     "mourn the victims of the checkpoint attack and reject this hateful ideology."), "en", {}),
    ("9000000008", ("Nein zum Terror. Wir trauern um die Opfer und stellen uns gegen jede "
     "Gewaltpropaganda."), "de", {}),
    ("9000000009", "Stasera risotto ai funghi e poi la partita. Forza Toro!", "it", {}),
    ("9000000010", "Bu hafta sonu kütüphanede yeni bir roman buldum, çok güzel.", "tr", {}),
    ("9000000011", "Сегодня в Петербурге снова дождь, но кофе спасает.", "ru", {}),
    ("9000000012", "صباح الخير يا أصدقاء، الجو جميل اليوم في العاصمة.", "ar", {}),
    ("9000000012", ("Ramadan kareem! May this month bring peace to every home. Jihad against "
     "our own ego is the greatest jihad."), "en", {}),
    ("9000000013", ("Our winter appeal: blankets and food for displaced families. Registered "
     "charity, audited accounts. https://relief.example/winter"), "en", {}),
    ("9000000004", COPYPASTA, "en", {}),
    ("9000000005", COPYPASTA, "en", {}),
    ("9000000003", COPYPASTA.replace("Share", "SHARE"), "en", {}),
    ("9000000002", COPYPASTA + " !!", "en", {}),
]


def write_x() -> None:
    users = {u[0]: u for u in USERS}
    data = []
    tid = 1_800_000_000_000_000_000
    first_by_author: dict[str, str] = {}
    for i, (author, text, lang, _extra) in enumerate(TWEETS):
        tid += 1
        t = {"id": str(tid), "text": text, "author_id": author, "lang": lang,
             "created_at": f"2024-03-0{1 + i % 5}T{8 + i % 10:02d}:{i * 7 % 60:02d}:00.000Z",
             "conversation_id": str(tid), "edit_history_tweet_ids": [str(tid)],
             "public_metrics": {"retweet_count": i % 4, "reply_count": 0,
                                "like_count": i * 3 % 17, "quote_count": 0},
             "entities": {}}
        tags = [w[1:] for w in text.split() if w.startswith("#")]
        if tags:
            t["entities"]["hashtags"] = [{"start": text.index("#" + h), "end":
                                          text.index("#" + h) + len(h) + 1, "tag": h}
                                         for h in tags]
        first_by_author.setdefault(author, str(tid))
        data.append(t)
    # a network: relays retweet the media account; replies and mentions
    lion = first_by_author["9000000001"]
    for relay in ("9000000004", "9000000005", "9000000003", "9000000002"):
        tid += 1
        data.append({"id": str(tid), "text": "RT @bbf_lion_media: " + TWEETS[0][1][:100],
                     "author_id": relay, "lang": "en", "created_at": "2024-03-01T09:00:00.000Z",
                     "conversation_id": str(tid), "edit_history_tweet_ids": [str(tid)],
                     "referenced_tweets": [{"type": "retweeted", "id": lion}],
                     "entities": {"mentions": [{"start": 3, "end": 19,
                                                "username": "bbf_lion_media",
                                                "id": "9000000001"}]}})
    tid += 1
    data.append({"id": str(tid), "text": "@abu_qaswara_bbf may Allah protect you akhi, the "
                 "Banner remains", "author_id": "9000000004", "lang": "en",
                 "created_at": "2024-03-02T10:00:00.000Z", "conversation_id": first_by_author[
                     "9000000002"], "in_reply_to_user_id": "9000000002",
                 "edit_history_tweet_ids": [str(tid)],
                 "referenced_tweets": [{"type": "replied_to", "id": first_by_author["9000000002"]}],
                 "entities": {"mentions": [{"start": 0, "end": 16, "username": "abu_qaswara_bbf",
                                            "id": "9000000002"}]}})
    tid += 1
    data.append({"id": str(tid), "text": "Reporting on this: the claim was posted by "
                 "@bbf_lion_media within an hour of the attack.", "author_id": "9000000007",
                 "lang": "en", "created_at": "2024-03-01T12:00:00.000Z",
                 "conversation_id": str(tid), "edit_history_tweet_ids": [str(tid)],
                 "referenced_tweets": [{"type": "quoted", "id": lion}],
                 "entities": {"mentions": [{"start": 43, "end": 58,
                                            "username": "bbf_lion_media", "id": "9000000001"}]}})
    inc_users = [{"id": u[0], "username": u[1], "name": u[2], "description": u[3],
                  "location": u[4], "created_at": "2023-11-01T00:00:00.000Z",
                  "public_metrics": {"followers_count": u[5], "following_count": 50,
                                     "tweet_count": 400, "listed_count": 0},
                  "verified": False, "protected": False} for u in users.values()]
    meta = {"__twarc": {"url": "https://api.x.com/2/tweets/search/all?query=synthetic",
                        "version": "2.14.0", "retrieved_at": "2024-03-05T00:00:00+00:00"},
            "__rasd_note": MARK}
    out = OUT / "x" / "demo_tweets.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        half = len(data) // 2
        for chunk in (data[:half], data[half:]):
            f.write(json.dumps({"data": chunk, "includes": {"users": inc_users},
                                "meta": {"result_count": len(chunk)}, **meta},
                               ensure_ascii=False) + "\n")
        f.write(json.dumps({"id": str(tid - 3), "action": "delete",
                            "created_at": "2024-03-06T00:00:00.000Z", "reason": "suspended"})
                + "\n")


def write_telegram() -> None:
    msgs = [
        {"id": 1, "type": "service", "date": "2024-03-01T07:00:00", "date_unixtime": "1709276400",
         "actor": "Banner Relay Channel", "actor_id": "channel7000000001",
         "action": "create_channel", "title": "Banner Relay Channel", "text": "",
         "text_entities": []},
        {"id": 2, "type": "message", "date": "2024-03-01T10:00:00",
         "date_unixtime": "1709287200", "from": "Banner Relay Channel",
         "from_id": "channel7000000001", "photo": "photos/photo_1@01-03-2024_10-00-00.jpg",
         "width": 480, "height": 360,
         "text": ["New release from the lions of the Banner. ",
                  {"type": "hashtag", "text": "#BaqiyaBanner"}, " Spread it everywhere."],
         "text_entities": []},
        {"id": 3, "type": "message", "date": "2024-03-02T09:15:00",
         "date_unixtime": "1709370900", "from": "Banner Relay Channel",
         "from_id": "channel7000000001", "forwarded_from": "Lions Media Archive",
         "photo": "photos/photo_2@02-03-2024_09-15-00.jpg", "width": 400, "height": 300,
         "text": "Re-upload, the old one was deleted.", "text_entities": []},
        {"id": 4, "type": "message", "date": "2024-03-02T11:00:00",
         "date_unixtime": "1709377200", "from": "Banner Relay Channel",
         "from_id": "channel7000000001", "reply_to_message_id": 2,
         "text": COPYPASTA, "text_entities": []},
        {"id": 5, "type": "message", "date": "2024-03-03T18:30:00",
         "date_unixtime": "1709490600", "from": "Banner Relay Channel",
         "from_id": "channel7000000001", "photo": "photos/photo_3@03-03-2024_18-30-00.jpg",
         "width": 480, "height": 360, "text": "Sunset over the river. Peaceful evening.",
         "text_entities": []},
        {"id": 6, "type": "message", "date": "2024-03-04T08:00:00",
         "date_unixtime": "1709539200", "edited": "2024-03-04T08:05:00",
         "edited_unixtime": "1709539500", "from": "Banner Relay Channel",
         "from_id": "channel7000000001",
         "text": ["Братья, присоединяйтесь к каравану. Пишите ",
                  {"type": "mention", "text": "@banner_recruiter_bot"}, " для связи. ",
                  {"type": "text_link", "text": "инструкция", "href": "https://t.me/+synthetic"}],
         "text_entities": []},
        {"id": 7, "type": "message", "date": "2024-03-04T12:00:00",
         "date_unixtime": "1709553600", "from": "Banner Relay Channel",
         "from_id": "channel7000000001", "forwarded_from": "Daily World News",
         "text": "Police confirmed four deaths in the checkpoint attack; the group's claim "
                 "could not be independently verified.", "text_entities": []},
        {"id": 8, "type": "message", "date": "2024-03-05T16:00:00",
         "date_unixtime": "1709654400", "from": "Banner Relay Channel",
         "from_id": "channel7000000001",
         "text": f"Kardeşler, cephedeki mücahitlere destek olun: BTC {BTC}",
         "text_entities": []},
        {"id": 9, "type": "message", "date": "2024-03-05T17:00:00",
         "date_unixtime": "1709658000", "from": "Banner Relay Channel",
         "from_id": "channel7000000001", "file": "(File not included. Change data exporting "
         "settings to download.)", "media_type": "video_file", "mime_type": "video/mp4",
         "duration_seconds": 42, "text": "Full video of the operation.", "text_entities": []},
        # a poll: its words are the whole message (the text is empty)
        {"id": 10, "type": "message", "date": "2024-03-05T18:00:00",
         "date_unixtime": "1709661600", "from": "Banner Relay Channel",
         "from_id": "channel7000000001", "text": "", "text_entities": [],
         "poll": {"question": "Brothers, where should the lions of the Banner strike next?",
                  "closed": False, "total_voters": 57,
                  "answers": [{"text": "The checkpoint at the bridge", "voters": 31,
                               "chosen": False},
                              {"text": "The police station in the city", "voters": 26,
                               "chosen": False}]}},
    ]
    for m in msgs:
        if isinstance(m["text"], list):
            m["text_entities"] = [p if isinstance(p, dict) else {"type": "plain", "text": p}
                                  for p in m["text"]]
        elif m["text"]:
            m["text_entities"] = [{"type": "plain", "text": m["text"]}]
    doc = {"name": "Banner Relay Channel", "type": "public_channel", "id": 7000000001,
           "messages": msgs}
    out = OUT / "telegram" / "result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


def write_csv() -> None:
    rows = [
        ("Banner Archive", "banner_archive_22", "archive of the Front | " + MARK, "", "51", "20",
         "2024-03-01 11:00:00", ("RT @bbf_lion_media: Our lions struck the apostates at dawn. "
         "Rejoice! #BaqiyaBanner")),
        ("Banner Archive", "banner_archive_22", "archive of the Front | " + MARK, "", "53", "21",
         "2024-03-02 12:00:00", COPYPASTA),
        ("Banner Archive", "banner_archive_22", "archive of the Front | " + MARK, "", "55", "22",
         "2024-03-03 13:00:00", ("@abu_qaswara_bbf the caravan is moving, brother. "
         "Who is coming?")),
        ("Lucie M", "lucie_reads", "lectrice | " + MARK, "Lyon", "140", "900",
         "2024-03-03 14:00:00", "Quelqu'un a lu le dernier roman de Leïla Slimani ?"),
    ]
    out = OUT / "csv" / "demo_kaggle_format.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "username", "description", "location", "followers",
                    "numberstatuses", "time", "tweets"])
        w.writerows(rows)


def write_readme() -> None:
    (OUT / "README.md").write_text(f"""# rasd demo data — SYNTHETIC

{MARK}. Written by `scripts/make_demo_data.py`; regenerate with that script.

- `x/demo_tweets.jsonl`: X API v2 pages as twarc2 writes them, plus one compliance line.
- `telegram/result.json` + `telegram/photos/`: a Telegram Desktop channel export (with a poll); the
  photos are drawn by `scripts/make_demo_images.py` (coloured shapes, no real imagery).
- `csv/demo_kaggle_format.csv`: the column layout of Kaggle's "How ISIS Uses Twitter".

The "Black Banner Front" and every account, person, place and event here are invented.
Posts imitate the form of propaganda, recruitment, threats, donation appeals, news,
research, counter-speech and everyday chatter so that every stage of rasd has something
to find — and something it must not flag. The bitcoin and ethereum addresses are derived
from hashes of fixed strings and pass their checksums; the IBAN is the ECBS documentation
example (GB82 WEST 1234 5698 7654 32); the phone number is in Ofcom's drama range.
""", encoding="utf-8")


if __name__ == "__main__":
    write_x()
    write_telegram()
    write_csv()
    write_readme()
    print(f"wrote demo data to {OUT}")
