"""Normalisation defeats evasion; language ID works offline on short texts."""

import pytest

from rasd.detect.text.lexicon import alias_key, load_lexicon
from rasd.detect.text.normalize import clean, detect_language, fold, model_text


@pytest.mark.parametrize("raw,expected", [
    ("d a e s h", "daesh"),
    ("I.S.I.S", "isis"),
    ("1SIS", "isis"),
    ("k1ll the kuff4r", "kill the kuffar"),
    ("Мuјаhіdееn", "mujahideen"),           # Cyrillic look-alikes in a Latin word
    ("Da\u200besh\u200d", "daesh"),          # zero-width characters
    ("\u202eDaesh\u202c", "daesh"),          # bidi override
    ("ＩＳＩＳ", "isis"),                     # full-width forms (NFKC)
    ("kiiiiill", "kiill"),
])
def test_evasion_is_undone(raw, expected):
    assert fold(raw) == expected


def test_arabic_folding():
    # diacritics, tatweel and alef/ta-marbuta/ya variants
    assert fold("الدَّوْلَةُ الإسْلامِيَّـــة") == fold("الدولة الاسلامية") == "الدوله الاسلاميه"
    assert fold("مُصْطَفى") == "مصطفي"
    assert fold("داعـــش") == "داعش"


def test_turkish_dotted_dotless_i():
    assert fold("IŞİD") == fold("işid") == fold("ışid")
    assert fold("İSTANBUL") == "istanbul"


def test_marker_emoji_become_words():
    assert "blackflag" in fold("baqiya 🏴")
    assert "tawhidfinger" in fold("☝️ brothers")


def test_numbers_and_ordinary_words_are_kept():
    assert fold("call 0555 123 at 10:30") == "call 0555 123 at 10:30"
    assert clean("A perfectly normal sentence.") == "A perfectly normal sentence."
    assert fold("I am a cat") == "i am a cat"


def test_model_text_masks_urls_and_mentions():
    t = model_text("RT @Someone_88: look https://t.co/abc and @other")
    assert "t.co" not in t and "Someone" not in t and "@user" in t and "http" in t


def test_obfuscated_alias_matches_lexicon():
    lex = load_lexicon()
    ents = {m.entity for m in lex.match("the d a e s h fighters")}
    assert "ISIL (Da'esh)" in ents
    assert alias_key("Al-Qa'ida") == alias_key("al qaida")


def test_lexicon_matching_finds_what_trying_every_run_of_words_finds():
    """Matching stops extending a run of words that no alias starts with;
    what it finds is what trying every run up to the longest alias finds,
    on texts that hold the bundled aliases, overlapping and cut short."""
    import random

    lex = load_lexicon()

    def every_run(text: str) -> set[tuple[str, str | None, str]]:
        toks = alias_key(text).split()
        out = set()
        for i in range(len(toks)):
            for j in range(i + 1, min(len(toks), i + lex.max_len) + 1):
                for e in lex.table.get(" ".join(toks[i:j]), ()):
                    out.add((e.kind, e.entity or e.alias))
        return out

    rng = random.Random(7)
    aliases = [e.alias for es in lex.table.values() for e in es]
    filler = ["the", "al", "of", "state", "islamic", "front", "army", "brigade", "and", "x"]
    found = 0
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 8)):
            a = rng.choice(aliases).split()
            parts += a[:rng.randint(1, len(a))] if rng.random() < 0.3 else a
            parts += rng.sample(filler, rng.randint(0, 3))
        text = " ".join(parts)
        got = {(m.kind, m.entity or m.alias) for m in lex.match(text)}
        assert got == every_run(text), text
        found += len(got)
    assert found > 300


LANG_CASES = {
    "en": ["The weather is lovely today, let's go to the park",
           "Police arrested two men after the explosion downtown",
           "I can't believe the match ended like that"],
    "ar": ["الطقس جميل اليوم فلنذهب إلى الحديقة", "اعتقلت الشرطة رجلين بعد الانفجار في وسط المدينة",
           "لا أصدق أن المباراة انتهت بهذه الطريقة"],
    "fr": ["Il fait beau aujourd'hui, allons au parc", "La police a arrêté deux hommes après l'explosion",
           "Je n'arrive pas à croire que le match se soit terminé ainsi"],
    "de": ["Das Wetter ist heute schön, lass uns in den Park gehen",
           "Die Polizei nahm nach der Explosion zwei Männer fest",
           "Ich kann nicht glauben, dass das Spiel so ausgegangen ist"],
    "it": ["Oggi il tempo è bello, andiamo al parco", "La polizia ha arrestato due uomini dopo l'esplosione",
           "Non posso credere che la partita sia finita così"],
    "tr": ["Bugün hava çok güzel, parka gidelim", "Polis patlamanın ardından iki adamı gözaltına aldı",
           "Maçın böyle bittiğine inanamıyorum"],
    "ru": ["Сегодня прекрасная погода, пойдём в парк", "Полиция задержала двух мужчин после взрыва",
           "Не могу поверить, что матч так закончился"],
}


@pytest.mark.parametrize("lang", sorted(LANG_CASES))
def test_language_id_short_texts(lang):
    for t in LANG_CASES[lang]:
        code, conf = detect_language(t)
        assert code == lang, (t, code, conf)


def test_language_id_empty_and_hostile():
    assert detect_language("") == ("und", 0.0)
    assert detect_language("12345 !!! http://x.y") [0] == "und"
    code, _ = detect_language("a" * 500_000)  # bounded, no crash
    assert isinstance(code, str)


