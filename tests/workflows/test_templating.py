"""User templates render in the sandbox: escapes are refused, runaway templates are stopped, and
what comes out is sanitized HTML."""

import time
import tracemalloc

import pytest

from workflows.templating import TemplateProblem, render, render_line, render_text

CONTEXT = {
    "cards": [
        {
            "title": "News <b>bold</b>",
            "content": "- [Safe](https://example.com) *hi* <script>alert(1)</script>\n- [Bad](javascript:alert(1))\n",
            "entries": [{"title": "t1"}, {"title": "t2"}],
        }
    ],
    "workflow": {"name": "Digest"},
}


@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        ("{{ cards.__class__.__mro__ }}", "__class__"),
        ("{{ cycler.__init__.__globals__ }}", "__init__"),
        ("{{ namespace.__init__.__globals__['os'] }}", "__init__"),
        ("{{ range.__globals__ }}", "__globals__"),
        ("{{ cards.append(1) }}", "append"),  # immutable sandbox: no mutation of the data
        ("{{ cards[0].update({'title': 'x'}) }}", "update"),
        ("{{ '{0.__class__}'.format(cards) }}", "str.format"),
        ("{{ '%s' % cards }}", "% operator"),
        ("{{ 'a'.center(10000000) }}", "center"),
    ],
)
def test_the_sandbox_refuses_template_escapes(template, refusal):
    with pytest.raises(TemplateProblem, match="Not allowed") as info:
        render_text(template, CONTEXT)
    assert refusal in str(info.value)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "loops too much"),
        ("{% for c in cards %}{% for a in range(999) %}{% for b in range(999) %}x{% endfor %}{% endfor %}{% endfor %}",
         "loops too much|longer than"),
        ("{% for i in range(1000000) %}{% endfor %}", "range\\(\\) is limited"),
        ("{{ 'x' * 100000000 }}", "repetition"),
        ("{{ 2 ** 100000 }}", "power"),
        ("{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
         "grows past"),
        ("{% set b = 'x' * 150000 %}{{ [b, b, b, b] }}", "grows past"),
        ("{% set b = 'x' * 150000 %}{{ [b, b, b, b]|join }}", "A list or dict"),  # refused as it is made
        ("{% set b = 'x' * 150000 %}{{ [b, 'y']|join(b) }}", "join"),
        ("{{ 'ab'|replace('', 'x' * 100000) }}", "replace"),
        ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "Recursive loops"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "calls itself"),
        ("{{ lipsum(100000) }}", "'lipsum' is undefined"),
        ("{{ range(10)|batch(100000000, 'x')|list }}", "No filter named 'batch'"),
        ("{{ range(10)|slice(3)|list }}", "No filter named 'slice'"),
        ("{{ 'x'|wordwrap(1, wrapstring='x' * 100000) }}", "No filter named 'wordwrap'"),
        ("{{ 'x'|center(100000000) }}", "No filter named 'center'"),
        ("{{ '%s'|format('x' * 100000) }}", "No filter named 'format'"),
        # Python's sum over lists is quadratic and ran outside every limit: numbers only now.
        ("{% set l = range(1000)|list %}{{ [" + "l," * 20 + "l]|sum(start=[])|length }}", "sum adds numbers only"),
        ("{% set l = range(1000)|list %}{{ [" + "l," * 5000 + "l]|sum(start=[])|length }}", "A list or dict"),
        ("{{ ['a', 'b']|sum(start='') }}", "sum adds numbers only"),
        ("{% for i in range(1000) %}{{ range(1000)|sum }}{% endfor %}", "loops too much"),
        # Filters that read a whole sequence at once count its items like loop iterations.
        ("{% for i in range(1000) %}{{ range(1000)|list|length }}{% endfor %}", "loops too much"),
        ("{% for i in range(1000) %}{{ range(1000)|sort|first }}{% endfor %}", "loops too much"),
        ("{% for i in range(1000) %}{{ range(1000)|unique|list|length }}{% endfor %}", "loops too much"),
        ("{% for i in range(1000) %}{{ range(1000)|min }}{{ range(1000)|max }}{% endfor %}", "loops too much"),
        ("{% for i in range(1000) %}{{ range(1000)|groupby('real')|length }}{% endfor %}", "loops too|too long"),
        ("{% set b = 'x' * 150000 %}{{ range(1000)|join(b) }}", "join"),
        ("{% set s = 'x\n' * 99000 %}{{ s|indent(40) }}", "indent"),
    ],
)  # fmt: skip
def test_runaway_templates_are_stopped_quickly(template, reason):
    # CPU time, not wall-clock: the work the template got to do, however busy the machine is
    started = time.process_time()
    with pytest.raises(TemplateProblem, match=reason):
        render_text(template, CONTEXT)
    assert time.process_time() - started < 3


