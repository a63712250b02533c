"""Donation appeals (issue 5 §2) in the 7 languages, with the hard negatives from
POLICY.md. All texts were written for these tests; the wallets are public test
vectors, the IBAN is the ISO 13616 documentation example."""

from __future__ import annotations

import pytest

from rasd.detect.finance.appeals import assess
from rasd.detect.finance.indicators import extract

FINANCING = [
    ("en", "Sponsor a mujahid for $100 a month. BTC: 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("ar", ("الجهاد بالمال: تبرعوا لتجهيز المجاهدين عبر USDT TRC20: "
           "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")),
    ("fr", ("Faites un don pour les familles des prisonniers de l'État islamique : "
           "paypal.me/soutien-freres")),
    ("de", ("Spendet für Waffen und Munition für die Brüder an der Front! "
           "IBAN DE89 3704 0044 0532 0130 00")),
    ("it", ("Donate per le armi dei fratelli al fronte: "
           "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")),
    ("tr", "Cephedeki mücahitlere bağış yapın: BTC bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
    ("ru", "Поддержите моджахедов, переведите на оружие: +7 912 345-67-89"),
]

NONE = [
    ("relief appeal", "Donate to our winter appeal for displaced families: paypal.me/relief-org"),
    ("charity news fr", ("Cinq personnes mises en examen pour avoir financé le Hamas via deux "
                        "associations humanitaires, selon le parquet.")),
    ("charity news en", ("Five people were charged in France with channelling money to Hamas "
                        "through two charities under the cover of humanitarian aid.")),
    ("news ar", "أفادت النيابة بأن المتهمين جمعوا تبرعات لتنظيم داعش عبر جمعيات خيرية"),
    ("counter-speech", ("Do not donate to 'sponsor a mujahid' pages, they are a scam: "
                       "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")),
    ("religious vocabulary", ("The greatest jihad is against the ego; give zakat to the poor "
                             "this Ramadan.")),
    ("de relief", "Spendet für die Opfer des Erdbebens: DE89 3704 0044 0532 0130 00"),
    ("ru chatter", "Переведите мне деньги за кофе на +7 912 345-67-89"),
    ("army fundraiser", "Поддержите наших бойцов, сбор на дроны: +7 912 345-67-89"),
    ("combat sport", "Donate to support our fighters at the tournament: paypal.me/clubfight"),
    ("it soldiers", "Donate per i combattenti feriti: paypal.me/ospedale"),
]


@pytest.mark.parametrize("lang,text", FINANCING, ids=[x[0] for x in FINANCING])
def test_financing_fires_with_indicator(lang, text):
    inds = extract(text)
    a = assess(text, inds)
    assert a.label == "financing", (lang, a.reasons, a.cues)
    assert 0.5 < a.score <= 0.98
    assert any(i.valid for i in inds), lang
    assert any(r.startswith("payment channel") for r in a.reasons)


@pytest.mark.parametrize("name,text", NONE, ids=[x[0] for x in NONE])
def test_hard_negatives_stay_none(name, text):
    a = assess(text, extract(text))
    assert a.label == "none", (name, a.reasons, a.cues)
    assert a.reasons  # says why


def test_humanitarian_cover_with_designated_tie():
    text = ("Help the orphans and widows: donate to the Islamic State's charity office, "
            "USDT ERC20 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    a = assess(text, extract(text))
    assert a.label == "financing" and a.humanitarian_cover
    # the same appeal without the group tie is a relief appeal
    plain = text.replace("the Islamic State's", "our")
    assert assess(plain, extract(plain)).label == "none"


def test_entity_from_lists_is_a_tie():
    text = "Donate for the orphans of Nusrat al-Fuqara: BTC 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    assert assess(text, extract(text)).label == "none"
    ent = [{"name": "NUSRAT AL-FUQARA", "list": "syn", "list_ref": "X1", "programme": "SDGT"}]
    a = assess(text, extract(text), entities=ent)
    assert a.label == "financing" and a.humanitarian_cover
    assert any("NUSRAT AL-FUQARA" in r for r in a.reasons)


def test_generic_fighters_need_a_group_tie():
    text = "Send money for weapons for the fighters of ISIS: paypal.me/abc"
    assert assess(text, extract(text)).label == "financing"
    assert assess(text.replace("of ISIS", "of our club"),
                  extract(text)).label == "none"


def test_news_role_without_channel_is_exempt():
    text = "The group's channel urged followers to sponsor a mujahid."
    assert assess(text, [], account_role="news").label == "none"
    assert assess(text, []).label == "financing"  # the explicit phrase alone


def _texts_of_every_kind():
    """The appeals and hard negatives above, each cut at every fifth character
    (a cue cut in half), each with a lone cue word, and ordinary chatter."""
    texts = [t for _, t in FINANCING + NONE]
    cut = [t[:i] for t in texts for i in range(0, len(t), 5)]
    return texts + cut + ["donate", "Spendet", "  ", "", "sponsor a", "الجهاد بالمال",
                          "nice weather in Berlin today", "تبرعوا"]


def test_asks_for_money_is_what_assess_needs_to_fire():
    """The finance detector calls assess only where asks_for_money says so: no
    text that assess calls financing — with any channel, entity tie or role —
    may be one it says no to."""
    from rasd.detect.finance.appeals import asks_for_money

    entity = [{"name": "ISLAMIC STATE", "list": "un_sc", "list_ref": "QDe.115",
               "programme": "ISIL", "entity_id": 1, "score": 1.0}]
    fired = 0
    for text in _texts_of_every_kind():
        asks = asks_for_money(text)
        for inds in (extract(text), []):
            for ents in (entity, None):
                for role in (None, "news"):
                    v = assess(text, inds, entities=ents, account_role=role)
                    if v.label == "financing":
                        fired += 1
                        assert asks, text
                    if not asks:
                        assert v.label == "none", text
    assert fired > 20
