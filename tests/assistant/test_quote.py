"""Quoted answers (assistant/quote.py) over a real knowledge base on disk: generated ru/en/ja files,
real indexing (Chroma + BM25, the bundled embedding model), real search, no language model."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistant.language import NOT_FOUND
from assistant.protocol import AnswerPipeline
from assistant.quote import MAX_SENTENCES, QuotePipeline, answer_kind, has_kind, is_heading, needs_predecessor
from index.kb import KnowledgeBase
from index.sentences import split_sentences

DOCS = {
    "veltor.txt": (
        "Lake Veltor\n\n"
        "Lake Veltor is a freshwater lake in the northern highlands of Arvenia. "
        "The lake covers an area of 412 square kilometres and reaches a depth of 96 metres. "
        "Fishing villages line its western shore, where the water is shallow and warm in summer.\n\n"
        "The first survey of the lake was led by the geographer Marta Holloway. "
        "She mapped the shoreline in 1887 with a team of six assistants. "
        "Her maps remained in use for almost a century.\n\n"
        "A railway bridge crosses the narrow southern end of the lake. "
        "It was opened in 1931 after four years of construction. "
        "Today the bridge carries freight trains between Dunmere and the coast."
    ),
    "orchards.txt": (
        "Orchards of the valley\n\n"
        "Apple orchards fill the lower valley below the old monastery. "
        "Most of the trees are an early variety that ripens in late August. "
        "The harvest festival takes place in the town of Pellbridge every autumn.\n\n"
        "Beekeeping has a long tradition in the valley. "
        "Each family keeps a few hives at the edge of the orchards. "
        "The honey is sold at the Saturday market."
    ),
    "mosty.txt": (
        "Мосты Северограда\n\n"
        "Североград стоит на слиянии двух рек, и в городе много мостов. "
        "Всего через реки перекинуто 23 моста, из них пять разводных. "
        "Самый старый мост, Каменный, построен из местного гранита.\n\n"
        "Каменный мост спроектировал инженер Пётр Аникеев. "
        "Он завершил строительство в 1794 году, после девяти лет работ. "
        "Позднее мост дважды расширяли, но сохранили его арки.\n\n"
        "Летом мосты разводят по ночам, чтобы пропустить грузовые суда. "
        "Туристы приходят на набережные смотреть на разведённые пролёты."
    ),
    "sakura.txt": (
        "桜山公園\n\n"
        "桜山公園は、港町ミナトの北にある広い公園である。"
        "公園には約3500本の桜が植えられている。"
        "毎年4月には花見の祭りが開かれ、多くの人が訪れる。\n\n"
        "この公園を設計したのは造園家の田中一郎である。"
        "彼は1925年に公園の設計を始めた。"
        "園内の池と茶屋も、田中の設計によるものである。\n\n"
        "公園の東側には小さな美術館がある。"
        "美術館では地元の画家の作品が展示されている。"
    ),
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("quote-kb")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    with KnowledgeBase.open(root / "kb") as kb:
        report = kb.index([str(docs)])
        assert not report.files_failed
        yield kb


@pytest.fixture(scope="module")
def quote(kb):
    pipeline = QuotePipeline(kb.embedder, "no chat model is selected")
    yield pipeline
    pipeline.close()


def ask(kb, quote, question, **kwargs):
    return quote.answer(question, kb.documents_for, **kwargs)


def assert_cited(answer) -> None:
    """Every sentence of the answer is cited, and every quote is the file's text at its offsets."""
    assert answer.citations
    for c in answer.citations:
        doc = answer.documents[c.doc_id]
        file_text = Path(doc.path).read_text(encoding="utf-8")
        assert file_text[c.span_start:c.span_end] == c.quote
        assert answer.answer[c.answer_start:c.answer_end] == c.quote
        assert c.doc_id in answer.relevant_doc_ids
    for start, end in split_sentences(answer.answer):
        assert any(c.answer_start <= start and end <= c.answer_end for c in answer.citations), answer.answer[start:end]


FACTS = [
    ("How deep is Lake Veltor?", "96 metres"),
    ("Who led the first survey of Lake Veltor?", "Marta Holloway"),
    ("When did Marta Holloway map the shoreline?", "1887"),
    ("Сколько мостов в Северограде?", "23 моста"),
    ("Кто спроектировал Каменный мост?", "Пётр Аникеев"),
    ("В каком году завершили строительство Каменного моста?", "1794"),
    ("桜山公園には何本の桜が植えられていますか？", "3500本"),
    ("桜山公園を設計したのは誰ですか？", "田中一郎"),
    ("田中一郎はいつ公園の設計を始めましたか？", "1925年"),
]


