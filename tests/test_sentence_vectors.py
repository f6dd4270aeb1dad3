"""Sentence vectors (index/sentence_vectors.py): written, deleted and moved with the passage vectors,
used by dense scoring, optional for older knowledge bases. Real files, real Chroma, the real bundled models."""
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index import search, sentence_vectors
from index.config import EngineSettings
from index.embedding import BUNDLED_MINILM, Embedder
from index.kb import KnowledgeBase

LAKE = ("Lake Baikal lies in southern Siberia. It is the deepest lake in the world, reaching 1,642 metres. "
        "The lake holds about a fifth of the unfrozen fresh water on the planet's surface. "
        "Its seal, the nerpa, lives nowhere else. Russian settlers first reached its shores in the 17th century.")
TRAIN = "The Trans-Siberian Railway connects Moscow with Vladivostok. It is 9,289 kilometres long."
SHORT = "Tea."


def units(kb_root: Path) -> dict[str, int]:
    """{vector id: rows} as the sentence store on disk holds them."""
    path = kb_root / "chroma" / sentence_vectors.FILE
    if not path.exists():
        return {}
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT vector_id, rows FROM units"))
    finally:
        db.close()


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_sentences_of_a_passage():
    assert len(sentence_vectors.sentences_of(LAKE)) == 5
    assert sentence_vectors.sentences_of(SHORT) == []  # one sentence: the passage vector says it all
    assert sentence_vectors.sentences_of("One whole sentence here. Ok.") == []  # fragments get no row


def test_units_follow_the_vectors_through_index_change_rename_and_delete(tmp_path):
    docs = write(tmp_path / "docs", {"lake.txt": LAKE, "train.txt": TRAIN, "tea.txt": SHORT})
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.index([str(docs)])
        stored = units(kb.root)
        assert set(stored) == set(kb.vectors.all_ids()) == set(kb.catalog.all_vector_ids())
        lake_vid = next(v for v in stored if stored[v] == 6)  # the passage vector + its 5 sentences
        assert sorted(stored.values()) == [1, 3, 6]
        (docs / "lake.txt").rename(docs / "baikal.txt")  # same bytes: vectors and units reused
        (docs / "train.txt").write_text(TRAIN + " It was completed in 1916.", encoding="utf-8")
        (docs / "tea.txt").unlink()
        kb.index([str(docs)])
        after = units(kb.root)
        assert lake_vid in after
        assert set(after) == set(kb.vectors.all_ids()) == set(kb.catalog.all_vector_ids())
        assert sorted(after.values()) == [4, 6]


def test_dense_score_mixes_the_passage_and_its_best_sentence(tmp_path):
    docs = write(tmp_path / "docs", {"lake.txt": LAKE, "train.txt": TRAIN})
    question = "Which animal lives only in Lake Baikal?"
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.index([str(docs)])
        assert kb.search(question, 2, "dense")[0].passage.path.endswith("lake.txt")
        lake = kb.catalog.passages_by_ids(list(range(1, 10)))
        lake_id = next(pid for pid, p in lake.items() if p.path.endswith("lake.txt"))
        q = kb.embedder.embed_query(question)
        whole = float(kb.embedder.embed_passages([LAKE])[0] @ q)
        _, (sentences,) = kb.embedder.embed_passages_with_sentences([LAKE], [sentence_vectors.sentence_spans(LAKE)])
        best = float(max(sentences @ q))
        assert best > whole  # the one sentence about the seal is nearer the question than the whole passage
        mixed = (1 - search.SENTENCE_SHARE) * whole + search.SENTENCE_SHARE * best
        dense = search.dense_ranking(kb.catalog, kb.vectors, kb.embedder, question, 5)
        assert dense.ids[0] == lake_id and dense.scores[lake_id] == pytest.approx(mixed, abs=2e-3)  # float16 rows
        # without units (a knowledge base made before them) the passage cosine alone ranks, nothing fails
        kb.drop_vectors()
        (kb.root / "chroma" / sentence_vectors.FILE).unlink()
        for extra in ("-wal", "-shm"):
            (kb.root / "chroma" / (sentence_vectors.FILE + extra)).unlink(missing_ok=True)
        plain = search.dense_ranking(kb.catalog, kb.vectors, kb.embedder, question, 5)
        assert plain.ids[0] == lake_id and plain.scores[lake_id] == pytest.approx(whole, abs=2e-3)
        hits = kb.search(question, 2)
        assert hits[0].passage.path.endswith("lake.txt") and not hits.warnings


def test_a_model_without_sentence_scoring_stores_no_units(tmp_path):
    docs = write(tmp_path / "docs", {"lake.txt": LAKE, "train.txt": TRAIN})
    with KnowledgeBase.open(tmp_path / "kb", EngineSettings(embedding_model=BUNDLED_MINILM)) as kb:
        kb.index([str(docs)])
        assert units(kb.root) == {}
        hits = kb.search("deepest lake in the world", 2)
        assert hits[0].passage.path.endswith("lake.txt")


def test_sentence_vectors_come_from_the_passage_pass():
    """USE's sentence vectors are pooled from the passage's own token features: the passage vector is
    the one `encode` gives, each sentence's lies near its vector embedded alone."""
    embedder = Embedder(EngineSettings())
    spans = sentence_vectors.sentence_spans(LAKE)
    passages, (sentences,) = embedder.embed_passages_with_sentences([LAKE, SHORT], [spans, []])[0], \
        embedder.embed_passages_with_sentences([LAKE], [spans])[1]
    alone = embedder.embed_passages([LAKE, SHORT] + sentence_vectors.sentences_of(LAKE))
    assert np.allclose(passages, alone[:2], atol=1e-4)  # space-separated text: the very same vector
    assert sentences.shape == (5, embedder.dimension)
    near = np.einsum("ij,ij->i", sentences, alone[2:])
    assert near.min() > 0.6  # 0.70-0.83 here: the same sentence, read in its context
    q = embedder.embed_query("Which animal lives only in Lake Baikal?")
    assert max(sentences @ q) > passages[0] @ q  # a sentence is nearer the question than the passage


def test_units_are_float16_rows_of_the_model_dimension(tmp_path):
    docs = write(tmp_path / "docs", {"lake.txt": LAKE})
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.index([str(docs)])
        vid = next(iter(units(kb.root)))
        db = sqlite3.connect(kb.root / "chroma" / sentence_vectors.FILE)
        rows, data = db.execute("SELECT rows, data FROM units WHERE vector_id=?", (vid,)).fetchone()
        db.close()
        matrix = np.frombuffer(data, dtype=np.float16).reshape(rows, -1)
        assert matrix.shape == (6, kb.embedder.dimension)
        assert np.allclose(np.linalg.norm(matrix.astype(np.float32), axis=1), 1.0, atol=1e-2)
