"""Sentence splitting and citation alignment in ru/en/ja."""
from __future__ import annotations

import pytest

from assistant.citations import Aligner, CiteDoc
from index.analysis import content_terms as terms
from index.sentences import split_sentences
from assistant.language import NOT_FOUND, message_language as detect_language


def sents(text):
    return [text[a:b] for a, b in split_sentences(text)]


def test_split_english_keeps_abbreviations():
    assert sents("Dr. Smith met Mr. Jones at 5 p.m. in the U.S. capital. They talked, e.g. about trains! Done?") == [
        "Dr. Smith met Mr. Jones at 5 p.m. in the U.S. capital.", "They talked, e.g. about trains!", "Done?",
    ]
    assert sents("Version 3.5 is out. Next") == ["Version 3.5 is out.", "Next"]


def test_split_russian():
    text = "Строительство началось в 1891 г. во Владивостоке. А. С. Пушкин, т.е. поэт, жил там. См. рис. 5. Конец"
    assert sents(text) == [
        "Строительство началось в 1891 г. во Владивостоке.", "А. С. Пушкин, т.е. поэт, жил там.", "См. рис. 5.", "Конец",
    ]


def test_split_japanese():
    text = "茶道は日本の伝統文化である。わび茶を大成したのは千利休（1522年〜1591年）です！本当？「はい。」と答えた。"
    assert sents(text) == [
        "茶道は日本の伝統文化である。", "わび茶を大成したのは千利休（1522年〜1591年）です！", "本当？", "「はい。」と答えた。",
    ]


def test_split_lines_and_offsets():
    text = "  - first item\n- second item.\n\nLast one"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == ["- first item", "- second item.", "Last one"]


def test_terms():
    assert terms("The Panthers defense gave up 308 points") == ["panther", "defens", "gave", "up", "308", "point"]
    assert "транссибирск" in terms("Транссибирская магистраль") or "транссибирск" in "".join(terms("Транссибирская"))
    assert terms("千利休です") == ["千利", "利休", "です"]  # no bigram across a script change


def test_language_detection():
    assert detect_language("Какова длина Транссиба?") == "ru"
    assert detect_language("How long is it?") == "en"
    assert detect_language("わび茶を大成したのは誰ですか？") == "ja"
    assert detect_language("Docent は日本語の文章をどのように登録しますか？") == "ja"
    assert detect_language("") == "en"
    assert set(NOT_FOUND) == {"en", "ru", "ja"}


EN_DOC = (
    "The Trans-Siberian Railway connects Moscow with Vladivostok. Construction began in 1891. "
    "The line is 9,288 kilometres long and crosses eight time zones."
)
RU_DOC = (
    "Транссибирская магистраль соединяет Москву и Владивосток. Строительство началось 31 мая 1891 года. "
    "Её длина составляет 9288 километров. Электрификация всей магистрали была завершена в 2002 году."
)
JA_DOC = "茶道は日本の伝統文化である。わび茶を大成したのは千利休である。千利休は1522年に生まれた。"


@pytest.mark.parametrize(
    "doc, answer, expect_quote, unsupported",
    [
        (EN_DOC, "The construction began in 1891. It also has excellent food.", "Construction began in 1891.", 1),
        (EN_DOC, "The railway is 9,288 kilometres long.", "The line is 9,288 kilometres long and crosses eight time zones.", 0),
        (RU_DOC, "Её длина — 9288 километров. В вагонах подают вкусный чай.", "Её длина составляет 9288 километров.", 1),
        (RU_DOC, "Электрификацию магистрали завершили в 2002 году.", "Электрификация всей магистрали была завершена в 2002 году.", 0),
        (JA_DOC, "わび茶を大成したのは千利休です。富士山は高い。", "わび茶を大成したのは千利休である。", 1),
    ],
)
def test_alignment(doc, answer, expect_quote, unsupported):
    start_in_file = 1000
    al = Aligner().align(answer, [CiteDoc(3, "Intro.\n" + doc, start_in_file)], cited_ids=[3])
    assert len(al.citations) == 1 and len(al.unsupported) == unsupported
    c = al.citations[0]
    assert c.quote == expect_quote and c.doc_id == 3
    file_text = " " * start_in_file + "Intro.\n" + doc
    assert file_text[c.span_start:c.span_end] == c.quote
    assert answer[c.answer_start:c.answer_end] == split_and_first(answer)
    assert al.uncited_doc_ids == []


def split_and_first(text):
    a, b = split_sentences(text)[0]
    return text[a:b]


def test_best_document_wins_and_uncited_ids_reported():
    docs = [CiteDoc(0, EN_DOC, 0), CiteDoc(1, RU_DOC, 500), CiteDoc(2, JA_DOC, 900)]
    al = Aligner().align("Электрификация магистрали завершена в 2002 году. 千利休はわび茶を大成した。", docs, cited_ids=[0, 1, 2])
    assert [c.doc_id for c in al.citations] == [1, 2]
    assert al.uncited_doc_ids == [0]
    assert not al.unsupported


def test_nothing_to_cite():
    al = Aligner().align("Completely unrelated words here.", [CiteDoc(0, JA_DOC)], [0])
    assert not al.citations and len(al.unsupported) == 1 and al.uncited_doc_ids == [0]
    assert Aligner().align("", [CiteDoc(0, EN_DOC)]).citations == []
    assert Aligner().align("Text.", []).unsupported