@pytest.mark.parametrize("question,expected", FACTS)
def test_the_quoted_answer_holds_the_fact_and_cites_every_sentence(kb, quote, question, expected):
    answer = ask(kb, quote, question)
    assert answer.found and answer.mode == "quote"
    assert expected in answer.answer
    assert 1 <= len(answer.citations) <= MAX_SENTENCES
    assert_cited(answer)


def test_nothing_relevant_says_not_found_in_the_questions_language(kb, quote):
    for question, lang in [
        ("What is the boiling point of liquid nitrogen in a pressure cooker?", "en"),
        ("Какова температура плавления вольфрама?", "ru"),
        ("量子コンピュータの誤り訂正はどう動作しますか？", "ja"),
    ]:
        steps, tokens = [], []
        answer = ask(kb, quote, question, on_step1=lambda ids, n: steps.append((ids, n)), on_token=tokens.append)
        assert not answer.found, (question, answer.answer)
        assert answer.answer == NOT_FOUND[lang]
        assert answer.citations == [] and answer.relevant_doc_ids == []
        assert steps and steps[0][0] == []
        assert "".join(tokens) == NOT_FOUND[lang]


def test_a_sentence_opening_with_a_pronoun_brings_its_predecessor(kb, quote):
    for question, pronoun_sentence, predecessor in [
        ("When was the railway bridge opened?", "It was opened in 1931", "A railway bridge crosses"),
        ("В каком году Аникеев завершил строительство?", "Он завершил строительство в 1794 году",
         "Каменный мост спроектировал инженер Пётр Аникеев."),
        ("田中一郎が設計を始めたのは何年ですか？", "彼は1925年に公園の設計を始めた。", "この公園を設計したのは造園家の田中一郎である。"),
    ]:
        answer = ask(kb, quote, question)
        assert pronoun_sentence in answer.answer, answer.answer
        assert predecessor in answer.answer, answer.answer
        assert answer.answer.index(predecessor) < answer.answer.index(pronoun_sentence)
        assert len(answer.citations) <= MAX_SENTENCES
        assert_cited(answer)


def test_the_answer_streams_and_reports_the_quoted_documents(kb, quote):
    tokens, steps = [], []
    docs = kb.documents_for("Who led the first survey of Lake Veltor?")
    answer = quote.answer("Who led the first survey of Lake Veltor?", docs, on_token=tokens.append,
                          on_step1=lambda ids, n: steps.append((ids, n)))
    assert "".join(tokens) == answer.answer
    assert steps == [(answer.relevant_doc_ids, len(docs))]
    assert answer.relevant_doc_ids and all(docs[i].path.endswith("veltor.txt") for i in answer.relevant_doc_ids)
    data = answer.to_json()
    assert data["mode"] == "quote" and data["mode_reason"] == "no chat model is selected"
    assert data["found"] and data["citations"][0]["quote"] in data["answer"]
    assert "quote_s" in data["timings"]


def test_quote_pipeline_keeps_the_answering_contract(kb):
    pipeline = QuotePipeline()  # no embedder: terms and answer kinds alone
    assert isinstance(pipeline, AnswerPipeline)
    assert pipeline.mode == "quote" and pipeline.warnings == []
    answer = pipeline.answer("Сколько мостов в Северограде?", kb.documents_for)
    assert "23 моста" in answer.answer
    assert_cited(answer)
    cancel = threading.Event()
    cancel.set()
    stopped = pipeline.answer("How deep is Lake Veltor?", kb.documents_for, cancel=cancel)
    assert stopped.cancelled and stopped.answer == "" and stopped.citations == []
    with pytest.raises(ValueError):
        pipeline.answer("   ", kb.documents_for)
    assert not pipeline.answer("How deep is Lake Veltor?", []).found
    pipeline.close()


def test_the_kind_of_answer_a_question_asks_for():
    assert answer_kind("How many trees grow there?") == "number"
    assert answer_kind("When was it built?") == "date"
    assert answer_kind("In what year did the war end?") == "date"
    assert answer_kind("Who designed the bridge?") == "person"
    assert answer_kind("Where is the lake?") == "place"
    assert answer_kind("Сколько мостов в городе?") == "number"
    assert answer_kind("Когда построили мост?") == "date"
    assert answer_kind("В каком году открыли мост?") == "date"
    assert answer_kind("Кто спроектировал мост?") == "person"
    assert answer_kind("Где находится озеро?") == "place"
    assert answer_kind("桜は何本ありますか？") == "number"
    assert answer_kind("いつ建てられましたか？") == "date"
    assert answer_kind("何年に始まりましたか？") == "date"
    assert answer_kind("誰が設計しましたか？") == "person"
    assert answer_kind("美術館はどこにありますか？") == "place"
    assert answer_kind("Why is the water warm?") is None
    assert has_kind("It opened in 1931.", "date") and not has_kind("It opened in 1931.", "date", "Was it 1931?")
    assert has_kind("The lake covers 412 square kilometres.", "number")
    assert has_kind("The survey was led by Marta Holloway.", "person")
    assert has_kind("公園には約3500本の桜が植えられている。", "number")
    assert not has_kind("The water is warm in summer.", "number")


