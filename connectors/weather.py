"""Weather: the daily forecast from Open-Meteo's keyless forecast API, one record per day.

GET https://api.open-meteo.com/v1/forecast?latitude=&longitude=&daily=weather_code,
temperature_2m_max,temperature_2m_min,precipitation_sum,precipitation_probability_max,
wind_speed_10m_max&timezone=auto&forecast_days=N (+ temperature_unit=fahrenheit,
wind_speed_unit=mph, precipitation_unit=inch for imperial units). A bad parameter is answered
400 {"error": true, "reason": "..."}, reported as a settings error with that reason.

Each day is a record such as "Tue 24 Nov: light rain, 3-9 °C" (an en dash) whose external id is the place
and the date, so a later forecast for the same day updates it rather than adding another.

Docs: https://open-meteo.com/en/docs (parameters, daily variables, WMO weather codes).
"""

from __future__ import annotations

import datetime

from connectors.base import Connector, Record
from connectors.errors import ConfigError, ItemError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, QueryAsSync, api_base, json_or_empty, merged_config
from connectors.zones import zone_named

DAILY = [
    "weather_code",
    "temperature_2m_max",
    "temperature_2m_min",
    "precipitation_sum",
    "precipitation_probability_max",
    "wind_speed_10m_max",
]
IMPERIAL = {"temperature_unit": "fahrenheit", "wind_speed_unit": "mph", "precipitation_unit": "inch"}
WMO = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast", 45: "fog", 48: "freezing fog",
    51: "light drizzle", 53: "drizzle", 55: "dense drizzle", 56: "light freezing drizzle",
    57: "dense freezing drizzle", 61: "light rain", 63: "rain", 65: "heavy rain", 66: "light freezing rain",
    67: "heavy freezing rain", 71: "light snow", 73: "snow", 75: "heavy snow", 77: "snow grains",
    80: "light showers", 81: "showers", 82: "violent showers", 85: "light snow showers", 86: "heavy snow showers",
    95: "thunderstorm", 96: "thunderstorm with light hail", 99: "thunderstorm with heavy hail",
}  # fmt: skip


def conditions(code) -> str:
    return WMO.get(code, f"weather code {code}") if code is not None else "no forecast"


def _coordinate(value, name: str, label: str, limit: float) -> float:
    try:
        number = float(str(value).strip().replace(",", ".").replace("\u2212", "-"))
    except ValueError:
        raise ConfigError(f"{label} must be a number in decimal degrees.", field=name) from None
    if not -limit <= number <= limit:
        raise ConfigError(f"{label} must be between -{limit:g} and {limit:g}.", field=name)
    return number


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


@registry.register("weather")
class WeatherConnector(QueryAsSync, Connector):
    def test_connection(self) -> str:
        settings = {**self.config, "forecast_days": 1}
        records = self._forecast(settings)
        place = self._place(settings, records[0].data if records else {})
        return f"{place}: {records[0].title}" if records else place

    def query(self, config: dict) -> list[Record]:
        return self._forecast(merged_config(self, config))

    def _place(self, settings: dict, data: dict) -> str:
        label = (settings.get("place_label") or "").strip()
        return (
            label
            or f"{data.get('latitude', settings.get('latitude'))}, {data.get('longitude', settings.get('longitude'))}"
        )

    def _forecast(self, settings: dict) -> list[Record]:
        latitude = _coordinate(settings.get("latitude"), "latitude", "Latitude", 90)
        longitude = _coordinate(settings.get("longitude"), "longitude", "Longitude", 180)
        days = max(1, min(int(settings.get("forecast_days") or 2), 16))
        params = {
            "latitude": latitude,
            "longitude": longitude,
            "daily": ",".join(DAILY),
            "timezone": "auto",
            "forecast_days": days,
        }
        if settings.get("units") == "imperial":
            params.update(IMPERIAL)
        url = f"{api_base('open_meteo', 'https://api.open-meteo.com')}/v1/forecast"
        response = self.http.get(url, params=params, ok=ANY_STATUS)
        data = json_or_empty(response)
        if response.status_code == 400 or data.get("error"):
            raise ConfigError(
                f"Open-Meteo did not accept the request: {data.get('reason') or 'HTTP 400'}",
                remediation="Check the latitude, longitude and number of days.",
            )
        if response.status_code == 429:
            raise RateLimited("Open-Meteo's daily limit is used up.", retry_after=retry_after_seconds(response))
        if response.status_code >= 500:
            raise TransientError(f"Open-Meteo had an error (HTTP {response.status_code}).")
        if response.status_code != 200:
            raise ConfigError(f"Open-Meteo answered HTTP {response.status_code}.")
        return self._days(data, self._place(settings, {"latitude": latitude, "longitude": longitude}))

    def _days(self, data: dict, place: str) -> list[Record]:
        daily, units = data.get("daily") or {}, data.get("daily_units") or {}
        zone = zone_named(data.get("timezone")) or datetime.UTC
        lat, lon = data.get("latitude"), data.get("longitude")
        records = []
        for index, day in enumerate(daily.get("time") or []):
            values = {name: (daily.get(name) or [None] * (index + 1))[index] for name in DAILY}
            try:
                date = datetime.date.fromisoformat(day)
            except (TypeError, ValueError) as exc:
                raise ItemError(f"Open-Meteo sent an unreadable date: {day!r}") from exc
            words = conditions(values["weather_code"])
            unit = units.get("temperature_2m_max", "°C")
            low, high = values["temperature_2m_min"], values["temperature_2m_max"]
            temps = (
                f"{round(low)}\u2013{round(high)} {unit}" if low is not None and high is not None else "no temperatures"
            )
            rain = values["precipitation_sum"]
            summary = f"{words.capitalize()}. Precipitation {_number(rain)} {units.get('precipitation_sum', 'mm')}"
            if values["precipitation_probability_max"] is not None:
                summary += f" ({values['precipitation_probability_max']}% chance)"
            if values["wind_speed_10m_max"] is not None:
                summary += f"; wind up to {_number(values['wind_speed_10m_max'])} {units.get('wind_speed_10m_max', '')}"
            records.append(
                Record(
                    external_id=f"forecast:{lat},{lon}:{day}",
                    kind="weather_forecast",
                    title=f"{date:%a} {date.day} {date:%b}: {words}, {temps}",
                    summary=summary.strip() + ".",
                    occurred_at=datetime.datetime.combine(date, datetime.time(), tzinfo=zone),
                    data={
                        "date": day,
                        "place": place,
                        "latitude": lat,
                        "longitude": lon,
                        "timezone": data.get("timezone"),
                        "conditions": words,
                        **values,
                        "units": {name: units.get(name) for name in DAILY if name != "weather_code"},
                    },
                )
            )
        return records
