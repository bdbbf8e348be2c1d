"""User-written output templates: Jinja2 in an immutable sandbox, with hard limits, then markdown
to sanitized HTML.

What a template can reach: plain data only (dicts, lists, strings, numbers, dates) built by
workflows.cards; never a model instance, a settings object or a request. What it cannot do:
- reach internals: ImmutableSandboxedEnvironment refuses `_`-prefixed and unsafe attributes and
  any mutation of lists and dicts; `str.format` and the padding/replacing string methods are
  refused (they can build huge strings from a short template);
- loop without end: every `for` loop draws from one per-render budget of iterations
  (WORKFLOW_TEMPLATE_MAX_ITERATIONS) and checks a wall-clock deadline
  (WORKFLOW_TEMPLATE_TIMEOUT); `range` stops at MAX_RANGE; recursive loops are refused; a macro
  calling itself ends in a RecursionError, reported like any other error;
- grow memory: every printed or concatenated value, and the result of `*`, `+`, `**`, `join`,
  `replace`, `indent`, `tojson`, `string`, ... is size-checked (WORKFLOW_TEMPLATE_MAX_OUTPUT
  characters), before it is built where that is possible; the whole output streams and stops at
  the same cap; `sum` adds numbers only, and filters that read a whole sequence at once (`list`,
  `sort`, `unique`, `min`, `max`, `groupby`, `join`, `sum`) count its items as loop iterations;
- build a small value that is huge once written out: every list, tuple and dict a template makes
  (literals, and what any call is given and returns) is size-checked as it is made, counting
  each place a shared value appears, so `[x, x]` nested 60 times is refused at the 17th level
  instead of becoming 2**60 characters inside `|upper` or `==`; lists and dicts cannot change
  afterwards (immutable sandbox) and `namespace()` objects print as `<Namespace>`, so what was
  checked stays true; a `~` is counted before its text is built, every filter's text result is
  checked, and what a macro, `{% set %}` block, call or filter block produced is counted before
  it is joined; every call checks the deadline, so a macro recursing into itself without output
  still stops in time;
- inject markup: HTML templates render with autoescape on; markdown templates are converted by
  markdown-it-py with raw HTML off, and every HTML result goes through connectors.text.clean_html (nh3).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from jinja2 import TemplateSyntaxError, nodes
from jinja2 import filters as jinja_filters
from jinja2.exceptions import SecurityError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer
from markdown_it import MarkdownIt
from markupsafe import Markup

from connectors.text import clean_html, html_to_text

MAX_RANGE = 1000
MAX_SOURCE = 20_000  # characters of template text
MAX_INT_BITS = 4096

SAFE_STR_METHODS = frozenset(
    {
        "lower", "upper", "title", "capitalize", "casefold", "swapcase", "strip", "lstrip", "rstrip",
        "startswith", "endswith", "split", "rsplit", "splitlines", "partition", "rpartition", "count",
        "find", "rfind", "removeprefix", "removesuffix", "isdigit", "isalpha", "isalnum", "isspace",
        "islower", "isupper", "istitle", "isnumeric", "isdecimal",
    }
)  # fmt: skip
# Filters that can turn a short template into a huge value (padding, fill values, wrap strings),
# or reach attributes by name, are removed; those that serialize or replace are size-checked.
REMOVED_FILTERS = ("attr", "batch", "center", "format", "pprint", "slice", "wordwrap")
# Filters that read a whole sequence in one call: each item they read counts like a loop iteration.
COUNTED_FILTERS = ("list", "unique", "sort", "min", "max", "groupby")


class TemplateLimitExceeded(SecurityError):
    pass


@dataclass
class Limits:
    iterations: int
    deadline: float
    max_chars: int

    def tick(self, count: int = 1):
        self.iterations -= count
        if self.iterations < 0:
            raise TemplateLimitExceeded("The template loops too much; simplify its loops.")
        if time.monotonic() > self.deadline:
            raise TemplateLimitExceeded("The template took too long to render.")


_limits: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("workflow_template_limits", default=None)
_shared: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("workflow_template_budget", default=None)


@contextlib.contextmanager
def shared_budget():
    """Every render inside shares one budget of loop iterations and one deadline. The template
    editor's preview and save check (web requests) compose one message per card, each with its
    title: together they cost what one template may, not 10 cards times the time limit."""
    token = _shared.set(_new_limits())
    try:
        yield
    finally:
        _shared.reset(token)


def _current() -> Limits:
    limits = _limits.get()
    return limits if limits is not None else _new_limits()  # outside render(): the defaults still apply


def _new_limits() -> Limits:
    return Limits(
        iterations=settings.WORKFLOW_TEMPLATE_MAX_ITERATIONS,
        deadline=time.monotonic() + settings.WORKFLOW_TEMPLATE_TIMEOUT,
        max_chars=settings.WORKFLOW_TEMPLATE_MAX_OUTPUT,
    )


# -- size estimates: computed without building the string ------------------------------------------
def _estimate(value, limit: int | None = None) -> int:
    """About how many characters `value` is once written out. A value shared in several places counts
    in each (that is what writing it out costs) but is measured once, and the measure stops once it
    passes `limit` (the output cap): a list nested in itself 60 times is measured in 60 steps."""
    limits = _current()
    limit = limits.max_chars if limit is None else limit
    sizes: dict[int, int] = {}  # id -> size, for containers already measured (they stay alive meanwhile)
    steps = 0

    def size(item, depth: int) -> int:
        nonlocal steps
        if isinstance(item, str):
            return len(item)
        if isinstance(item, int) and not isinstance(item, bool):
            return item.bit_length() // 3 + 1
        if not isinstance(item, dict | list | tuple | set | frozenset):
            return 32
        known = sizes.get(id(item))
        if known is not None:
            return known
        if depth > 20:
            raise TemplateLimitExceeded("The template's data is nested too deeply.")
        total = 2
        children = itertools.chain.from_iterable(item.items()) if isinstance(item, dict) else item
        for child in children:  # a dict's keys and values; each with its ", " or ": "
            steps += 1
            if not steps % 4096:
                limits.tick(0)  # a long walk still respects the deadline
            total += size(child, depth + 1) + 2
            if total > limit:
                break  # too big already: the exact size does not matter
        sizes[id(item)] = total
        return total

    return size(value, 0)


def _check(value, what: str = "A value"):
    limits = _current()
    if _estimate(value) > limits.max_chars:
        raise TemplateLimitExceeded(f"{what} in the template grows past {limits.max_chars} characters.")
    return value


# -- the guards the parser wires into every template -------------------------------------------------
def _loop_guard(iterable):
    limits = _current()
    if isinstance(iterable, int | float):
        raise TypeError("Only lists can be looped over.")
    for item in iterable:
        limits.tick()
        yield item


def _value_guard(value):
    """Every printed or concatenated expression: strings pass as they are (Markup stays Markup),
    containers are converted only after their size is known to be fine."""
    _current().tick(0)
    if isinstance(value, str):
        return _check(value)
    if isinstance(value, dict | list | tuple | set | frozenset):
        _check(value)
    return value


def _container_guard(value):
    """Every list, tuple and dict the template writes ([...], (...), {...}), as it is made."""
    return _check(value, "A list or dict")


def _result_guard(value):
    """Every filter's result: text a filter made longer (forceescape, urlize, upper...) is checked
    before a chain of them can grow it further."""
    if isinstance(value, str) and len(value) > _current().max_chars:
        raise TemplateLimitExceeded(f"A filter's result in the template grows past {_current().max_chars} characters.")
    return value


@jinja_filters.pass_eval_context
def _concat(eval_ctx, operands):
    """`a ~ b ~ c`: the operands' sizes are added up before the text is built."""
    limits, size = _current(), 0
    for operand in operands:
        size += _estimate(operand)
        if size > limits.max_chars:
            raise TemplateLimitExceeded(f"A ~ in the template grows past {limits.max_chars} characters.")
    return (markup_join if eval_ctx.autoescape else str_join)(operands)


