"""Verdicts in the app (issue 11) and the first start's answer modes and sample questions (issue 12).

Real parts: a real knowledge base on disk (the sample documents indexed with
the bundled embeddings and Chroma), the real aligner and verifier
(assistant/citations.py, assistant/verify.py), the real quote pipeline, real
widgets offscreen. The wrong and half-right answer below is text a model
could write; its verdicts are whatever the aligner decides on the indexed
documents. Screenshots go to artifacts/screenshots/.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.conversations import ConversationStore, Turn  # noqa: E402
from gui.theme import LIGHT  # noqa: E402
from index.config import sample_docs_dir  # noqa: E402
from tests.test_gui import click_anchor, make_window, shot, tiny_vikhr  # noqa: E402,F401 - fixtures

QUESTION = "Who designed UTF-8, and when?"
SUPPORTED_S = "KOI8-R is described in RFC 1489."
CONTRADICTED_S = "UTF-8 was designed by Ken Thompson and Rob Pike in March 1992."
PARTIAL_S = "UTF-8 was designed by Ken Thompson and Rob Pike on a napkin in a diner in New Jersey."
UNSUPPORTED_S = "The Moon is made of green cheese."
ANSWER = " ".join([CONTRADICTED_S, PARTIAL_S, SUPPORTED_S, UNSUPPORTED_S])


@pytest.fixture(scope="module")
def sample_kb(tmp_path_factory) -> Path:
    """The sample documents indexed as on first start (the folder itself is the knowledge base's root)."""
    from index.kb import KnowledgeBase

    root = tmp_path_factory.mktemp("sample-kb") / "kb"
    kb = KnowledgeBase.open(root)
    try:
        report = kb.index([str(sample_docs_dir())])
        assert report.files_indexed >= 7
    finally:
        kb.close()
    return root


def written_answer(kb, question: str, text: str):
    """An Answer as a pipeline returns it: `text` aligned by the real aligner to the retrieved documents."""
    from assistant.answer import grounded_answer
    from assistant.citations import Aligner

    documents = kb.documents_for(question, 6)
    answer = grounded_answer(Aligner(), question=question, text=text, chosen=list(range(len(documents))),
                             documents=documents, found=True, timings={}, started=time.perf_counter(),
                             model={"name": "a chat model"}, language="en", warnings=[])
    answer.mode = "generate"
    return answer


def test_answer_verdicts_are_shown_copied_and_kept_in_history(qtbot, make_window, sample_kb):
    window = make_window(sample_kb)
    chat = window.chat
    answer = written_answer(window.session.kb, QUESTION, ANSWER)
    verdicts = {ANSWER[c.answer_start:c.answer_end].strip(): c.verdict for c in answer.citations}
    assert verdicts == {CONTRADICTED_S: "contradicted", PARTIAL_S: "partial", SUPPORTED_S: "supported"}
    assert [ANSWER[u.answer_start:u.answer_end].strip() for u in answer.unsupported] == [UNSUPPORTED_S]

    # stored with its verdicts, read back from disk by the chat as history is
    chat.store.add_turn(chat.conv, Turn.from_answer(answer))
    raw = json.loads((sample_kb / "docent-chats.json").read_text(encoding="utf-8"))
    assert {c["verdict"] for c in raw["conversations"][0]["turns"][0]["citations"]} == {
        "supported", "partial", "contradicted"}
    chat._on_kb_changed(window.session.kb)
    turn = chat.last_turn()
    assert turn.counts() == {"supported": 1, "partial": 1, "contradicted": 1, "unsupported": 1}
    contradicted = next(c for c in turn.citations if c.verdict == "contradicted")
    assert contradicted.conflict["claim"] == "March" and contradicted.conflict["source"] == "September"
    partial = next(c for c in turn.citations if c.verdict == "partial")
    missing = [turn.answer[a:b] for a, b in partial.missing]
    assert missing and all(w in PARTIAL_S for w in missing) and "napkin" in " ".join(missing)

    # shown: contradicted red with what the source says, partial's missing words orange, unsupported grey
    html_text = chat.transcript.toHtml()
    plain = chat.transcript.toPlainText()
    assert "the source says September" in plain
    assert "1 supported · 1 partly supported · 1 contradicted · 1 unsupported" in plain
    assert LIGHT.contradicted_bg in html_text and LIGHT.partial_bg in html_text and LIGHT.unsupported_bg in html_text
    assert "line-through" in html_text and "[?]" in plain
    assert "a chat model" in plain  # the mode note: written by which model
    window.tabs.setCurrentWidget(chat)
    shot(window, "chat-verdicts.png")

    # the [n] marker of the contradicted sentence opens the span that says otherwise
    i = turn.citations.index(contradicted)
    click_anchor(qtbot, chat.transcript, f"cite:0:{i}")
    qtbot.waitUntil(lambda: window.viewer.mode == "text", timeout=30_000)
    assert window.viewer.path.endswith("text-encodings.en.txt")
    assert window.viewer.highlighted == (contradicted.span_start, contradicted.span_end)
    assert "September" in window.viewer.highlighted_text()
    shot(window, "chat-verdicts-source.png")

    # copy keeps the verdicts, as text and as HTML
    assert chat.copy_last()
    copied = QApplication.clipboard().text()
    assert "contradicted: the source says September" in copied
    assert "partly supported; not in the source:" in copied and "napkin" in copied
    assert "[?]" in copied and "1 contradicted" in copied and "text-encodings.en.txt" in copied
    rich = QApplication.clipboard().mimeData().html()
    assert LIGHT.contradicted_bg in rich and LIGHT.partial_bg in rich and "line-through" in rich

    # Russian interface
    from gui.i18n import set_language

    set_language("ru", QApplication.instance())
    try:
        plain = chat.transcript.toPlainText()
        assert "в источнике: September" in plain and "противоречит источнику: 1" in plain
    finally:
        set_language("en", QApplication.instance())


def test_old_history_without_verdicts_loads(tmp_path):
    old = {"version": 1, "conversations": [{"id": "a1", "title": "q", "created": 1.0, "updated": 2.0, "turns": [{
        "question": "q", "answer": "Её длина 9288 километров.", "documents": [
            {"title": "t", "path": "/d/transsib.ru.txt", "page": None, "char_start": 0, "char_end": 99}],
        "citations": [{"answer_start": 0, "answer_end": 25, "doc_id": 0, "quote": "9288", "span_start": 1,
                       "span_end": 5}], "unsupported": []}]}]}
    (tmp_path / "docent-chats.json").write_text(json.dumps(old), encoding="utf-8")
    conv = ConversationStore(tmp_path).latest()
    assert conv.answer_mode == "auto"
    turn = conv.turns[0]
    assert turn.citations[0].verdict == "supported" and turn.counts()["supported"] == 1 and turn.mode == ""


def test_check_text_view_over_the_knowledge_base(qtbot, make_window, sample_kb):
    window = make_window(sample_kb)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window, Qt.Key_K, Qt.ControlModifier)  # Ctrl+K: Check text
    check = window.check
    assert window.tabs.currentWidget() is check
    text = ("Её длина составляет 7288 километров. Электрификация всей магистрали была завершена в 2002 году. "
            + CONTRADICTED_S + " " + PARTIAL_S + " " + UNSUPPORTED_S)
    check.input.setPlainText(text)
    check.input.setFocus()
    qtbot.keyClick(check.input, Qt.Key_Return, Qt.ControlModifier)  # Ctrl+Enter checks (the chat asks nothing)
    assert check.checking and not window.chat.busy
    qtbot.waitUntil(lambda: check.result is not None and not check.checking, timeout=120_000)
    by_text = {s.text.strip(): s for s in check.result.sentences}
    assert by_text["Её длина составляет 7288 километров."].verdict == "contradicted"
    assert by_text["Электрификация всей магистрали была завершена в 2002 году."].verdict == "supported"
    assert by_text[CONTRADICTED_S].verdict == "contradicted"
    assert by_text[PARTIAL_S].verdict == "partial"
    assert by_text[UNSUPPORTED_S].verdict == "unsupported"
    assert check.counter.text() == "1 supported · 1 partly supported · 2 contradicted · 1 unsupported"
    plain = check.results.toPlainText()
    assert "the source says 9288" in plain and "the source says September" in plain
    html_text = check.results.toHtml()
    assert LIGHT.contradicted_bg in html_text and LIGHT.partial_bg in html_text
    shot(window, "check-text.png")

    # a click on a sentence opens its source at the cited span
    i = check.result.sentences.index(by_text["Электрификация всей магистрали была завершена в 2002 году."])
    click_anchor(qtbot, check.results, f"check:{i}")
    qtbot.waitUntil(lambda: window.viewer.mode == "text" and window.viewer.path.endswith("transsib.ru.txt"),
                    timeout=30_000)
    s = check.result.sentences[i]
    assert window.viewer.highlighted == (s.span_start, s.span_end)
    assert "2002" in window.viewer.highlighted_text()
    shot(window, "check-text-source.png")


