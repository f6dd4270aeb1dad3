"""Docent's Qt-free core for grounded answers (DESIGN.md section 3).

    gguf_meta   read_gguf_meta(path) -> GGUFMeta: header checks before llama.cpp
    profiles    ModelProfile per family, detect_profile(meta)
    prompts     PromptBuilder: step-1/step-2 prompt strings; SafeTemplate (sandboxed Jinja)
    grammar     ids_grammar(offered) GBNF, parse_ids(text, offered)
    budget      ContextBudget.plan(): documents/history packed into n_ctx
    runtime     LlamaRuntime: one worker thread owns the Llama; generate/stream/cancel
    pipeline    GroundedPipeline.answer(question, documents | retriever, history, on_token, cancel) -> Answer
    citations   Aligner.align(answer, docs) -> citations (each with its verdict) / unsupported sentences
    verdicts    judge(claim, span): supported / partial / contradicted / unsupported (rules over index/facts)
    verify      Verifier(kb).verify(text): any text checked against the knowledge base (`verify`)
    answer      Answer.to_json(): the `ask` object of DESIGN.md section 4
    models      ensure_default_model(data_dir): the bundled gemma-3-270m GGUF
    commands    register(subparsers, common_parent): `ask`
    verify_cli  register(...): `verify`;  self_test  register(...): `self-test` (exit 0/1)

Nothing here imports Qt; llama_cpp, gguf and jinja2 are imported lazily.
"""
