"""Search in every language and across languages: per-language analysis, the multilingual model, old
knowledge bases re-analysed in place. Real files, real Chroma, the real bundled models."""
from pathlib import Path

from index import analysis
from index.config import EngineSettings
from index.embedding import BUNDLED_MINILM, BUNDLED_USE
from index.kb import KnowledgeBase

DOCS = {
    "de/mauer.txt": "Die Berliner Mauer wurde 1961 gebaut und trennte Ost- und West-Berlin bis 1989.",
    "tr/istanbul.txt": "İstanbul, Türkiye'nin en kalabalık şehridir ve Boğaz'ın iki yakasına yayılır.",
    "hi/ganga.txt": "गंगा नदी भारत की सबसे पवित्र नदी मानी जाती है और हिमालय से निकलती है।",
    "th/bangkok.txt": "กรุงเทพมหานครเป็นเมืองหลวงและนครที่มีประชากรมากที่สุดของประเทศไทย",
    "el/akropoli.txt": "Η Ακρόπολη της Αθήνας είναι ένας αρχαίος βράχος με τον Παρθενώνα στην κορυφή του.",
    "en/volcano.txt": "Mount Etna is an active volcano on the east coast of Sicily, the highest in Italy.",
    "ru/baikal.txt": "Байкал — самое глубокое озеро на планете, его глубина достигает 1642 метров.",
}


def write_docs(root: Path) -> Path:
    for rel, text in DOCS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_detects_the_language_of_short_questions():
    cases = {
        "Wann wurde die Berliner Mauer gebaut?": "de", "¿Cuándo se construyó el muro?": "es",
        "Πότε χτίστηκε το τείχος;": "el", "Când a fost construit zidul?": "ro", "متى تم بناء الجدار؟": "ar",
        "भारत की राजधानी क्या है?": "hi", "กรุงเทพมหานครอยู่ที่ไหน": "th", "Duvar ne zaman inşa edildi?": "tr",
        "Bức tường được xây dựng khi nào?": "vi", "长城有多长？": "zh", "図書館はどこですか": "ja",
        "Где находится библиотека?": "ru", "Where is the library?": "en", "12345": "und",
    }
    assert {q: analysis.detect_language(q) for q in cases} == cases


def test_each_language_gets_its_own_stemmer():
    # German plural and compound inflection meet their singular; English rules would not stem them alike
    assert analysis.terms("Die Mauern", "de")[-1] == analysis.terms("der Mauer", "de")[-1]
    assert analysis.terms("Mauern", "en") != analysis.terms("Mauer", "en")
    # Turkish dotted capital İ is a plain i, not i + combining dot
    assert analysis.terms("İstanbul", "tr") == ["istanbul"]
    # Devanagari vowel signs stay inside their word (they are combining marks)
    tokens = analysis.tokens("गंगा नदी")
    assert [t.word for t in tokens] == ["गंगा", "नदी"] and tokens[0].end == 4
    # Thai is written without spaces: character trigrams with exact offsets
    thai = "เมืองหลวง"
    grams = analysis.tokens(thai)
    assert all(thai[t.start : t.end] == t.term for t in grams) and len(grams) == len(thai) - 2
    # a Latin word in a Russian text is stemmed as English, a Cyrillic word in English as Russian
    assert analysis.terms("Железные дороги running") == ["железн", "дорог", "run"]


def test_question_is_analysed_in_the_knowledge_base_languages_too():
    german = analysis.query_terms("Wann wurden die Mauern gebaut?", ["en"])
    assert analysis.terms("Mauern", "de")[0] in german and analysis.terms("Mauern", "en")[0] in german


def test_every_language_is_found_and_crosses_languages(tmp_path):
    docs = write_docs(tmp_path / "docs")
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.settings.embedding_model == BUNDLED_USE  # the multilingual default
        kb.index([str(docs)])
        assert {"de", "tr", "hi", "th", "el", "en", "ru"} <= kb.catalog.languages()
        for query, expected in [
            ("Wann wurde die Mauer gebaut?", "mauer.txt"),
            ("Türkiye'nin en kalabalık şehri hangisidir?", "istanbul.txt"),
            ("गंगा कहाँ से निकलती है?", "ganga.txt"),
            ("เมืองหลวงของประเทศไทยคืออะไร", "bangkok.txt"),
            ("Τι υπάρχει στην κορυφή της Ακρόπολης;", "akropoli.txt"),
            # across languages: the answer is only in the other language
            ("Какой вулкан находится на Сицилии?", "volcano.txt"),
            ("How deep is the deepest lake on the planet?", "baikal.txt"),
        ]:
            hits = kb.search(query, 3)
            assert hits and hits[0].passage.path.endswith(expected), (query, [h.passage.path for h in hits])
        docs_for = kb.documents_for("Какой вулкан находится на Сицилии?", 2)
        assert docs_for and docs_for[0].path.endswith("volcano.txt")