def _join_output(pieces) -> str:
    """The environment's `concat`: what a macro, a {% set %} block, a call block or a filter block
    produced, counted before it is joined (the pieces may all be the same long string)."""
    pieces = pieces if isinstance(pieces, list) else list(pieces)
    limits = _current()
    if sum(map(len, pieces)) > limits.max_chars:
        raise TemplateLimitExceeded(
            f"A macro or block in the template produces more than {limits.max_chars} characters."
        )
    return "".join(pieces)


class _Namespace(Namespace):
    """namespace(): its attributes can be re-assigned after lists holding it were checked, so it
    prints as a name, never as its (possibly self-nested) contents."""

    def __repr__(self) -> str:
        return "<Namespace>"


def _safe_range(*args):
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimitExceeded(f"range() is limited to {MAX_RANGE} numbers in templates.")
    return numbers


def _join(eval_ctx, value, d="", attribute=None):
    items = list(_loop_guard(value))
    if attribute is not None:
        getter = jinja_filters.make_attrgetter(eval_ctx.environment, attribute)
        items = [getter(item) for item in items]
    # Counted, not built: the separators and the items' text, before the string exists.
    separator = jinja_filters.soft_str(d)
    size = len(separator) * max(0, len(items) - 1) + sum(_estimate(item) for item in items)
    if size > _current().max_chars:
        raise TemplateLimitExceeded(f"A join in the template grows past {_current().max_chars} characters.")
    return _check(jinja_filters.do_join(eval_ctx, items, separator), "A join")