@pytest.mark.parametrize(
    "template",
    [
        "{% set b = 'x' * 150000 %}{{ range(1000)|join(b) }}",  # 150 million characters of separators
        "{% set s = 'x\n' * 99000 %}{{ s|indent(40) }}",  # 40 spaces on each of 99,000 lines
    ],
)
def test_a_join_or_indent_too_large_is_refused_before_its_string_is_built(template):
    tracemalloc.start()
    try:
        with pytest.raises(TemplateProblem, match="grows past"):
            render_text(template, CONTEXT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # bytes: never the huge string itself (4 MB and 150 MB before)


def test_sum_and_the_sequence_filters_still_work_on_ordinary_data():
    context = {"items": [{"n": 3, "tag": "b"}, {"n": 1, "tag": "a"}, {"n": 3, "tag": "b"}]}
    template = (
        "{{ items|sum(attribute='n') }} {{ [1.5, 2]|sum(start=1) }} {{ items|map(attribute='n')|unique|list }} "
        "{{ items|sort(attribute='n')|map(attribute='tag')|join(',') }} {{ items|min(attribute='n') }} "
        "{% for g in items|groupby('tag') %}{{ g.grouper }}={{ g.list|length }} {% endfor %}"
        "{{ 'a\nb'|indent(2) }}"
    )
    assert render_text(template, context) == "7 4.5 [3, 1] a,b,b {'n': 1, 'tag': 'a'} a=1 b=2 a\n  b"


def test_a_template_that_takes_too_long_is_stopped(settings):
    settings.WORKFLOW_TEMPLATE_TIMEOUT = 0.2
    settings.WORKFLOW_TEMPLATE_MAX_ITERATIONS = 10**9
    started = time.process_time()  # CPU time: a busy machine lengthens the wall-clock, not the work
    loop = "{% for x in range(1000) %}"
    slow = loop * 3 + "{% endfor %}" * 3
    with pytest.raises(TemplateProblem, match="took too long"):
        render_text(slow, CONTEXT)
    assert time.process_time() - started < 2


def test_the_output_size_is_capped(settings):
    settings.WORKFLOW_TEMPLATE_MAX_OUTPUT = 1000
    with pytest.raises(TemplateProblem, match="longer than 1000 characters"):
        render_text("{% for i in range(500) %}0123456789{% endfor %}", CONTEXT)


def test_markdown_becomes_sanitized_html():
    rendered = render("{% for card in cards %}## {{ card.title }}\n{{ card.content }}{% endfor %}", CONTEXT)
    assert "<h2>News &lt;b&gt;bold&lt;/b&gt;</h2>" in rendered.html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">Safe</a>' in rendered.html
    assert "<script>" not in rendered.html
    assert 'href="javascript' not in rendered.html  # left as inert text
    assert rendered.markdown.startswith("## News <b>bold</b>")  # the text version stays as written


def test_html_templates_are_autoescaped_and_sanitized():
    template = "<h1>{{ cards[0].title }}</h1>{{ cards[0].content|markdown }}<img src=x onerror=alert(1)>"
    rendered = render(template, CONTEXT, html=True)
    assert "<h1>News &lt;b&gt;bold&lt;/b&gt;</h1>" in rendered.html
    assert "<em>hi</em>" in rendered.html  # the markdown filter's output is trusted: already sanitized
    assert "onerror" not in rendered.html
    assert "<script>" not in rendered.html
    assert "News <b>bold</b>" in rendered.markdown  # the plain-text alternative


def test_errors_say_which_line():
    with pytest.raises(TemplateProblem, match=r"^Line 3: 'dict object' has no attribute 'nope'"):
        render_text("one\ntwo\n{{ cards[0].nope.deeper }}", CONTEXT)
    with pytest.raises(TemplateProblem, match=r"^Line 1: unexpected '}'"):
        render_text("{{ cards }", CONTEXT)


def test_ordinary_templates_just_work():
    text = render_text(
        "{{ workflow.name }}: {{ cards|length }} card, {{ cards[0].entries|map(attribute='title')|join(', ') }}"
        "{% for e in cards[0].entries %}{% if loop.last %} (last: {{ e.title|upper }}){% endif %}{% endfor %}",
        CONTEXT,
    )
    assert text == "Digest: 1 card, t1, t2 (last: T2)"
    assert render_line("  {{ workflow.name }}\n\n daily ", CONTEXT) == "Digest daily"


DOUBLED = "{% set ns = namespace(m=[1], n=[1]) %}{% for i in range(22) %}{% set ns.m = [ns.m, ns.m] %}{% endfor %}"


@pytest.mark.parametrize(
    "template",
    [
        # The same list nested in itself 22 times: 4 million ones once written out (2**60 at 60 levels,
        # which no filter that writes its input out, no == between two of them, ever finished).
        DOUBLED + "{{ ns.m|upper|length }}",
        DOUBLED + "{{ ns.m|e|length }}",
        DOUBLED + "{{ ns.m|wordcount }}",
        DOUBLED + "{% for i in range(22) %}{% set ns.n = [ns.n, ns.n] %}{% endfor %}{{ ns.m == ns.n }}",
        "{% set ns = namespace(d=1) %}{% for i in range(22) %}{% set ns.d = dict(a=ns.d, b=ns.d) %}{% endfor %}"
        "{{ ns.d|upper|length }}",
        # `~` of many long texts, a macro or {% set %} block that writes a long text many times, a chain
        # of filters that each lengthen the text: refused before the long text is built.
        "{% set s = 'x' * 150000 %}{{ (s" + " ~ s" * 30 + ")|length }}",
        "{% set s = 'x' * 150000 %}{% macro m() %}{% for i in range(100) %}{{ s }}{% endfor %}{% endmacro %}"
        "{{ m()|length }}",
        "{% set s = 'x' * 150000 %}{% set b %}{% for i in range(100) %}{{ s }}{% endfor %}{% endset %}{{ b|length }}",
        "{% set s = '&' * 150000 %}{{ s|forceescape|forceescape|forceescape|length }}",
        # cycler and a macro's varargs keep what they are given: the same list 40 times is too much.
        "{% set l = range(1000)|list %}{{ cycler(" + "l, " * 40 + "l).items|upper|length }}",
    ],
)
def test_values_that_grow_once_written_out_are_refused_as_they_are_made(template):
    tracemalloc.start()
    try:
        with pytest.raises(TemplateProblem, match=r"grows past|produces more than"):
            render_text(template, CONTEXT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # bytes: the long text was never built (tens of megabytes before)


def test_a_namespace_prints_as_a_name_not_its_contents():
    # Re-assigned after a list holding it was checked, a namespace could nest the same list in itself
    # without any new list growing: 4 million namespaces once written out, at 22 levels.
    template = (
        "{% set h = namespace(cur=namespace(v=1)) %}{% set top = [h.cur, h.cur] %}{% for i in range(22) %}"
        "{% set n = namespace(v=1) %}{% set c = h.cur %}{% set c.v = [n, n] %}{% set h.cur = n %}{% endfor %}"
        "{{ top|upper }}"
    )
    assert render_text(template, CONTEXT) == "[<NAMESPACE>, <NAMESPACE>]"


def test_a_macro_that_recurses_without_writing_anything_still_stops_in_time(settings):
    settings.WORKFLOW_TEMPLATE_TIMEOUT = 0.2
    started = time.process_time()  # CPU time: a busy machine lengthens the wall-clock, not the work
    template = "{% macro m(n) %}{% if n > 0 %}{% set a = m(n - 1) %}{% set b = m(n - 1) %}{% endif %}{% endmacro %}"
    with pytest.raises(TemplateProblem, match="took too long"):
        render_text(template + "{{ m(22) }}", CONTEXT)  # 4 million calls, none of them writing
    assert time.process_time() - started < 2


def test_namespaces_lists_and_macros_still_work_on_ordinary_data():
    template = (
        "{% set ns = namespace(total=0, seen=[]) %}{% for e in cards[0].entries %}"
        "{% set ns.total = ns.total + 1 %}{% set ns.seen = ns.seen + [e.title] %}{% endfor %}"
        "{% macro line(a, b) %}{{ a }}={{ b }}{% endmacro %}"
        "{{ line('n', ns.total) }} {{ ns.seen|join('+') }} {{ dict(x=[1, 2], y=(3,))|dictsort }} "
        "{{ 'a' ~ 1 ~ [2] }} {% set block %}{{ cards[0].title|upper }}{% endset %}{{ block }} {{ ns }}"
    )
    assert render_text(template, CONTEXT) == (
        "n=2 t1+t2 [('x', [1, 2]), ('y', (3,))] a1[2] NEWS <B>BOLD</B> <Namespace>"
    )
