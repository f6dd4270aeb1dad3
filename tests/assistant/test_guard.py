"""The answer guard (assistant/guard.py): what a runaway model writes never reaches the user.

Model output is fed the way generation delivers it, in small pieces; every case checks that
the text streamed to the user is exactly the final answer (nothing shown is taken back).
"""
from __future__ import annotations

import threading

import pytest

from assistant.guard import MIN_CAP_CHARS, AnswerGuard, length_cap


def guarded(question: str, output: str, piece: int = 3, cap: float = 8.0) -> tuple[str, str]:
    shown: list[str] = []
    guard = AnswerGuard(question, shown.append, cap_factor=cap)
    for i in range(0, len(output), piece):
        guard.push(output[i:i + piece])
        if guard.halt.is_set():
            break
    text = guard.finish()
    assert "".join(shown) == text, "streamed text differs from the answer"
    return text, guard.reason


@pytest.mark.parametrize("piece", [1, 3, 7, 50])
def test_repeated_sentence_is_cut_before_it_shows(piece):
    out = "It is 9288 km long. The railway connects Moscow. The railway connects Moscow. The railway"
    text, why = guarded("How long is the railway?", out, piece)
    assert text == "It is 9288 km long. The railway connects Moscow." and why == "a repeated sentence"


def test_step1_json_and_protocol_tokens_never_show():
    text, why = guarded("How long?", 'It is long. {"relevant_doc_ids": [0, 2]} and more')
    assert text == "It is long." and why == "protocol text"
    text, why = guarded("How long?", "It is long.<end_of_turn>\n<start_of_turn>user\nNext?")
    assert text == "It is long." and why == "protocol text"
    text, why = guarded("How long?", "It is long.<|eot_id|><|start_header_id|>user")
    assert text == "It is long."


def test_step1_restated_first_is_dropped_not_shown():
    text, why = guarded("How long?", '{"relevant_doc_ids": [1, 2]}\n, {"doc_id": 0, "title": "x"} It is 9288 km.')
    assert text == "It is 9288 km." and why == ""
    text, _ = guarded("How long?", '{"relevant_doc_ids": [1, 2]}\n, {"')
    assert text == ""  # nothing but protocol: no answer at all, rather than a stray comma


def test_literal_line_breaks_become_line_breaks():
    text, _ = guarded("What?", "First line.\\n\\nSecond line.\\r\\nThird.")
    assert "\\" not in text and text == "First line.\n\nSecond line.\nThird."


@pytest.mark.parametrize("turn", ["\nQuestion: How long?", "\nUser: thanks", "\nВопрос: а ещё?", "\n質問：次は？"])
def test_a_new_turn_ends_the_answer(turn):
    text, why = guarded("How long is it?", "It is long." + turn + "\nAnswer: very")
    assert text == "It is long." and why == "a new turn"


def test_the_question_asked_again_ends_the_answer():
    text, why = guarded("How long is the railway?", "It is long. How long is the railway? It is long indeed.")
    assert text == "It is long." and why == "the question again"


def test_a_loop_inside_a_sentence_is_cut_where_it_starts():
    out = "Это самая длинная дорога, и она очень длинная" + " и она очень длинная" * 6 + "."
    text, why = guarded("Какова длина?", out)
    assert text == "Это самая длинная дорога, и она очень длинная" and why == "a repeated passage"
    text, why = guarded("茶道を大成したのは誰？", "千利休である。わび茶を大成した。千利休である。")
    assert text == "千利休である。わび茶を大成した。" and why == "a repeated sentence"


def test_length_cap_relative_to_the_question_ends_on_a_sentence():
    out = " ".join(f"Sentence {i} tells one more different thing about item {i * 7}." for i in range(80))
    assert length_cap("Short?") == MIN_CAP_CHARS and length_cap("x" * 100, 8) == 800 and length_cap("x", 0) is None
    text, why = guarded("Short?", out)
    assert why == "the length cap" and len(text) <= MIN_CAP_CHARS and text.endswith(".")
    text, why = guarded("Short?", out, cap=0)
    assert why == "" and text == out


def test_a_normal_answer_passes_untouched():
    out = ("Answer: The Trans-Siberian Railway connects Moscow with Vladivostok. Its length is 9,288 km, "
           "and it was built between 1891 and 1916.")
    text, why = guarded("How long is the Trans-Siberian Railway?", out, piece=2)
    assert why == "" and text == out[len("Answer: "):]


def test_halt_follows_the_users_stop_and_the_guard():
    stop = threading.Event()
    guard = AnswerGuard("q?", None, cancel=stop)
    assert not guard.halt.is_set()
    stop.set()
    assert guard.halt.is_set() and not guard.stopped
    guard = AnswerGuard("q?", None)
    guard.push('Fine. {"relevant_doc_ids": [0]}')
    assert guard.halt.is_set() and guard.stopped


def test_the_first_words_show_at_once():
    shown: list[str] = []
    guard = AnswerGuard("How long is the railway?", shown.append)
    guard.push("Ans")
    guard.push("wer: The")
    assert shown == []  # a label, then a word still being written
    guard.push(" railway is")
    assert "".join(shown) == "The railway"
    guard.push(" long <")
    assert "".join(shown) == "The railway is long"  # "<" may open a protocol token: held
    guard.push("|eot_id|>")
    assert guard.stopped and guard.finish() == "The railway is long"
