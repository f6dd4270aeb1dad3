from index import analysis, chunking


def test_chunks_cover_text_with_exact_offsets():
    text = "# Title\n\nFirst paragraph. It has two sentences.\n\n" + ("Long sentence number %d is here. " * 80) + "\n\nLast."
    spans = chunking.chunk(text, 300)
    assert spans, "no passages"
    for s in spans:
        assert s.end - s.start <= 300
        piece = text[s.start : s.end]
        assert piece == piece.strip()
    # in order (overlapping by at most one sentence inside a long paragraph), every word covered
    assert all(a.start < b.start and a.end < b.end for a, b in zip(spans, spans[1:]))
    covered = set()
    for s in spans:
        covered.update(range(s.start, s.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    # the heading travels with the first paragraph
    assert text[spans[0].start : spans[0].end].startswith("# Title\n\nFirst paragraph.")


def test_japanese_sentences_split_on_full_stops():
    text = "東京は日本の首都です。" * 200
    spans = chunking.chunk(text, 100)
    assert all(text[s.start : s.end].endswith("。") for s in spans)


def test_unbreakable_text_is_hard_split():
    text = "x" * 2500
    spans = chunking.chunk(text, 1000)
    assert [s.end - s.start for s in spans] == [1000, 1000, 500]


def test_terms_stem_russian_and_english():
    assert analysis.terms("Железные дороги России") == analysis.terms("железная дорога россии")
    assert analysis.terms("running runs") == ["run", "run"]
    assert analysis.terms("Ёлка") == analysis.terms("елка")


def test_terms_cjk_bigrams_split_by_script():
    terms = analysis.terms("東京タワーは高い")
    assert "東京" in terms and "タワ" in terms and "ワー" in terms
    assert "京タ" not in terms  # no bigram across a script change


def test_detect_language():
    assert analysis.detect_language("Где находится библиотека?") == "ru"
    assert analysis.detect_language("Where is the library?") == "en"
    assert analysis.detect_language("図書館はどこですか") == "ja"


def test_cut_inside_a_paragraph_repeats_the_last_sentence():
    sentences = [f"Sentence {i} says something about topic {i}." for i in range(40)]
    text = " ".join(sentences)
    spans = chunking.chunk(text, 300)
    for a, b in zip(spans, spans[1:]):
        assert b.start < a.end, "consecutive passages of one paragraph overlap by a sentence"
        assert text[b.start : a.end].strip().endswith(".")
