"""Perplexity against its contract fake over real HTTP: the answer with its citations, a key
check that pays for nothing, and 401 / 400 / 429 / 5xx in plain words."""

import pytest

from connectors.errors import AuthError, ConfigError, TransientError
from integrations.models import IntegrationType, JobStatus
from tests.connectors.helpers import live_items, sync
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.perplexity import API_KEY, PerplexityFake

QUESTION = "What happened this week in European climate policy?\nKeep it short."


@pytest.fixture
def owner(db):
    return seed_owner("perplexity")


@pytest.fixture
def perplexity(allow_host, settings):
    fake = PerplexityFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"perplexity": fake.url}
    yield fake
    fake.stop()


def _ask(owner, key=API_KEY, **config):
    settings = step_config("perplexity", "source", prompt=QUESTION, **config)
    return open_connector(owner, "perplexity", secrets={"api_key": key}, config=settings)


def test_perplexity_is_available_and_registered(owner):
    itype = IntegrationType.objects.get(slug="perplexity")
    assert itype.is_available
    assert itype.handler == "perplexity"


def test_the_answer_is_kept_with_its_citations(owner, perplexity):
    (record,) = _ask(owner).query(step_config("perplexity", "source", prompt=QUESTION, model="sonar-pro"))

    assert record.kind == "answer"
    assert record.title == "What happened this week in European climate policy?"
    assert record.summary.startswith("The EU adopted its 2040 climate target this week [1]")
    assert record.data["citations"] == ["https://example.eu/climate-2040", "https://example.de/waermepumpe"]
    assert record.data["search_results"][0]["title"] == "EU 2040 target adopted"
    assert record.data["model"] == "sonar-pro"
    assert record.data["usage"]["num_search_queries"] == 1
    assert record.occurred_at is not None
    sent = perplexity.requests("POST")[0]
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.json == {
        "model": "sonar-pro",
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 1024,
    }


def test_a_refused_key_is_an_auth_error_even_with_an_html_body(owner, perplexity):
    with pytest.raises(AuthError, match="refused the API key") as exc:
        _ask(owner, key="pplx-revoked").query({})
    assert "Create a new key" in exc.value.remediation


def test_test_connection_checks_the_key_without_paying_for_an_answer(owner, perplexity):
    assert _ask(owner).test_connection() == "API key accepted (checked without asking a question)"
    assert perplexity.answered == 0
    with pytest.raises(AuthError):
        _ask(owner, key="pplx-wrong").test_connection()


def test_perplexitys_validation_message_is_shown(owner, perplexity):
    with pytest.raises(ConfigError, match="Invalid model 'sonar-huge'"):
        _ask(owner).query({"model": "sonar-huge"})


def test_a_429_is_waited_out_for_a_post_too(owner, perplexity):
    perplexity.fail("POST", "/chat/completions", 429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
    assert len(_ask(owner).query({})) == 1
    first, second = perplexity.requests("POST")
    assert second.at - first.at >= 1.0


def test_a_5xx_is_retried_because_asking_again_changes_nothing(owner, perplexity, fast_backoff):
    perplexity.fail("POST", "/chat/completions", 502, "<html>Bad Gateway</html>", times=2)
    assert len(_ask(owner).query({})) == 1
    assert len(perplexity.requests("POST")) == 3
    assert perplexity.answered == 1


def test_an_outage_ends_as_a_transient_error(owner, perplexity, fast_backoff):
    perplexity.fail("POST", "/chat/completions", 503, "down", times=10)
    with pytest.raises(TransientError, match="HTTP 503"):
        _ask(owner).query({})


def test_each_scheduled_run_keeps_a_new_answer(owner, perplexity):
    integration = _ask(owner).ctx.integration
    assert sync(integration).status == JobStatus.SUCCEEDED
    perplexity.answer = "Nothing new this week."
    sync(integration)
    assert sorted(live_items(integration).values_list("summary", flat=True))[0] == "Nothing new this week."
    assert live_items(integration).count() == 2
