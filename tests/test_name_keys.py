"""Names across scripts (index/name_keys.py) and their part in cross-language search
(index/search.py, shared_names): real files, a real Chroma, the bundled multilingual model."""
from pathlib import Path

import pytest

from index import name_keys, search
from index.kb import KnowledgeBase

MATLIN = ("Марли Мэтлин исполнила гимн на языке жестов перед началом матча. Актриса, лауреат премии «Оскар», "
          "выступала на поле вместе с певицей, и трансляция показывала её крупным планом.")
GAGA = ("Леди Гага исполнила национальный гимн перед игрой. Певица вышла на поле в красном костюме, "
        "а зрители на трибунах стоя аплодировали ей после последней ноты.")
STADIUM = ("Стадион «Левис» в Санта-Кларе принял финал сезона. На трибунах собралось более семидесяти тысяч "
           "зрителей, а билеты на игру стоили в среднем несколько тысяч долларов.")


@pytest.mark.parametrize("latin, cyrillic", [
    ("Matlin", "Мэтлин"), ("Luther", "Лютера"), ("John", "Джон"), ("Washington", "Вашингтон"),
    ("Bowl", "Боул"), ("Manning", "Мэннинг"), ("Charles", "Чарльз"), ("Müller", "Мюллер"), ("Moscow", "Москвы"),
    ("Oxford", "Оксфорде"), ("Euphrates", "Евфрат"),
])
def test_a_name_has_one_key_in_both_scripts(latin, cyrillic):
    assert name_keys.matches(name_keys.key(latin), name_keys.key(cyrillic))


def test_keys_do_not_match_unrelated_names():
    assert not name_keys.matches(name_keys.key("Manning"), name_keys.key("Ньютон"))
    assert not name_keys.matches(name_keys.key("Tesla"), name_keys.key("Тейлор"))
    assert not name_keys.matches(name_keys.key("Moscow"), name_keys.key("Омск"))  # an opening vowel counts
    assert not name_keys.matches("ms", "msk")  # a two-letter key must match whole
    assert name_keys.key("東京") == "" and name_keys.key("Αθήνα") == ""  # other scripts get no key


def test_question_names_skip_the_question_word_and_keep_each_name_once():
    names = name_keys.question_names("Who sang with Marlee Matlin? Did Matlin sign it?")
    assert names == [("mrl", "latin"), ("mtln", "latin")]
    assert name_keys.question_names("Кто такой Джон Элвей?") == [("dsn", "cyrillic"), ("al", "cyrillic")]
    assert name_keys.question_names("what did he translate?") == []


def test_a_name_counts_only_in_a_passage_written_in_another_script():
    names = name_keys.question_names("What did Marlee Matlin translate?")
    assert name_keys.held(names, MATLIN) == [0, 1]
    assert name_keys.held(names, "Marlee Matlin signed the anthem.") == []  # same script: BM25's job
    assert name_keys.held(names, GAGA) == []
    # a Russian passage quoting an English title is still Russian: a Russian question's names do not
    # count there (BM25 has them), an English question's do
    quoting = "Marlee Matlin\n\n" + GAGA
    assert name_keys.held(name_keys.question_names("Что спела Марли Мэтлин?"), quoting) == []
    assert name_keys.spans(names, MATLIN) == [(0, 5), (6, 12)]


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_an_english_question_finds_the_russian_passage_that_names_its_person(tmp_path):
    docs = write(tmp_path / "docs", {"matlin.ru.txt": MATLIN, "gaga.ru.txt": GAGA, "stadium.ru.txt": STADIUM})
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.index([str(docs)])
        ids = {Path(p.path).name: pid for pid, p in kb.catalog.passages_by_ids(list(range(1, 20))).items()}
        for question, wanted in [("What did Marlee Matlin perform before the match?", "matlin.ru.txt"),
                                 ("What did Lady Gaga wear on the field?", "gaga.ru.txt")]:
            lexical = search.lexical_ranking(kb.catalog, question)
            assert lexical.coverage < search.CROSS_COVERAGE  # the question's words are not in the knowledge base
            shared = search.shared_names(question, kb.catalog.passages_by_ids(list(ids.values())))
            assert set(shared) == {ids[wanted]} and shared[ids[wanted]] == pytest.approx(1.0)
            hits = kb.search(question, 3)
            assert Path(hits[0].passage.path).name == wanted
        # a question in the knowledge base's own language gets no name bonus: BM25 has the names
        own = search.lexical_ranking(kb.catalog, "Что исполнила Марли Мэтлин перед матчем?")
        assert not search.cross_language(kb.settings, own, 1.0)


def test_in_a_mixed_folder_a_passage_in_the_other_language_is_not_buried_by_bm25(tmp_path):
    """English documents about the game beside a Russian one about the anthem: an English question about
    the anthem shares words with the English documents, so it is no cross-language question as a whole."""
    english = {
        "tickets.en.txt": "Tickets for the game sold out in one day. The stadium in Santa Clara holds seventy "
                          "thousand people, and the average ticket for the final game cost several thousand dollars.",
        "teams.en.txt": "The two teams met in the final game of the season. A marching band performed before "
                        "the game, and the crowd sang along before the kickoff.",
        "broadcast.en.txt": "The game was broadcast by CBS, with a Spanish language feed and a sign language "
                            "interpreter on the web stream. Advertisers paid five million dollars for thirty seconds.",
    }
    docs = write(tmp_path / "docs", {**english, "matlin.ru.txt": MATLIN})
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.index([str(docs)])
        question = "Who performed the anthem in sign language before the game?"
        assert not search.cross_language(kb.settings, search.lexical_ranking(kb.catalog, question), 1.0)
        passages = kb.catalog.passages_by_ids(list(range(1, 20)))
        other = search.other_language(question, passages, list(passages))
        assert {Path(passages[p].path).name for p in other} == {"matlin.ru.txt"}
        hits = kb.search(question, 4)
        assert Path(hits[0].passage.path).name == "matlin.ru.txt"


def test_main_script_is_told_by_the_most_letters():
    from index import analysis

    assert analysis.main_script("Marlee Matlin") == "latin"
    assert analysis.main_script(MATLIN) == "cyrillic"
    assert analysis.main_script("Nikola Tesla\n\n" + GAGA) == "cyrillic"  # an English title in a Russian text
    assert analysis.main_script("東京は日本の首都です。Tokyo") == "cjk"
    assert analysis.main_script("1642 — 2015") == ""