def test_sample_questions_are_answered_by_quotes_and_a_click_asks(qtbot, make_window, sample_kb, tiny_vikhr):
    from assistant.quote import QuotePipeline
    from gui.samples import sample_questions

    questions = sample_questions()
    gold = {q["question"]: q for q in json.loads((sample_docs_dir() / "questions.json").read_text("utf-8"))}
    assert len(questions) == 3 and {gold[q]["language"] for q in questions} == {"ru", "en", "ja"}

    window = make_window(sample_kb, model_path=str(tiny_vikhr), n_ctx=4096)
    chat = window.chat
    assert chat.samples == questions  # the knowledge base indexes the sample folder: offered
    kb = window.session.kb
    reason = "the bundled model is a small demo model. Choose a chat model in Settings for written answers."
    pipeline = QuotePipeline(kb.embedder, reason)
    answers = [pipeline.answer(q, lambda q, k: kb.documents_for(q, k)) for q in questions]
    for q, a in zip(questions, answers):
        assert a.found and a.mode == "quote" and gold[q]["answer"] in a.answer, (q, a.answer)
        assert all(c.verdict == "supported" for c in a.citations) and not a.unsupported

    # an empty conversation offers them (other tests may have left conversations in this knowledge base)
    chat.new_chat()
    window.check_fonts()  # as the app does after its first paint: shipped or system CJK fonts
    plain = chat.transcript.toPlainText()
    assert all(q in plain for q in questions)
    window.tabs.setCurrentWidget(chat)
    shot(window, "first-start-samples.png")

    # the per-conversation mode switch
    seen = []
    chat.answer_mode_changed.connect(seen.append)
    chat.mode_box.setCurrentIndex(chat.mode_box.findData("quote"))
    chat.mode_box.activated.emit(chat.mode_box.currentIndex())
    assert chat.answer_mode == "quote" and seen == ["quote"]

    # clicking a sample asks it
    click_anchor(qtbot, chat.transcript, "sample:1")
    assert chat.busy and chat.live.question == questions[1]
    chat.stop()
    qtbot.waitUntil(lambda: not chat.busy, timeout=120_000)
    assert chat.last_turn().question == questions[1]

    # a quoted answer (in a new chat, which keeps the mode): the note says so and why; [1] opens the source
    chat.new_chat()
    assert chat.answer_mode == "quote" and not chat.conv.turns
    chat.store.add_turn(chat.conv, Turn.from_answer(answers[0]))
    chat.retranslate()  # lists the conversation and redraws
    plain = chat.transcript.toPlainText()
    assert "Quoted from your documents: " + reason in plain
    click_anchor(qtbot, chat.transcript, "cite:0:0")
    cit = answers[0].citations[0]
    qtbot.waitUntil(lambda: window.viewer.mode == "text" and window.viewer.path.endswith("transsib.ru.txt"),
                    timeout=30_000)
    assert window.viewer.highlighted == (cit.span_start, cit.span_end)
    shot(window, "quoted-answer-source.png")

    # the mode is stored with the conversation
    conv_id = chat.conv.id
    again = ConversationStore(sample_kb).get(conv_id)
    assert again.answer_mode == "quote"
