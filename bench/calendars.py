"""Generated iCalendar feeds for the benchmarks (realistic mix: time zones, all-day, recurrences)."""

import datetime


def ical_feed(events: int, *, recurring_every: int = 50) -> bytes:
    today = datetime.date.today()
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//MetaCortex bench//EN", "X-WR-CALNAME:Bench",
        "BEGIN:VTIMEZONE", "TZID:Europe/Paris",
        "BEGIN:STANDARD", "DTSTART:19701025T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100",
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
        "BEGIN:DAYLIGHT", "DTSTART:19700329T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT", "END:VTIMEZONE",
    ]  # fmt: skip
    for n in range(events):
        day = today + datetime.timedelta(days=(n % 300) - 20)
        lines += ["BEGIN:VEVENT", f"UID:bench-{n}@metacortex", "DTSTAMP:20260101T000000Z"]
        if n % 10 == 0:
            lines += [f"DTSTART;VALUE=DATE:{day:%Y%m%d}", f"DTEND;VALUE=DATE:{day + datetime.timedelta(days=1):%Y%m%d}"]
        else:
            lines += [f"DTSTART;TZID=Europe/Paris:{day:%Y%m%d}T{9 + n % 8:02d}0000",
                      f"DTEND;TZID=Europe/Paris:{day:%Y%m%d}T{10 + n % 8:02d}0000"]  # fmt: skip
        if recurring_every and n % recurring_every == 0:
            lines.append("RRULE:FREQ=WEEKLY;COUNT=4")
        lines += [
            f"SUMMARY:Event number {n}",
            f"DESCRIPTION:Agenda item {n} with a description long enough to need folding because it goes",
            "  beyond seventy-five octets on one line.",
            f"LOCATION:Room {n % 40}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()
