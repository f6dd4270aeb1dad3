"""GGUF chat templates are untrusted input: the sandbox must refuse escapes and bound the work."""
from __future__ import annotations

import time

import pytest

from assistant.errors import TemplateError
from assistant.profiles import PROFILES
from assistant.prompts import PromptBuilder, SafeTemplate, TemplateLimits

MSGS = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
        "{{ self._TemplateReference__context }}{{ lipsum.__globals__['os'] }}",
        "{{ messages.append({'role': 'x'}) }}",
        "{% set x = namespace() %}{{ x.__class__.__init__.__globals__ }}",
        "{{ ''.format.__self__ }}{{ (1).__class__.__subclasses__() }}",
    ],
)
def test_escape_attempts_are_refused(source):
    with pytest.raises(TemplateError):
        SafeTemplate(source).render(messages=MSGS, add_generation_prompt=True)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(9000) %}{% for j in range(9000) %}{{ '' }}{% endfor %}{% endfor %}",
        "{% set ns = namespace(s='xx') %}{% for i in range(9000) %}{% for j in range(9000) %}{% set ns.s = ns.s %}{% endfor %}{% endfor %}",
    ],
)
def test_huge_loops_are_stopped_quickly(source):
    t = time.monotonic()
    with pytest.raises(TemplateError):
        SafeTemplate(source, TemplateLimits(time_limit_s=0.5)).render(messages=MSGS)
    assert time.monotonic() - t < 5


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 1000000000 }}",
        "{{ 10 ** 100000 }}",
        "{% for i in range(9000) %}{{ 'y' * 5000 }}{% endfor %}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "{{ raise_exception('only user and assistant roles are supported') }}",
        "{% if %}",
    ],
)
def test_bombs_recursion_and_broken_templates_give_template_error(source):
    with pytest.raises(TemplateError):
        SafeTemplate(source, TemplateLimits(max_output_chars=1_000_000)).render(messages=MSGS)


def test_oversized_source_refused():
    with pytest.raises(TemplateError):
        SafeTemplate("x" * 300_000)


def test_helpers_available_and_trace_restored():
    import sys

    before = sys.gettrace()
    out = SafeTemplate("{{ strftime_now('%Y') }}|{{ messages | tojson }}|{{ range(3) | list }}").render(
        messages=[{"role": "user", "content": "привет"}]
    )
    year, js, r = out.split("|")
    assert year.isdigit() and js == '[{"role": "user", "content": "привет"}]' and r == "[0, 1, 2]"
    assert sys.gettrace() is before


def test_builder_refuses_malicious_gguf_template():
    with pytest.raises(TemplateError):
        PromptBuilder(PROFILES["generic"], "{{ ''.__class__.__mro__ }}")
