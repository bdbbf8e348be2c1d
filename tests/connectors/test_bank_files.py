"""Quicken QIF, OFX 1.x (SGML) / 2.x (XML) and Mint CSV imports (connectors/quicken, connectors/mint),
through the engine, from the sample files in tests/data/archives/."""

from __future__ import annotations

import io
import shutil

import pytest

from connectors.errors import ConfigError
from connectors.mint import Mint
from connectors.quicken import Quicken, ofx
from connectors.quicken.money import amount, parse_date, unambiguous_order
from tests.connectors.archive_helpers import import_files, import_killed_after_first_batch_then_resumed, items
from tests.connectors.helpers import DATA, connect

FILES = DATA / "archives"


@pytest.fixture
def quicken(catalogue, owner):
    return connect(owner, "quicken", config={"date_order": "mdy"})


@pytest.fixture
def mint(catalogue, owner):
    return connect(owner, "mint")


def _copy(tmp_path, name: str, as_name: str | None = None) -> str:
    target = tmp_path / (as_name or name)
    shutil.copy(FILES / name, target)
    return str(target)


def by_id(integration) -> dict:
    return {item.data["transaction_id"]: item for item in items(integration)}


def test_an_ofx_1x_sgml_statement_is_imported_keyed_by_account_and_fitid(quicken, tmp_path):
    job = import_files(quicken, [_copy(tmp_path, "statement-1x.ofx")])

    assert job.status == "partial"
    assert [e["error"] for e in job.item_errors] == [
        "statement-1x.ofx line 42: transaction skipped, the date '20240399' is not an OFX date (YYYYMMDD...)."
    ]
    found = by_id(quicken)
    assert set(found) == {"A-0001", "A-0002", "A-0004"}
    coffee = found["A-0001"]
    assert coffee.external_id == "ofx:12345678/000111222:A-0001"
    assert coffee.kind == "transaction"
    assert coffee.data["amount"] == "-12.50"
    assert coffee.data["currency"] == "EUR"
    assert coffee.data["date"] == "2024-03-01"
    assert coffee.data["payee"] == "Cafe Sample & Co"
    assert coffee.data["memo"] == "Card payment"
    assert coffee.data["account"] == "Checking"
    assert coffee.data["account_id"] == "000111222"
    assert found["A-0002"].data["amount"] == "1500.00"  # a decimal comma
    assert found["A-0004"].data["number"] == "1001"


def test_an_ofx_2x_xml_statement_and_a_reimport_adds_nothing(quicken, tmp_path):
    path = _copy(tmp_path, "statement-2x.ofx", "card.qfx")
    first = import_files(quicken, [path])
    assert first.status == "succeeded", first.error_message
    found = by_id(quicken)
    assert found["CC-77"].data["amount"] == "-25.99"
    assert found["CC-77"].data["currency"] == "USD"
    assert found["CC-77"].data["account"] == "Credit card"
    assert found["CC-78"].data["payee"] == "Refund <partial>"

    again = import_files(quicken, [path, _copy(tmp_path, "statement-1x.ofx")])
    assert again.created == 3
    assert again.updated == 0
    assert items(quicken).count() == 5


def test_a_qif_with_day_first_dates_is_read_day_first_throughout(quicken, tmp_path):
    job = import_files(quicken, [_copy(tmp_path, "day-first.qif")])

    assert job.status == "partial"
    assert [e["error"] for e in job.item_errors] == [
        "day-first.qif line 23: transaction skipped, the date 'March 5th' is in an unknown format."
    ]
    bakery = items(quicken, data__payee="Bakery")
    assert bakery.count() == 2  # two equal purchases on one day stay two
    assert set(bakery.values_list("data__date", flat=True)) == {"2024-04-03"}  # 3 April, not March 4
    first = bakery.first()
    assert first.data["account"] == "Everyday Account"
    assert first.data["category"] == "Food:Groceries"
    assert first.data["amount"] == "-10.00"
    salary = items(quicken, data__payee="Employer").get()
    assert salary.data["amount"] == "1200.00"
    assert salary.data["date"] == "2024-04-25"
    market = items(quicken, data__payee="Supermarket").get()
    assert market.data["splits"] == [
        {"category": "Food:Groceries", "amount": "-45.00"},
        {"category": "Household", "memo": "Detergent", "amount": "-15.00"},
    ]
    assert items(quicken).count() == 4
    again = import_files(quicken, [_copy(tmp_path, "day-first.qif", "copy.qif")])
    assert again.created == 0


def test_a_qif_without_an_unambiguous_date_uses_the_setting_and_says_so(catalogue, owner, tmp_path):
    quicken = connect(owner, "quicken", config={"date_order": "dmy"})
    path = tmp_path / "short.qif"
    path.write_text("!Type:CCard\nD01/02/2024\nT-5.00\nPShop\n^\n")
    job = import_files(quicken, [str(path)])

    assert items(quicken).get().data["date"] == "2024-02-01"
    assert job.status == "partial"
    assert "they were read as day/month/year" in job.remediation


