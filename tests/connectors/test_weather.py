"""Weather against the Open-Meteo contract fake over real HTTP: one readable record per day,
imperial units, Open-Meteo's validation reasons shown as settings errors, 429 and 5xx."""

import datetime

import pytest

from connectors.errors import ConfigError, TransientError
from connectors.weather import conditions
from integrations.models import IntegrationType, JobStatus
from tests.connectors.helpers import live_items, sync
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.open_meteo import OpenMeteoFake

LONDON = {"latitude": "51.5072", "longitude": "-0.1276", "place_label": "London"}


@pytest.fixture
def owner(db):
    return seed_owner("weather")


@pytest.fixture
def meteo(allow_host, settings):
    fake = OpenMeteoFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"open_meteo": fake.url}
    yield fake
    fake.stop()


def _weather(owner, **config):
    return open_connector(owner, "weather", config=step_config("weather", "source", **{**LONDON, **config}))


def _label(offset: int) -> str:
    day = datetime.date.today() + datetime.timedelta(days=offset)
    return f"{day:%a} {day.day} {day:%b}"


def test_weather_is_available_and_keyless(owner):
    itype = IntegrationType.objects.get(slug="weather")
    assert itype.is_available
    assert itype.handler == "weather"
    assert itype.auth_kind == "none"


def test_query_returns_one_readable_record_per_day(owner, meteo):
    records = _weather(owner).query(step_config("weather", "source", **LONDON, forecast_days=3))

    assert [r.title for r in records] == [
        f"{_label(0)}: light rain, 3\u20139 °C",
        f"{_label(1)}: overcast, 6\u201311 °C",
        f"{_label(2)}: thunderstorm, 13\u201318 °C",
    ]
    rain = records[0]
    assert rain.summary == "Light rain. Precipitation 4.2 mm (80% chance); wind up to 24.5 km/h."
    assert rain.kind == "weather_forecast"
    assert rain.external_id == f"forecast:51.5072,-0.1276:{datetime.date.today().isoformat()}"
    assert rain.data["weather_code"] == 61
    assert rain.data["conditions"] == "light rain"
    assert rain.data["temperature_2m_max"] == 9.4
    assert rain.data["place"] == "London"
    assert rain.occurred_at.tzinfo.key == "Europe/London"
    seen = meteo.requests("GET", "/v1/forecast")[0]
    assert seen.args["timezone"] == "auto"
    assert seen.args["forecast_days"] == "3"
    assert seen.args["daily"].split(",")[0] == "weather_code"
    assert "Authorization" not in seen.headers


def test_imperial_units(owner, meteo):
    records = _weather(owner).query(step_config("weather", "source", **LONDON, units="imperial", forecast_days=1))
    assert records[0].title == f"{_label(0)}: light rain, 38\u201349 °F"
    assert "0.165 inch" in records[0].summary
    args = meteo.requests("GET")[0].args
    assert (args["temperature_unit"], args["wind_speed_unit"], args["precipitation_unit"]) == (
        "fahrenheit",
        "mph",
        "inch",
    )


def test_open_meteos_validation_reason_is_shown(owner, meteo):
    meteo.fail("GET", "/v1/forecast", 400, {"error": True, "reason": "Parameter 'daily' is invalid: weather_kode"})
    with pytest.raises(ConfigError, match="Open-Meteo did not accept the request: Parameter 'daily' is invalid"):
        _weather(owner).query({})


def test_impossible_coordinates_are_refused_before_any_request(owner, meteo):
    with pytest.raises(ConfigError, match="Latitude must be between -90 and 90") as exc:
        _weather(owner).query({"latitude": "91"})
    assert exc.value.field == "latitude"
    with pytest.raises(ConfigError, match="Longitude must be a number"):
        _weather(owner).query({"longitude": "west"})
    assert meteo.log == []


def test_a_429_is_waited_out(owner, meteo):
    meteo.fail(
        "GET",
        "/v1/forecast",
        429,
        {"error": True, "reason": "Minutely API request limit exceeded."},
        {"Retry-After": "1"},
    )
    assert len(_weather(owner).query({})) == 2
    first, second = meteo.requests("GET")
    assert second.at - first.at >= 1.0


def test_5xx_is_retried_then_reported_as_transient(owner, meteo, fast_backoff):
    meteo.fail("GET", "/v1/forecast", 503, "upstream down")
    assert len(_weather(owner).query({})) == 2
    meteo.fail("GET", "/v1/forecast", 503, "upstream down", times=10)
    with pytest.raises(TransientError, match="HTTP 503"):
        _weather(owner).query({})


def test_a_scheduled_sync_updates_each_day_in_place(owner, meteo):
    integration = _weather(owner).ctx.integration
    assert sync(integration).created == 2
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED
    assert (job.created, job.updated, job.unchanged) == (0, 0, 2)
    assert live_items(integration).count() == 2


def test_test_connection_names_the_place(owner, meteo):
    assert _weather(owner).test_connection() == f"London: {_label(0)}: light rain, 3\u20139 °C"
    assert meteo.requests("GET")[0].args["forecast_days"] == "1"


def test_every_wmo_code_has_words():
    assert conditions(0) == "clear sky"
    assert conditions(99) == "thunderstorm with heavy hail"
    assert conditions(42) == "weather code 42"
