"""Verdicts that catch wrong claims (ru, en, ja): swapped numbers, dates and names, negation flips,
a sentence from another document; faithful paraphrases stay supported."""
from __future__ import annotations

import json

import pytest

from assistant.citations import Aligner, CiteDoc
from index import facts

EN = (
    "The Trans-Siberian Railway connects Moscow with Vladivostok. Construction began on 31 May 1891. "
    "The line is 9,288 kilometres long and crosses eight time zones. The railway does not cross Mongolia. "
    "About 30% of Russia's exports travel on it."
)
RU = (
    "Транссибирская магистраль соединяет Москву и Владивосток. Строительство началось 31 мая 1891 года. "
    "Её длина составляет 9288 километров. Магистраль не проходит через Монголию. "
    "Электрификация всей магистрали была завершена в 2002 году."
)
JA = (
    "茶道は日本の伝統文化である。わび茶を大成したのは千利休である。千利休は1522年に堺で生まれた。"
    "茶会には三百人が集まった。利休はキリスト教を信仰しなかった。"
)
OTHER = "Mount Everest is 8,849 metres high. It was first climbed in 1953 by Edmund Hillary and Tenzing Norgay."
FILE = EN + "\n\n" + RU + "\n\n" + JA
DOCS = [CiteDoc(0, EN, 0), CiteDoc(1, RU, len(EN) + 2), CiteDoc(2, JA, len(EN) + len(RU) + 4)]


def check(claim: str, docs=DOCS):
    checks = Aligner().check_text(claim, docs)
    assert len(checks) == 1, checks
    return checks[0]


@pytest.mark.parametrize("claim, doc", [
    ("The railway connects Moscow with Vladivostok.", 0),
    ("Vladivostok is connected with Moscow by the Trans-Siberian Railway.", 0),   # other order, other form
    ("The line is 9288 kilometres long and crosses eight time zones.", 0),         # 9288 == 9,288
    ("The line is 9,288 km long.", 0),                                             # km == kilometres
    ("Construction of the railway began in May 1891.", 0),
    ("Строительство магистрали началось в мае 1891 года.", 1),
    ("Длина магистрали составляет 9 288 километров.", 1),
    ("Электрификацию всей магистрали завершили в 2002 году.", 1),
    ("堺で生まれた千利休は、わび茶を大成した。", 2),
    ("茶会には300人が集まった。", 2),                                              # 300 == 三百
])
def test_faithful_paraphrase_stays_supported(claim, doc):
    c = check(claim)
    assert c.verdict == "supported" and c.doc_id == doc and c.missing == [] and c.conflict is None


@pytest.mark.parametrize("claim, said, source", [
    ("Construction began on 31 May 1895.", "1895", "1891"),                        # year
    ("Construction began on 31 June 1891.", "June", "May"),                        # month
    ("The line is 9,300 kilometres long.", "9,300", "9,288"),                      # quantity
    ("About 40% of Russia's exports travel on it.", "40", "30"),                   # percentage
    ("The Trans-Siberian Railway connects Moscow with Beijing.", "Beijing", "Vladivostok"),  # name
    ("Строительство началось 31 мая 1895 года.", "1895", "1891"),
    ("Длина магистрали составляет 9 500 километров.", "9 500", "9288"),
    ("Её длина составляет 9500 км.", "9500", "9288"),
    ("Транссибирская магистраль соединяет Москву и Пекин.", "Пекин", "Владивосток"),
    ("千利休は1525年に堺で生まれた。", "1525", "1522"),
    ("茶会には四百人が集まった。", "四百", "三百"),                                  # Japanese number words
])
def test_swapped_fact_is_contradicted_with_both_sides(claim, said, source):
    c = check(claim)
    assert c.verdict == "contradicted"
    assert c.conflict["claim"] == said and c.conflict["source"] == source
    assert claim[c.conflict["claim_start"]:c.conflict["claim_end"]] == said
    doc = next(d for d in DOCS if d.doc_id == c.doc_id)
    # source offsets are inside the document's content, as span offsets are
    assert doc.content[c.conflict["source_start"]:c.conflict["source_end"]] == source


@pytest.mark.parametrize("claim", [
    "The Trans-Siberian Railway does not connect Moscow with Vladivostok.",
    "The railway crosses Mongolia.",
    "Транссибирская магистраль не соединяет Москву и Владивосток.",
    "Магистраль проходит через Монголию.",
    "利休はキリスト教を信仰した。",
])
def test_negation_flip_is_contradicted(claim):
    assert check(claim).verdict == "contradicted"


def test_a_plain_statement_beside_a_negation_is_no_flip():
    assert check("The line crosses eight time zones.").verdict == "supported"


@pytest.mark.parametrize("claim", [
    "Mount Everest is 8,849 metres high.",
    "It was first climbed in 1953 by Edmund Hillary and Tenzing Norgay.",
    "The line is 8,849 kilometres long.",   # shares words with the right document, the number with another
])
def test_sentence_from_another_document_is_not_supported(claim):
    assert check(claim).verdict != "supported"
    with_other = DOCS + [CiteDoc(3, OTHER, 5000)]
    c = check(claim, with_other)
    if claim.startswith(("Mount", "It was")):
        assert c.verdict == "supported" and c.doc_id == 3


@pytest.mark.parametrize("claim, words", [
    ("The railway crosses eight time zones and serves excellent breakfasts on board.", {"excellent breakfasts"}),
    ("わび茶を大成したのは村田珠光である。", {"村田珠光"}),
    ("Магистраль соединяет Москву и Владивосток и славится вкусными пирожками.", {"славится вкусными пирожками"}),
])
def test_partial_marks_the_missing_words(claim, words):
    c = check(claim)
    assert c.verdict == "partial"
    marked = [claim[a:b] for a, b in c.missing]
    assert all(any(w in m for m in marked) for w in words), marked
    assert not any("Владивосток" in m or "time zones" in m for m in marked)