def test_sentences_that_point_back():
    assert needs_predecessor("It was opened in 1931.")
    assert needs_predecessor("«Он завершил строительство в 1794 году.")
    assert needs_predecessor("Однако мост сохранили.")
    assert needs_predecessor("それは1925年のことである。")
    assert needs_predecessor("彼は1925年に設計を始めた。")
    assert not needs_predecessor("Italy is a country.")
    assert not needs_predecessor("Iterations were slow.")
    assert not needs_predecessor("Онтарио — провинция Канады.")  # a word that only starts like a pronoun
    assert not needs_predecessor("Каменный мост построен из гранита.")


def test_a_question_about_something_else_sharing_common_words_is_not_found(kb, quote):
    """The documents share words with these questions (lake, deep, bridge, designed, 公園...) but not their
    subject: the best sentence's meaning is far from the question, so nothing is quoted. (Known limit: the
    same kind of fact about another named thing, "How many bridges are there in St Petersburg?", can pass.)"""
    for question in [
        "How deep is Lake Baikal in Siberia?",
        "Who designed the Golden Gate Bridge in San Francisco?",
        "Какова глубина озера Байкал?",
        "上野公園にある動物園はいつ開園しましたか？",
    ]:
        answer = ask(kb, quote, question)
        assert not answer.found, (question, answer.answer)
    # the same pipeline still answers questions its documents do answer (see FACTS above)
    assert ask(kb, quote, "How deep is Lake Veltor?").found


def test_a_question_word_in_another_form_counts_as_held():
    """Stems the stemmer left apart ("блокировок" / "блокировк") count as the same word; short or
    unrelated stems do not, nor do CJK bigrams."""
    from assistant.quote import _held, _variants

    asked = frozenset({"блокировок", "кикл", "govern", "公園"})
    vocabulary = frozenset({"блокировк", "блок", "кикли", "governor", "公", "governess", "公園"})
    variants = _variants(asked, vocabulary)
    assert variants == {"блокировок": frozenset({"блокировк"}), "govern": frozenset({"governor", "governess"})}
    assert _held(asked, variants, frozenset({"блокировк", "защит"})) == {"блокировок"}
    assert _held(asked, variants, frozenset({"блок", "кикли"})) == frozenset()


def test_confidence_needs_a_higher_bar_for_cjk_questions_and_terms_alone_without_meaning(kb):
    quote = QuotePipeline(kb.embedder)
    for question, needed in [("How deep is Lake Veltor?", quote.threshold),
                             ("桜山公園を設計したのは誰ですか？", quote.cjk_threshold)]:
        docs = kb.documents_for(question)
        best = quote.score(question, docs)[0]
        value, bar = quote.confidence(question, docs, best)
        assert bar == needed and value >= bar
    terms_only = QuotePipeline(None)
    docs = kb.documents_for("How deep is Lake Veltor?")
    best = terms_only.score("How deep is Lake Veltor?", docs)[0]
    assert terms_only.confidence("How deep is Lake Veltor?", docs, best) == (best.lexical, terms_only.lexical_threshold)


def test_a_title_line_is_a_heading_and_never_a_companion(kb, quote):
    text = "Lake Veltor\n\nLake Veltor is a lake. It is deep\nMaps of the lake"
    assert is_heading(text, 0, 11)
    assert not is_heading(text, 13, 35) and not is_heading(text, 36, 46)
    assert is_heading(text, 47, 63)
    answer = ask(kb, quote, "How deep is Lake Veltor?")
    assert "Lake Veltor\n" not in answer.answer and not answer.answer.startswith("Lake Veltor\n")


def test_meaning_counts_only_where_the_embedding_model_covers_the_language(kb):
    """Cosines only for languages the knowledge base's model covers (USE: en, ru...; not Hindi)."""
    quote = QuotePipeline(kb.embedder, ambiguity=0.0)  # always consult meaning, not only when terms tie
    en = quote.score("How deep is Lake Veltor?", kb.documents_for("How deep is Lake Veltor?"))
    assert any(s.dense != 0.0 for s in en)
    docs = kb.documents_for("Сколько мостов в Северограде?")
    ru = quote.score("Сколько мостов в Северограде?", docs)
    assert kb.embedder.supports("ru") == any(s.dense != 0.0 for s in ru)
    assert not kb.embedder.supports("hi")
    hi = quote.score("सेवेरोग्राद में कितने पुल हैं? Северограде мостов", docs)
    assert hi and all(s.dense == 0.0 for s in hi)