def _sum(environment, iterable, attribute=None, start=0):
    """Numbers only (text and lists are joined with `join` or `~`), each item counted against the
    loop budget: Python's sum over lists (`|sum(start=[])`) is quadratic and would run unchecked."""
    if attribute is not None:
        iterable = map(jinja_filters.make_attrgetter(environment, attribute), iterable)
    total = _number(start)
    for item in _loop_guard(iterable):
        total = total + _number(item)
        _check_int(total)
    return total


def _number(value):
    if isinstance(value, int | float):
        return value
    raise TypeError("sum adds numbers only in templates; use join or ~ to put text or lists together.")


def _counted(name: str):
    """A builtin filter that reads its whole input at once (list, sort, unique, min, max, groupby):
    the same filter, with each item it reads counted against the loop budget and the deadline."""
    original = jinja_filters.FILTERS[name]
    position = 0 if getattr(original, "jinja_pass_arg", None) is None else 1  # after the environment

    @functools.wraps(original)  # keeps jinja's pass_environment / pass_eval_context marker
    def counted(*args, **kwargs):
        args = list(args)
        args[position] = _loop_guard(args[position])
        return original(*args, **kwargs)

    return counted


def _replace(eval_ctx, s, old, new, count=None):
    s, old, new = str(s), str(old), str(new)
    occurrences = (len(s) + 1) if old == "" else s.count(old)
    if count is not None:
        occurrences = min(occurrences, int(count))
    if len(s) + occurrences * len(new) > _current().max_chars:
        raise TemplateLimitExceeded("A replace in the template grows too large.")
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


def _indent(s, width=4, first=False, blank=False):
    if isinstance(width, int) and width > 40:
        raise TemplateLimitExceeded("indent() is limited to 40 spaces in templates.")
    if isinstance(width, str) and len(width) > 40:
        raise TemplateLimitExceeded("indent() is limited to 40 characters in templates.")
    text = jinja_filters.soft_str(s)
    pad = width if isinstance(width, int) else len(str(width))
    if len(text) + pad * (text.count("\n") + 1) > _current().max_chars:  # every line gets the padding
        raise TemplateLimitExceeded(f"An indent in the template grows past {_current().max_chars} characters.")
    return _check(jinja_filters.do_indent(s, width, first, blank), "An indent")