def test_old_knowledge_base_keeps_its_model_and_is_reanalysed(tmp_path):
    docs = write_docs(tmp_path / "docs")
    settings = EngineSettings(embedding_model=BUNDLED_MINILM)
    with KnowledgeBase.open(tmp_path / "kb", settings) as kb:
        kb.index([str(docs)])
        # what an analyser of version 1 left: English stems for every Latin word, no languages recorded
        db = kb.catalog.db
        db.execute("UPDATE passages_fts SET terms = 'mauer' WHERE rowid IN "
                   "(SELECT id FROM passages WHERE text LIKE 'Die Berliner%')")
        db.execute("DELETE FROM meta WHERE key IN ('analyzer', 'languages')")
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.settings.embedding_model == BUNDLED_MINILM  # recorded: never silently switched
        assert kb.catalog.get_meta("analyzer") == str(analysis.VERSION)
        assert "de" in kb.catalog.languages()
        hits = kb.search("Wann wurde die Mauer gebaut?", 3, "lexical")
        assert hits and hits[0].passage.path.endswith("mauer.txt")
        terms = kb.catalog.db.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH 'gebaut'").fetchone()
        assert terms[0] == 1
        english = kb.search("active volcano in Sicily", 3)  # MiniLM still searches its English passages
        assert english and english[0].passage.path.endswith("volcano.txt")


def test_reembed_moves_a_minilm_knowledge_base_with_pause_and_resume(tmp_path, monkeypatch):
    import threading

    import pytest

    from index import reembed
    from index.reembed import Reembed

    docs = write_docs(tmp_path / "docs")
    with KnowledgeBase.open(tmp_path / "kb", EngineSettings(embedding_model=BUNDLED_MINILM)) as kb:
        kb.index([str(docs)])
        stop = threading.Event()
        seen = []

        def pause_at_once(p):
            seen.append(p)
            stop.set()

        monkeypatch.setattr(reembed, "BATCH", 3)
        assert Reembed(kb, BUNDLED_USE).run(pause_at_once, stop) is False  # paused after the first report
        assert seen[0].total == len(DOCS) and seen[0].done == 0
        assert reembed.pending_model(kb) == BUNDLED_USE and kb.settings.embedding_model == BUNDLED_MINILM
        hits = kb.search("active volcano in Sicily", 3)  # search goes on with the old model meanwhile
        assert hits and hits[0].passage.path.endswith("volcano.txt")
    with KnowledgeBase.open(tmp_path / "kb") as kb:  # resumed after a restart
        progress = []
        with pytest.raises(Exception, match="already moving"):
            Reembed(kb, "some/other-model")
        assert Reembed(kb, BUNDLED_USE).run(progress.append) is True
        assert progress[-1].done == progress[-1].total == len(DOCS)
        assert kb.settings.embedding_model == BUNDLED_USE and reembed.pending_model(kb) is None
        assert not (kb.root / reembed.NEXT).exists() and not (kb.root / reembed.OLD).exists()
        assert set(kb.catalog.all_vector_ids()) == set(kb.vectors.all_ids())
        # the new model's sentence vectors came with its passage vectors (index/sentence_vectors.py)
        assert kb.vectors.unit_scores(kb.embedder.embed_query("x"), kb.vectors.all_ids()).keys() == set(
            kb.vectors.all_ids())
        hits = kb.search("Какой вулкан находится на Сицилии?", 3)  # the new model crosses languages
        assert hits and hits[0].passage.path.endswith("volcano.txt")
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.settings.embedding_model == BUNDLED_USE


def test_reembed_killed_during_the_swap_is_finished_on_open(tmp_path, monkeypatch):
    from index import reembed
    from index.reembed import Reembed

    docs = write_docs(tmp_path / "docs")
    with KnowledgeBase.open(tmp_path / "kb", EngineSettings(embedding_model=BUNDLED_MINILM)) as kb:
        kb.index([str(docs)])

        def killed(kb, target):
            raise KeyboardInterrupt  # the process dies after the folders were swapped, before the settings

        monkeypatch.setattr(reembed, "_finish", killed)
        try:
            Reembed(kb, BUNDLED_USE).run()
        except KeyboardInterrupt:
            pass
        monkeypatch.undo()
        assert (kb.root / reembed.OLD).exists()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.settings.embedding_model == BUNDLED_USE and not (kb.root / reembed.OLD).exists()
        hits = kb.search("Какой вулкан находится на Сицилии?", 3)
        assert hits and hits[0].passage.path.endswith("volcano.txt")