def test_question_and_answer_claims():
    assert check("In what year did construction begin: 1891.").verdict == "supported"
    assert check("In what year did construction begin: 1895.").verdict != "supported"
    assert check("千利休が生まれたのは何年か、1522年。").verdict == "supported"
    assert check("千利休が生まれたのは何年か、1600年。").verdict != "supported"


def test_citation_json_carries_the_verdict():
    answer = "Construction began on 31 May 1895. The railway connects Moscow with Vladivostok. Cats fly."
    al = Aligner().align(answer, DOCS, cited_ids=[0, 1, 2])
    verdicts = [c.verdict for c in al.citations]
    assert verdicts == ["contradicted", "supported"] and len(al.unsupported) == 1
    data = [c.to_json(answer) for c in al.citations]
    json.dumps(data)
    bad = data[0]
    assert bad["conflict"]["claim"] == "1895" and bad["conflict"]["source"] == "1891"
    assert FILE[bad["conflict"]["source_start"]:bad["conflict"]["source_end"]] == "1891"
    assert FILE[bad["span_start"]:bad["span_end"]] == bad["quote"]
    assert bad["missing"] == [{"start": 29, "end": 33, "text": "1895"}]
    assert data[1]["verdict"] == "supported" and data[1]["conflict"] is None and data[1]["missing"] == []
    assert al.unsupported[0].to_json()["verdict"] == "unsupported"
    assert al.counts() == {"supported": 1, "partial": 0, "contradicted": 1, "unsupported": 1}
    assert al.uncited_doc_ids == [1, 2]  # a document that only contradicts does not count as cited


# --------------------------------------------------------------------------
# index/facts.py


def values(text):
    return [set(f.values) for f in facts.numbers(text)]


def test_numbers_in_the_forms_texts_use():
    assert {1000.0} <= values("It cost 1,000 dollars.")[0]
    assert values("Длина 1 000 км.") == [{1000.0}]
    assert values("Preis 1.000,5 Euro") == [{1000.5}]
    assert values("ratio 3.5 and 1,5") == [{3.5}, {1.5}]
    assert {2_500_000.0} <= values("about 2.5 million people")[0]
    assert {3000.0} <= values("3 тыс. человек")[0]
    assert values("in the years 1891–1916") == [{1891.0}, {1916.0}]
    assert values("茶会には三百人が集まった") == [{300.0}]
    assert {50000.0} <= values("5万人が集まった")[0]
    assert values("二千五百年") == [{2500.0}]
    assert values("一般的な統一") == []        # kanji numerals inside words are no numbers
    assert {20.0} <= values("двадцать лет")[0] and {20.0} <= values("twenty years")[0]
    pct = facts.numbers("Exports grew 30% and then 12 percent.")
    assert [f.unit for f in pct] == ["%", "%"]
    assert facts.numbers("founded in 1891")[0].year
    assert facts.number_keys("9 288") == facts.number_keys("9288") <= facts.number_keys("9,288")


def test_months_names_negations():
    assert [set(f.values) for f in facts.months("On 31 May 1891, not in June; 31 мая; 5月31日")] == [{5}, {6}, {5}, {5}]
    assert facts.months("You may go.") == []
    names = lambda t: [t[f.start:f.end] for f in facts.names(t)]  # noqa: E731
    assert names("Later the Broncos beat Carolina.") == ["Broncos", "Carolina"]
    assert names("Компания Apple открыла офис в Москве.") == ["Apple", "Москве"]
    assert names("ソニーはiPhoneの部品を作る。") == ["iPhone", "ソニー"]
    negs = lambda t: [n.term for n in facts.negations(t)]  # noqa: E731
    assert negs("The road does not cross the river.") == ["cross"]
    assert negs("It doesn't cross the river.") == ["cross"]
    assert negs("Дорога не пересекает реку.") != [] and negs("Он пошёл без зонта.") != []
    assert negs("利休はキリスト教を信仰しなかった。") == ["信仰"]
    assert negs("数が少ない。") == []
    assert facts.checkable_count("Construction began on 31 May 1891 in Vladivostok.") == 4


def test_ask_lists_contradicted_sentences_apart_from_sources():
    """`ask`'s human output: a contradicted sentence is never listed as support; each shows its verdict."""
    import io
    import time

    from assistant.answer import grounded_answer
    from assistant.commands import _print_sources
    from index.types import SourceDocument

    answer = ("Construction began on 31 May 1895. The railway connects Moscow with Vladivostok. "
              "The railway crosses eight time zones and serves excellent breakfasts on board. Cats fly.")
    docs = [SourceDocument("Transsib", EN, "/kb/ts.txt", None, 0, len(EN))]
    ans = grounded_answer(Aligner(), question="q?", text=answer, chosen=[0], documents=docs, found=True,
                          timings={}, started=time.perf_counter(), model={}, language="en", warnings=[])
    assert [c.verdict for c in ans.citations] == ["contradicted", "supported", "partial"]
    out = io.StringIO()
    _print_sources(ans, out)
    text = out.getvalue()
    sources, rest = text.split("Contradicted by the documents:")
    assert "1895" not in sources and "Moscow with Vladivostok" in sources
    assert "partial: not in the source: 'serves excellent breakfasts'" in sources
    assert "contradicted: the source says '1891', not '1895'" in rest and "Cats fly." in rest
    assert "1 supported · 1 partial · 1 contradicted · 1 unsupported" in text