@jinja_filters.pass_eval_context
def _tojson(eval_ctx, value, indent=None):
    if indent is not None and (not isinstance(indent, int) or indent > 8):
        raise TemplateLimitExceeded("tojson() indents by 8 spaces at most in templates.")
    _check(value, "tojson")
    return _check(jinja_filters.do_tojson(eval_ctx, value, indent), "tojson")


def _string(value):
    _check(value, "A string conversion")
    return jinja_filters.soft_str(value)


def _urlencode(value):
    _check(value, "urlencode")
    return _check(jinja_filters.do_urlencode(value), "urlencode")


def _markdown_filter(text):
    _check(text, "markdown")
    return Markup(markdown_to_html(str(text or "")))  # noqa: S704 - sanitized by nh3 in markdown_to_html


def _to_local(value):
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return timezone.localtime(value)
    return value


def _datetime(value, fmt="%a %d %b %Y %H:%M"):
    if not hasattr(value, "strftime"):
        return value or ""
    return _to_local(value).strftime(str(fmt)[:100])


def _date(value, fmt="%a %d %b %Y"):
    return _datetime(value, fmt)


def _time(value, fmt="%H:%M"):
    return _datetime(value, fmt)


class HubSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(_join_output)

    def call(self, context, obj, /, *args, **kwargs):
        """Every call (macros, globals, methods): the deadline, then what it is given and what it
        returns, sized: dict(a=x, b=x), cycler(x, x) and a macro's varargs can repeat a value."""
        limits = _current()
        limits.tick(0)
        given = [args, {k: v for k, v in kwargs.items() if k not in ("_loop_vars", "_block_vars")}]
        if _estimate(given) > limits.max_chars:
            raise TemplateLimitExceeded(
                f"What a call in the template is given grows past {limits.max_chars} characters."
            )
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, str | dict | list | tuple | set | frozenset):
            _check(result, "A call's result")
        return result

    def is_safe_attribute(self, obj, attr, value):
        if isinstance(obj, str) and attr not in SAFE_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def unsafe_undefined(self, obj, attribute):
        # Refuse loudly (the default prints nothing), so the editor can say what was refused.
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe.")

    def wrap_str_format(self, value):
        if super().wrap_str_format(value) is None:
            return None

        def refused(*args, **kwargs):
            raise SecurityError("str.format is not available in templates; use ~ to join text.")

        return refused

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            raise SecurityError("The % operator on text is not available in templates; use ~ to join text.")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                repeated = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if repeated and _estimate(seq) * max(0, times) > _current().max_chars:
                    raise TemplateLimitExceeded("A repetition in the template grows too large.")
            _check_int(left), _check_int(right)
        if operator == "**" and _int_power_bits(left, right) > MAX_INT_BITS:
            raise TemplateLimitExceeded("A power in the template is too large.")
        result = super().call_binop(context, operator, left, right)
        _check_int(result)
        return _check(result) if isinstance(result, str | list | tuple) else result

    def _parse(self, source, name, filename):
        tree = _Guards().visit(super()._parse(source, name, filename))
        for node in tree.find_all(nodes.For):
            if node.recursive:
                raise TemplateSyntaxError("Recursive loops are not available in templates.", node.lineno)
            node.iter = _filter(node.iter, "__loop_guard")
        for output in tree.find_all(nodes.Output):
            output.nodes = [
                n if isinstance(n, nodes.TemplateData) else _filter(n, "__value_guard") for n in output.nodes
            ]
        return tree


class _Guards(NodeTransformer):
    """Wraps what a template builds: list, tuple and dict literals, `~`, and filter results."""

    def visit_List(self, node):
        return _filter(self.generic_visit(node), "__container_guard")

    visit_Dict = visit_List

    def visit_Tuple(self, node):
        node = self.generic_visit(node)
        return _filter(node, "__container_guard") if node.ctx == "load" else node  # not `for a, b in`

    def visit_Concat(self, node):
        node = self.generic_visit(node)
        return _filter(nodes.List(node.nodes, lineno=node.lineno), "__concat")

    def visit_Filter(self, node):
        node = self.generic_visit(node)
        return node if node.node is None else _filter(node, "__result_guard")  # None: a filter block's


