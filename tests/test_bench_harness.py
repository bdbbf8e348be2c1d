"""The bench harness's arithmetic and table: ratios are the median of per-round ratios, rounds a
contender skipped are left out of its pairs, and the second database's column is merged by
scenario."""

from bench.harness import Report, Rounds, median_ratio


def test_ratio_is_the_median_of_per_round_ratios_not_the_ratio_of_medians():
    hub = [2.0, 10.0, 3.0]  # round 2 hit a slow moment of the machine for both contenders
    floor = [1.0, 5.0, 1.0]
    # per round: 2.0, 2.0, 3.0 -> median 2.0; the ratio of the medians would be 3.0 / 1.0 = 3.0
    assert median_ratio(hub, floor) == 2.0


def test_rounds_pair_times_by_round_when_a_contender_skips_one():
    rounds = Rounds()
    for i, (hub, peer) in enumerate([(1.0, 4.0), (2.0, None), (3.0, 6.0)]):
        rounds.start()
        rounds.record("hub", hub)
        if peer is not None:
            rounds.record("peer", peer)
        assert rounds.count == i + 1
    assert rounds.times["peer"] == [4.0, None, 6.0]
    assert rounds.ratio("hub", "peer") == (1.0 / 4.0 + 3.0 / 6.0) / 2
    assert rounds.median("peer") == 5.0
    assert not rounds.has("floor")
    assert rounds.ratio("hub", "floor") is None


def test_a_contender_first_timed_in_a_later_round_is_paired_with_that_round():
    rounds = Rounds()
    rounds.start()
    rounds.record("hub", 1.0)
    rounds.start()
    rounds.record("hub", 2.0)
    rounds.record("floor", 4.0)
    assert rounds.times["floor"] == [None, 4.0]
    assert rounds.ratio("hub", "floor") == 0.5


def test_second_database_column_is_merged_by_scenario(tmp_path):
    pg = Report(primary="PG", durability={"PG": "fsync=on"})
    pg.add(scenario="full sync", ours=2.0, baseline_name="floor", baseline=1.0, measured_ratio=1.9, target="<= 2x")
    pg.add(scenario="vs peer", ours=2.0, baseline_name="peer", baseline=4.0)
    pg.add(scenario="memory", ours=120.0, unit="MB")
    sqlite = Report(primary="SQLite", durability={"SQLite": "journal_mode=wal"})
    sqlite.add(scenario="full sync", ours=1.5, baseline_name="floor", baseline=1.0, measured_ratio=1.4)
    sqlite.dump(tmp_path / "sqlite.json")

    pg.merge_secondary(Report.load(tmp_path / "sqlite.json"))

    table = pg.markdown().splitlines()
    assert table[0] == "| scenario | hub (PG) | hub (SQLite) | baseline | ratio (PG) | target | met |"
    assert table[2] == "| full sync | 2.000 s | 1.500 s | floor: 1.000 s | 1.90x | <= 2x |  |"
    assert table[3] == "| vs peer | 2.000 s |  | peer: 4.000 s | 0.50x |  |  |"
    assert table[4].startswith("| memory | 120.000 MB |  |")
    assert "- full sync: SQLite ratio 1.40x" in table
    assert "- Durability, hub (SQLite): journal_mode=wal" in table


def test_one_database_keeps_the_plain_columns():
    report = Report(primary="SQLite", notes=["PostgreSQL is not reachable"])
    report.add(scenario="s", ours=1.0, baseline_name="floor", baseline=2.0)
    lines = report.markdown().splitlines()
    assert lines[0] == "| scenario | hub (SQLite) | baseline | ratio | target | met |"
    assert lines[2] == "| s | 1.000 s | floor: 2.000 s | 0.50x |  |  |"
    assert lines[-1] == "- PostgreSQL is not reachable"


def test_the_bench_database_is_created_from_the_servers_maintenance_database_and_shown_without_password():
    from bench.__main__ import _display, _maintenance

    url = "postgres://bench:secret@db.example:5433/metacortex_bench?sslmode=disable"
    assert _maintenance(url) == ("postgres://bench:secret@db.example:5433/postgres?sslmode=disable", "metacortex_bench")
    assert _display(url) == "postgres://bench@db.example:5433/metacortex_bench"
