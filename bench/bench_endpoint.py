"""Remote engine: first-token display latency and step-1 validity through a real model server.

Target: the first answer piece is shown (RemotePipeline's on_token fires)
within 50 ms of the server sending it.  "Sent" is measured by a loopback TCP
relay between client and server (tests/fixtures/openai_server.Relay) that
takes time.perf_counter() the moment it forwards each chunk, in this same
process, so both ends share one clock.  Side by side, a bare httpx SSE reader
on the same request through the same relay is the baseline; the ratio
ours/baseline shows what the pipeline adds (thread hand-off, JSON parsing).

Per question (~20, the sample documents' questions, repeated if needed):
    ours      RemotePipeline.answer(...) -> step 1, then streamed step 2
    baseline  the same step-2 request read with httpx.stream + iter_lines
Also printed: step-1 validity (strictly valid / repaired / unusable / empty).

    python bench/bench_endpoint.py [--model GGUF | --gemma] [--questions 20] [--max-tokens 24]

Default model: a tiny random-weight Vikhr-format GGUF (tests/fixtures/tiny_gguf).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.endpoint import RemotePipeline, reset_endpoint_caps  # noqa: E402
from assistant.endpoint_client import EndpointConfig  # noqa: E402
from assistant.grammar import format_ids, parse_ids  # noqa: E402
from index.types import SourceDocument  # noqa: E402
from tests.fixtures.openai_server import OpenAIServer, Relay  # noqa: E402

TARGET_MS = 50.0
_DATA_LINE = re.compile(rb"data: (\{.*?\})\s*$", re.M)


def sample_documents(max_chars: int = 900) -> tuple[list[SourceDocument], list[str]]:
    from index.config import sample_docs_dir

    folder = sample_docs_dir()
    docs = []
    for f in sorted(folder.iterdir()):
        if f.suffix in (".txt", ".md") and f.name != "questions.json":
            text = f.read_text(encoding="utf-8")[:max_chars]
            docs.append(SourceDocument(f.stem, text, str(f), None, 0, len(text)))
    questions = [q["question"] for q in json.loads((folder / "questions.json").read_text(encoding="utf-8"))]
    return docs, questions


class Clock:
    """Relay-side record of forwarded chunks: (perf_counter, bytes); parsed after each run."""

    def __init__(self):
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()

    def on_forward(self, data: bytes, t: float) -> None:
        with self.lock:  # keep this cheap: it runs before the bytes are sent on
            self.chunks.append((t, data))

    def reset(self) -> None:
        with self.lock:
            self.chunks = []

    def first_content_sent(self) -> float | None:
        """Time the relay forwarded the first SSE chunk whose content is not blank."""
        buf = b""
        with self.lock:
            chunks = list(self.chunks)
        for t, data in chunks:
            buf += data
            for m in _DATA_LINE.finditer(buf):
                try:
                    obj = json.loads(m.group(1))
                except ValueError:
                    continue
                for ch in obj.get("choices") or ():
                    if ((ch.get("delta") or {}).get("content") or "").strip():
                        return t
            buf = buf[buf.rfind(b"\n") + 1:]
        return None


def baseline_first_shown(url: str, body: dict) -> float | None:
    """A bare httpx SSE reader: perf_counter when the first non-blank content line is parsed."""
    import httpx

    with httpx.Client(trust_env=False, timeout=httpx.Timeout(120.0, connect=5.0)) as c:
        with c.stream("POST", f"{url}/chat/completions", json=body) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return None
                obj = json.loads(payload)
                for ch in obj.get("choices") or ():
                    if ((ch.get("delta") or {}).get("content") or "").strip():
                        return time.perf_counter()
    return None


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="GGUF to serve (default: a tiny random-weight Vikhr GGUF)")
    ap.add_argument("--gemma", action="store_true", help="serve the bundled gemma-3-270m")
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1,
                    help="weights seed of the tiny GGUF (1: its greedy step 1 names a document, so step 2 runs)")
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="docent-bench-endpoint-")
    if args.gemma:
        from assistant.models import ensure_default_model
        from index.config import data_dir

        model = ensure_default_model(data_dir())
    elif args.model:
        model = Path(args.model)
    else:
        from tests.fixtures.tiny_gguf import write_tiny_gguf

        model = write_tiny_gguf(Path(tmp.name) / "tiny-vikhr.gguf", "vikhr", seed=args.seed)
    docs, questions = sample_documents()
    questions = (questions * (args.questions // max(1, len(questions)) + 1))[: args.questions]
    print(f"model {model.name}; {len(docs)} documents; {len(questions)} questions; max {args.max_tokens} answer tokens")

    clock = Clock()
    rows = []
    validity = {"valid": 0, "repaired": 0, "unusable": 0, "empty": 0}
    with OpenAIServer(model, alias="bench", n_ctx=args.n_ctx, threads=args.threads) as server:
        relay = Relay(server.port, on_forward=clock.on_forward)
        reset_endpoint_caps()
        pipe = RemotePipeline(EndpointConfig(relay.base_url, model="bench", n_ctx=args.n_ctx),
                              max_answer_tokens=args.max_tokens)
        try:
            pipe.answer("warm-up question?", docs[:2])
            for n, q in enumerate(questions):
                shown: list[float] = []

                def on_token(piece: str) -> None:
                    if not shown:
                        shown.append(time.perf_counter())

                clock.reset()
                a = pipe.answer(q, docs, on_token=on_token)
                sent = clock.first_content_sent()
                offered = list(range(len(a.documents)))
                if any("unusable" in w for w in a.warnings):
                    validity["unusable"] += 1
                elif parse_ids(a.step1_output, offered).valid:
                    validity["valid"] += 1
                else:
                    validity["repaired"] += 1
                if not a.relevant_doc_ids and a.found is False:
                    validity["empty"] += 1
                ours = (shown[0] - sent) * 1000 if (a.found and shown and sent) else None

                # baseline: the very same step-2 request, read by a bare httpx SSE loop
                native = a.model["documents_role"] == "on"
                ids = a.relevant_doc_ids or [0]
                plan = pipe._plan(native, pipe.caps.get("budget_n_ctx") or pipe.n_ctx, q, docs, [])
                msgs = pipe.builder(native).step2_messages(q, plan.docs_json, plan.history, format_ids(ids))
                s = pipe.profile.sampling
                body = {"model": "bench", "messages": msgs, "stream": True, "max_tokens": args.max_tokens,
                        "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k, "min_p": s.min_p,
                        "repeat_penalty": s.repeat_penalty, "seed": 0}
                clock.reset()
                t_shown = baseline_first_shown(relay.base_url, body)
                sent_b = clock.first_content_sent()
                base = (t_shown - sent_b) * 1000 if (t_shown and sent_b) else None
                rows.append((ours, base))
                print(f"  {n + 1:2d} ours {'-' if ours is None else f'{ours:7.3f} ms'}   "
                      f"baseline {'-' if base is None else f'{base:7.3f} ms'}   step1 {a.step1_output.strip()[:40]!r}")
        finally:
            pipe.close()
            relay.close()
    tmp.cleanup()

    ours_v = [o for o, _ in rows if o is not None]
    base_v = [b for _, b in rows if b is not None]
    print("\nfirst token shown - sent by server (relay clock, same process)")
    if ours_v:
        print(f"  ours      n={len(ours_v):2d}  p50 {statistics.median(ours_v):7.3f} ms  max {max(ours_v):7.3f} ms")
    if base_v:
        print(f"  baseline  n={len(base_v):2d}  p50 {statistics.median(base_v):7.3f} ms  max {max(base_v):7.3f} ms")
    if ours_v and base_v:
        print(f"  ratio ours/baseline  p50 {statistics.median(ours_v) / statistics.median(base_v):.2f}x   "
              f"max {max(ours_v) / max(base_v):.2f}x")
        ok = max(ours_v) <= TARGET_MS
        print(f"  target: every first token shown within {TARGET_MS:.0f} ms of the server sending it -> "
              f"{'PASS' if ok else 'FAIL'}")
    else:
        print("  no answer reached step 2 (step 1 chose no document every time)")
    total = len(rows)
    print(f"\nstep 1 over {total} questions: {validity['valid']} strictly valid, {validity['repaired']} repaired "
          f"(duplicates/spacing fixed, ids kept), {validity['unusable']} unusable (all documents used), "
          f"{validity['empty']} empty (not found)")
    return 0 if ours_v and max(ours_v) <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