def _guard_output(node):
    return node if isinstance(node, nodes.TemplateData) else _filter(node, "__value_guard")


def _int_power_bits(left, right) -> float:
    if not (isinstance(left, int) and isinstance(right, int)) or abs(left) <= 1 or right <= 0:
        return 0
    return right * math.log2(abs(left))


def _check_int(value):
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitExceeded("A number in the template is too large.")


def _filter(node, name):
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


def _environment(*, autoescape: bool) -> HubSandbox:
    env = HubSandbox(autoescape=autoescape, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    for name in REMOVED_FILTERS:
        env.filters.pop(name, None)
    env.filters.update(
        {
            "__loop_guard": _loop_guard,
            "__value_guard": _value_guard,
            "__container_guard": _container_guard,
            "__result_guard": _result_guard,
            "__concat": _concat,
            **{name: _counted(name) for name in COUNTED_FILTERS},
            "join": jinja_filters.pass_eval_context(_join),
            "sum": jinja_filters.pass_environment(_sum),
            "replace": jinja_filters.pass_eval_context(_replace),
            "indent": _indent,
            "tojson": _tojson,
            "string": _string,
            "urlencode": _urlencode,
            "markdown": _markdown_filter,
            "datetime": _datetime,
            "date": _date,
            "time": _time,
        }
    )
    env.globals.pop("lipsum", None)
    env.globals["range"] = _safe_range
    env.globals["namespace"] = _Namespace
    return env


ENVIRONMENTS = {False: _environment(autoescape=False), True: _environment(autoescape=True)}
_markdown = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])


class TemplateProblem(Exception):
    """A template that cannot be rendered: the message says where and why, for the user."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"Line {line}: {message}" if line else message)


@dataclass
class Rendered:
    markdown: str  # the text version (markdown, or the HTML template's text when format is html)
    html: str  # sanitized


def render_text(source: str, context: dict, *, html: bool = False) -> str:
    """Render `source` in the sandbox with the limits; raise TemplateProblem on any failure."""
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(f"The template is too long ({len(source)} characters; {MAX_SOURCE} at most).")
    env = ENVIRONMENTS[bool(html)]
    token = _limits.set(_shared.get() or _new_limits())
    try:
        template = env.from_string(source)
        limits = _current()
        pieces, size = [], 0
        for piece in template.generate(**context):
            size += len(piece)
            if size > limits.max_chars:
                raise TemplateLimitExceeded(f"The template's output is longer than {limits.max_chars} characters.")
            pieces.append(piece)
        return "".join(pieces)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "Syntax error.", exc.lineno) from None
    except RecursionError:
        raise TemplateProblem("The template calls itself without end.") from None
    except MemoryError:
        raise TemplateProblem("The template needs too much memory.") from None
    except Exception as exc:  # noqa: BLE001 - any template failure is the user's to fix, never a 500
        raise TemplateProblem(_describe(exc), _template_line(exc)) from None
    finally:
        _limits.reset(token)


def render(source: str, context: dict, *, html: bool = False) -> Rendered:
    text = render_text(source, context, html=html)
    if html:
        return Rendered(markdown=html_to_text(text) + "\n", html=sanitize(text))
    return Rendered(markdown=text.strip() + "\n" if text.strip() else "", html=markdown_to_html(text))


def render_line(source: str, context: dict, *, limit: int = 300) -> str:
    """A one-line template (a title): whitespace collapsed, no markup."""
    text = render_text(source, context, html=False)
    return " ".join(text.split())[:limit]


def markdown_to_html(text: str) -> str:
    return sanitize(_markdown.render(text or ""))


def sanitize(html: str) -> str:
    return clean_html(html)


def _describe(exc: Exception) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, SecurityError):
        return f"Not allowed: {message}"
    return message[:300]


def _template_line(exc: BaseException) -> int | None:
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
