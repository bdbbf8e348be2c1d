"""Generated iCalendar feeds for the benchmarks (realistic mix: time zones, all-day, recurrences
with exceptions).

With `recurring_every` = k, two events in every k recur:
- n % k == 0 (all-day): weekly, 4 times, the second occurrence removed by an EXDATE;
- n % k == 1 (timed, Europe/Paris): daily, 10 times, the third occurrence removed by an EXDATE
  and the fifth moved an hour later and renamed by an override (a second VEVENT with the same UID
  and a RECURRENCE-ID), as calendar apps publish an edited occurrence.
"""

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
        hour = 9 + n % 8
        lines += ["BEGIN:VEVENT", f"UID:bench-{n}@metacortex", "DTSTAMP:20260101T000000Z"]
        if n % 10 == 0:
            lines += [f"DTSTART;VALUE=DATE:{day:%Y%m%d}", f"DTEND;VALUE=DATE:{day + datetime.timedelta(days=1):%Y%m%d}"]
        else:
            lines += [f"DTSTART;TZID=Europe/Paris:{day:%Y%m%d}T{hour:02d}0000",
                      f"DTEND;TZID=Europe/Paris:{day:%Y%m%d}T{hour + 1:02d}0000"]  # fmt: skip
        override = None
        if recurring_every and n % recurring_every == 0:
            lines += ["RRULE:FREQ=WEEKLY;COUNT=4", f"EXDATE;VALUE=DATE:{day + datetime.timedelta(days=7):%Y%m%d}"]
        elif recurring_every and n % recurring_every == 1:
            lines += [
                "RRULE:FREQ=DAILY;COUNT=10",
                f"EXDATE;TZID=Europe/Paris:{day + datetime.timedelta(days=2):%Y%m%d}T{hour:02d}0000",
            ]
            override = day + datetime.timedelta(days=4)
        lines += [
            f"SUMMARY:Event number {n}",
            f"DESCRIPTION:Agenda item {n} with a description long enough to need folding because it goes",
            "  beyond seventy-five octets on one line.",
            f"LOCATION:Room {n % 40}",
            "END:VEVENT",
        ]
        if override is not None:
            lines += [
                "BEGIN:VEVENT", f"UID:bench-{n}@metacortex", "DTSTAMP:20260101T000000Z",
                f"RECURRENCE-ID;TZID=Europe/Paris:{override:%Y%m%d}T{hour:02d}0000",
                f"DTSTART;TZID=Europe/Paris:{override:%Y%m%d}T{hour + 1:02d}0000",
                f"DTEND;TZID=Europe/Paris:{override:%Y%m%d}T{hour + 2:02d}0000",
                f"SUMMARY:Event number {n} (moved)", f"LOCATION:Room {(n + 1) % 40}", "END:VEVENT",
            ]  # fmt: skip
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()