def test_a_mint_csv_takes_its_sign_from_the_transaction_type(mint, tmp_path):
    job = import_files(mint, [_copy(tmp_path, "transactions.csv")])

    assert job.status == "partial"
    assert [e["error"] for e in job.item_errors] == [
        "transactions.csv line 5: the row has 3 columns, the header 9 "
        "(no Amount, Transaction Type, Category and 3 more).",
        "transactions.csv line 6: row skipped, the date '17/01/2020' does not exist.",
    ]
    coffee = items(mint, data__payee="Coffee Shop")
    assert coffee.count() == 2
    assert {item.data["amount"] for item in coffee} == {"-3.50"}
    pay = items(mint, data__payee="Paycheck").get()
    assert pay.data["amount"] == "2000.00"
    assert pay.data["date"] == "2020-01-16"
    assert pay.data["labels"] == ["work", "salary"]
    assert pay.data["memo"] == "January"
    assert pay.data["account"] == "Checking"
    assert items(mint).count() == 4
    assert import_files(mint, [_copy(tmp_path, "transactions.csv", "again.csv")]).created == 0


def test_a_killed_mint_import_resumes_with_the_exact_total(mint, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 4
    path = tmp_path / "big.csv"
    rows = [f'"2/{1 + n % 28}/2021","Shop {n}","SHOP {n}","{n}.25","debit","Misc","Card","",""' for n in range(30)]
    path.write_text((FILES / "transactions.csv").read_text().splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    stored, job = import_killed_after_first_batch_then_resumed(mint, [str(path)])
    assert 0 < stored < 30
    assert job.status == "succeeded"
    assert items(mint).count() == 30


def test_a_windows_1252_qif_keeps_its_accents(quicken, tmp_path):
    path = tmp_path / "old.qif"
    path.write_bytes("!Type:Bank\nD12/24/2023\nT-8.90\nPCafé Müller\n^\n".encode("cp1252"))
    import_files(quicken, [str(path)])
    assert items(quicken).get().data["payee"] == "Café Müller"


def test_the_ofx_tokenizer_gives_the_same_tags_and_lines_whatever_the_chunk_size():
    text = (FILES / "statement-1x.ofx").read_text()
    whole = list(ofx.tokens(io.StringIO(text)))
    assert whole == list(ofx.tokens(io.StringIO(text), chunk_size=7))
    assert (False, "STMTTRN", "", 27) in whole


def test_amounts_and_dates():
    assert amount("1.234,56") == amount("1,234.56") == amount("$1234.56")
    assert str(amount("(12.00)")) == "-12.00"
    assert unambiguous_order("25/12/2020") == "dmy"
    assert unambiguous_order("12/25/2020") == "mdy"
    assert unambiguous_order("12/11/2020") is None
    assert parse_date("1/15'05", "mdy").isoformat() == "2005-01-15"
    assert parse_date("2020-01-15", "dmy").isoformat() == "2020-01-15"
    with pytest.raises(ValueError, match="unknown format"):
        parse_date("15 Jan 2020", "mdy")
    with pytest.raises(ValueError, match="is not a number"):
        amount("twelve")


def test_sniff_names_the_wrong_file(tmp_path):
    assert Quicken.sniff([_copy(tmp_path, "statement-1x.ofx")]).startswith("Quicken QIF or OFX file, ")
    assert Mint.sniff([_copy(tmp_path, "transactions.csv")]).startswith("Mint transactions file, ")
    with pytest.raises(ConfigError, match=r"statement-1x.ofx is an OFX bank statement, not a Mint transactions file"):
        Mint.sniff([_copy(tmp_path, "statement-1x.ofx")])
    with pytest.raises(
        ConfigError, match=r"transactions.csv is a Mint transactions file, not a Quicken QIF or OFX file"
    ):
        Quicken.sniff([_copy(tmp_path, "transactions.csv")])


MINT_RESAVED = (
    '"Date","Description","Original Description","Amount","Transaction Type","Category","Account Name","Labels",'
    '"Notes"\n'
    '"1/02/2024","Café Crème","CAFE CREME 123","4.50","debit","Coffee Shops","Visa","",""\n'
    '"1/03/2024","Paycheck","ACME PAYROLL","1234.56","credit","Paycheck","Checking","work, salary",""\n'
)


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(MINT_RESAVED.replace("\n", "\r\n").encode("cp1252"), id="excel-csv-windows-1252"),
        pytest.param(
            MINT_RESAVED.replace('","', '"\t"').replace("\n", "\r\n").encode("utf-16"), id="excel-unicode-text"
        ),
        pytest.param(MINT_RESAVED.encode("utf-16-be"), id="utf-16-without-bom"),
        pytest.param(
            MINT_RESAVED.replace('","', '";"').replace("4.50", "4,50").replace("1/02/2024", "02.01.2024").encode(),
            id="semicolons-decimal-comma-dotted-date",
        ),
    ],
)
def test_a_mint_csv_resaved_by_excel_imports_with_its_accents(mint, tmp_path, encoded):
    path = tmp_path / "transactions.csv"
    path.write_bytes(encoded)
    job = import_files(mint, [str(path)])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    coffee = items(mint, data__payee="Café Crème").get()
    assert coffee.data["amount"] == "-4.50"
    assert coffee.data["date"] == "2024-01-02"
    assert coffee.data["original_description"] == "CAFE CREME 123"
    assert items(mint, data__payee="Paycheck").get().data["labels"] == ["work", "salary"]