def test_tatweel_removed_from_readable_text():
    assert clean("الدولـــة باقـيـة") == "الدولة باقية"


def test_long_words_are_cleaned_in_linear_time():
    """A post with a leet word (which turns the word fixer on) and a word of
    thousands of letters: the fixer found suspect words with one pattern that
    backtracked cubically — 4,000 characters took minutes, holding `rasd scan`
    on one adversarial post. The alarm turns a relapse into a failure rather
    than a hang (it is no speed target: the text is cleaned in milliseconds)."""
    import signal

    def hang(*_):
        raise TimeoutError("clean() backtracked on a long word")

    word = "z" * 50_000
    mixed = "раss" * 10_000  # Cyrillic and Latin in one 40,000-letter word
    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(30)
    try:
        out = clean(f"send to bc1qar0srrr7 and k1ll {word} {mixed}")
        folded = fold("1SIS " + "q1" * 20_000 + " " + word)
        short = model_text("k1ll them " + word)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    # the fixes still happen beside the long words
    assert "kill" in out and word in out and "pass" * 10 in out
    assert folded.startswith("isis ")
    assert short.startswith("kill them")


@pytest.mark.parametrize("text,lang", [
    # fastText: nl 0.57 / nl 0.66 / es 0.52, English not in its top three
    ("Make hijrah to the caliphate", "en"),
    ("Join the caravan, make hijrah now", "en"),
    ("Make hijrah to the land of the caliphate, brothers", "en"),
    # function words of a language rasd does not read still win for it
    ("la casa de mi madre", "es"),
    # confident short text is left to fastText
    ("Nice weather today", "en"),
    ("Die Polizei in Berlin", "de"),
])
def test_short_text_language_uses_function_words(text, lang):
    assert detect_language(text)[0] == lang


# Short posts in each of the seven languages that fastText reads confidently (>= 0.5) …
SHORT_CONFIDENT = [("عاجل", "ar"), ("Kill them all", "en"), ("Bisous", "fr"),
                   ("Hallo zusammen", "de"), ("Buongiorno", "it"), ("Teşekkürler", "tr"),
                   ("Спасибо", "ru")]
# … and ones it guesses between 0.3 and 0.5, mostly wrongly, with no function words to go
# by (fastText's guess in the comment): reported as 'und', not as the guess.
SHORT_UNSURE = [("شكرا", "ar"),                 # fa 0.42
                ("[BREAKING] news", "en"),      # sh 0.40
                ("Génial", "fr"),               # pt 0.46
                ("Na toll", "de"),              # en 0.36
                ("Auguri", "it"),               # de 0.41
                ("[SON DAKİKA] haber", "tr"),   # ia 0.45
                ("Срочно", "ru")]               # sr 0.49


@pytest.mark.parametrize("text,lang", SHORT_CONFIDENT)
def test_short_posts_read_confidently_keep_their_language(text, lang):
    assert detect_language(text)[0] == lang


@pytest.mark.parametrize("text,lang", SHORT_UNSURE)
def test_short_posts_guessed_below_one_half_are_und(text, lang):
    """Found by review: "[BREAKING] news" was labelled Serbo-Croatian (fastText 0.40, then
    above the 0.3 floor). Below 0.5 fastText's top language on a short post was right
    43-58 % of the time on the development rows; 'und' is more honest than a guess."""
    from rasd.detect.text.normalize import LID_GUESS_FLOOR, _lid_model

    labels, probs = _lid_model().predict(text, k=1)
    assert 0.3 <= probs[0] < LID_GUESS_FLOOR  # the band the floor was raised over
    assert detect_language(text)[0] == "und", (text, lang, labels[0], probs[0])


def test_short_text_language_is_unknown_rather_than_a_poor_guess():
    """fastText's top language below LID_GUESS_FLOOR on a short post, with no
    function words to go by, is 'und' (right about 4 times in 10 otherwise)."""
    from rasd.detect.text.normalize import LID_GUESS_FLOOR, _lid_model

    assert _lid_model().predict("haha xD", k=1)[1][0] < LID_GUESS_FLOOR
    assert detect_language("haha xD")[0] == "und"
    long = ("Police in Berlin said on Monday that the suspect had been arrested at his flat "
            "and would appear before a judge later this week")
    assert detect_language(long)[0] == "en"


def test_strip_marks_keeps_cyrillic_letters_whose_mark_is_the_letter():
    """NFD split й into и and a breve, which strip_marks dropped as an accent:
    "бой" (battle) and "бои" (battles), "мой" and "мои", were one word to the
    lexicon, and an alias with й matched text with и. й, ў and ї are letters of
    their own and are kept (decomposed ones too); ё is still read as е (Russian
    writes it so), and stress marks and Latin accents still go."""
    from rasd.detect.text.lexicon import Entry, Lexicon, strip_marks

    assert strip_marks("бой Бой ЙОД") == "бой Бой ЙОД"
    assert strip_marks("и\u0306 у\u0306 і\u0308") == "й ў ї"
    assert strip_marks("Ўсё їжак") == "Ўсе їжак"
    assert strip_marks("Исла\u0301м Dâesh ёлка") == "Ислам Daesh елка"
    assert strip_marks("й\u0301") == "й"  # a stress mark on й goes, the letter stays
    assert alias_key("Хайят Тахрир") != alias_key("Хаият Тахрир")
    assert alias_key("Всё") == alias_key("все")
    lex = Lexicon([Entry("slogan", None, None, "test", "наш бой")])
    assert [m.alias for m in lex.match("наш бой начался")] == ["наш бой"]
    assert lex.match("наши бои закончились") == [] and lex.match("наш бои") == []
