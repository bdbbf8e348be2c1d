"""Contract fake of Open-Meteo's forecast API.

Follows https://open-meteo.com/en/docs: GET /v1/forecast with latitude, longitude, daily=<comma
separated variables>, timezone=auto, forecast_days (0-16), temperature_unit=fahrenheit,
wind_speed_unit=mph, precipitation_unit=inch. Answers {"latitude", "longitude",
"generationtime_ms", "utc_offset_seconds", "timezone", "timezone_abbreviation", "elevation",
"daily_units": {...}, "daily": {"time": [...], <variable>: [...]}}; invalid parameters get 400
{"error": true, "reason": "..."} (reasons as the real service words them, e.g. "Latitude must be
in range of -90 to 90°. Given: 91.0."). No key, no auth.
"""

from __future__ import annotations

import datetime

from tests.fakes.contract import ContractFake

KNOWN_DAILY = {
    "weather_code": "wmo code",
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "precipitation_sum": "mm",
    "precipitation_probability_max": "%",
    "wind_speed_10m_max": "km/h",
}
# The forecast this fake serves, day by day from today: (code, max °C, min °C, mm, %, km/h).
DAYS = [(61, 9.4, 3.1, 4.2, 80, 24.5), (3, 11.0, 5.6, 0.0, 10, 12.0), (95, 18.2, 12.9, 22.6, 95, 40.3)]


class OpenMeteoFake(ContractFake):
    ROUTES = [("GET", r"/v1/forecast", "forecast")]

    def forecast(self, request, seen):
        args = request.args
        try:
            lat, lon = float(args["latitude"]), float(args["longitude"])
        except (KeyError, ValueError):
            return self._error("Parameter 'latitude' and 'longitude' must have the same number of elements")
        if not -90 <= lat <= 90:
            return self._error(f"Latitude must be in range of -90 to 90°. Given: {lat}.")
        if not -180 <= lon <= 180:
            return self._error(f"Longitude must be in range of -180 to 180°. Given: {lon}.")
        days = int(args.get("forecast_days", 7))
        if not 0 <= days <= 16:
            return self._error("Forecast days is invalid. Allowed range 0 to 16.")
        daily = [v for v in args.get("daily", "").split(",") if v]
        for name in daily:
            if name not in KNOWN_DAILY:
                return self._error(
                    f"Cannot initialize ForecastVariableDaily from invalid String value {name} for key daily"
                )
        fahrenheit = args.get("temperature_unit") == "fahrenheit"
        mph, inch = args.get("wind_speed_unit") == "mph", args.get("precipitation_unit") == "inch"
        zone = "Europe/London" if -10 <= lon <= 2 else "Europe/Berlin"
        today = datetime.date.today()
        series: dict = {"time": [(today + datetime.timedelta(days=i)).isoformat() for i in range(days)]}
        for column, name in enumerate(KNOWN_DAILY):
            if name not in daily:
                continue
            values = [DAYS[i % len(DAYS)][column] for i in range(days)]
            if name.startswith("temperature") and fahrenheit:
                values = [round(v * 9 / 5 + 32, 1) for v in values]
            if name == "precipitation_sum" and inch:
                values = [round(v / 25.4, 3) for v in values]
            if name == "wind_speed_10m_max" and mph:
                values = [round(v / 1.609, 1) for v in values]
            series[name] = values
        units = {"time": "iso8601"}
        for name in daily:
            unit = KNOWN_DAILY[name]
            if unit == "°C" and fahrenheit:
                unit = "°F"
            units[name] = {"mm": "inch" if inch else "mm", "km/h": "mp/h" if mph else "km/h"}.get(unit, unit)
        return self.json(
            {
                "latitude": round(lat, 4),
                "longitude": round(lon, 4),
                "generationtime_ms": 0.07,
                "utc_offset_seconds": 0,
                "timezone": zone,
                "timezone_abbreviation": "GMT" if zone == "Europe/London" else "CET",
                "elevation": 23.0,
                "daily_units": units,
                "daily": series,
            }
        )

    def _error(self, reason: str):
        return self.json({"error": True, "reason": reason}, status=400)