def test_nul_bytes_in_a_mint_csv_are_dropped_not_stored(mint, tmp_path):
    """PostgreSQL cannot store NUL in text: a stray NUL byte (a damaged or padded file) must not
    reach a record, where it would fail the whole batch."""
    path = tmp_path / "transactions.csv"
    path.write_bytes(MINT_RESAVED.encode().replace(b"ACME", b"AC\x00ME") + b"\x00" * 300)
    job = import_files(mint, [str(path)])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert items(mint, data__original_description="ACME PAYROLL").count() == 1
    assert not [item for item in items(mint) if "\x00" in str(item.data) + item.title]


def test_a_qif_saved_as_unicode_text_and_an_ofx_with_an_unknown_encoding_are_read(quicken, tmp_path):
    qif = tmp_path / "saved.qif"
    qif.write_bytes("!Type:Bank\r\nD12/24/2023\r\nT-8.90\r\nPCafé Müller\r\n^\r\n".encode("utf-16"))
    ofx_file = tmp_path / "bank.ofx"
    ofx_file.write_bytes(
        b'<?xml version="1.0" encoding="no-such-charset"?><OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR'
        b"<BANKACCTFROM><BANKID>1<ACCTID>2</BANKACCTFROM><BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT"
        b"<DTPOSTED>20240301<TRNAMT>-3.50<FITID>A1<NAME>Caf\xe9 Br\xfbl\xe9</STMTTRN></BANKTRANLIST></STMTRS>"
        b"</STMTTRNRS></BANKMSGSRSV1></OFX>"
    )
    job = import_files(quicken, [str(qif), str(ofx_file)])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert sorted(item.data["payee"] for item in items(quicken)) == ["Café Brûlé", "Café Müller"]


def test_a_damaged_qif_in_a_zip_imports_what_comes_before_the_damage(quicken, tmp_path):
    import zipfile

    # Every date ambiguous: the pass that decides the date order reads the whole file.
    qif = "!Type:Bank\n" + "".join(f"D12/{1 + n % 12}/2023\nT-{n}.00\nPShop {n}\n^\n" for n in range(2000))
    path = tmp_path / "bank.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("bank.qif", qif)
    data = bytearray(path.read_bytes())
    spot = data.index(b"Shop 1999")  # its CRC no longer matches: zipfile raises at the member's end
    data[spot : spot + 9] = b"Shoq 1999"
    path.write_bytes(bytes(data))
    job = import_files(quicken, [str(path)])

    assert job.status == "partial", job.error_message
    assert job.item_errors[-1]["error"].startswith("bank.zip: bank.qif is damaged or cut short after ")
    assert items(quicken).count() >= 1500  # all but what was read with the damaged end


def test_an_export_with_only_its_header_row_says_it_held_nothing(mint, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text((FILES / "transactions.csv").read_text().splitlines()[0] + "\n")
    job = import_files(mint, [str(path)])
    assert job.status == "succeeded"
    assert job.seen == 0
    assert "held no records to import" in job.remediation

    # A re-import of a file already imported reads its records again: nothing to say then.
    full = import_files(mint, [_copy(tmp_path, "transactions.csv")])
    again = import_files(mint, [_copy(tmp_path, "transactions.csv", "again.csv")])
    assert full.seen
    assert again.seen
    assert "held no records" not in again.remediation


def test_a_mint_csv_resaved_in_a_day_first_locale_is_read_day_first_throughout(mint, tmp_path):
    """A UK Excel re-save writes every date day-first: "25/01/2024" proves it, so "05/02/2024" is
    5 February, not 2 May. A file whose dates prove both orders keeps reading each month-first."""
    path = tmp_path / "transactions.csv"
    path.write_text(
        MINT_RESAVED.replace("1/02/2024", "05/02/2024").replace("1/03/2024", "25/01/2024"), encoding="utf-8"
    )
    job = import_files(mint, [str(path)])
    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert items(mint, data__payee="Café Crème").get().data["date"] == "2024-02-05"
    assert items(mint, data__payee="Paycheck").get().data["date"] == "2024-01-25"


def test_the_date_order_a_whole_file_proves():
    from connectors.quicken.money import file_order

    assert file_order(["05/02/2024", "25/01/2024"]) == "dmy"
    assert file_order(["05/02/2024", "01/25/2024"]) is None  # month-first proven: read as such
    assert file_order(["25/01/2024", "01/25/2024"]) is None  # both: each date read alone
    assert file_order(["05/02/2024", "2024-01-25", ""]) is None
