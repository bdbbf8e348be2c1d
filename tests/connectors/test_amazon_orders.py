"""Amazon "Request your data" order history imports (connectors/amazon_orders.py), through the
engine: orders over several shipments counted once, drifting column names, broken rows."""

from __future__ import annotations

import pytest

from connectors.amazon_orders import AmazonOrders
from connectors.errors import ConfigError
from tests.connectors.archive_helpers import import_files, import_killed_after_first_batch_then_resumed, items, zip_of
from tests.connectors.helpers import connect

HEADER = (
    '"Website","Order ID","Order Date","Purchase Order Number","Currency","Unit Price","Unit Price Tax",'
    '"Shipping Charge","Total Discounts","Total Owed","Shipment Item Subtotal","Shipment Item Subtotal Tax",'
    '"ASIN","Product Condition","Quantity","Payment Instrument Type","Order Status","Shipment Status","Ship Date",'
    '"Shipping Option","Shipping Address","Billing Address","Carrier Name & Tracking Number","Product Name",'
    '"Gift Message","Gift Sender Name","Gift Recipient Contact Details","Item Serial Number"\n'
)


def row(order, date, price, total, subtotal, asin, qty, name, ship="2023-01-06T10:00:00Z", status="Closed"):
    return (
        f'"Amazon.com","{order}","{date}","Not Applicable","USD","{price}","0.50","0","0","{total}","{subtotal}",'
        f'"1.00","{asin}","New","{qty}","Visa - 1234","{status}","Shipped","{ship}","standard",'
        f'"1 Sample Street","1 Sample Street","UPS(1Z)","{name}","Not Available","Not Available",'
        f'"Not Available","Not Available"\n'
    )


ORDERS = (
    HEADER
    # one order, two shipments: the shipment subtotal repeats on both rows of the first shipment
    + row("111-0000001-0000001", "2023-01-05T12:00:00Z", "10.00", "21.00", "20.00", "B01", 2, "Sample Socks")
    + row("111-0000002-0000002", "2023-02-01T08:00:00.000Z", "5.00", "5.50", "5.00", "B02", 1, "Pen")
    + row(
        "111-0000001-0000001",
        "2023-01-05T12:00:00Z",
        "3.00",
        "3.50",
        "20.00",
        "B03",
        1,
        "Laces",
        ship="2023-01-08T10:00:00Z",
    )
    + '"Amazon.com","111-0000003-0000003","2023-03-01"\n'
    + row("111-0000004-0000004", "sometime in May", "1.00", "1.00", "1.00", "B04", 1, "Undated")
    + row("111-0000005-0000005", "2023-04-01T08:00:00Z", "7.00", "7.50", "7.00", "B05", 1, "Mug")
)


@pytest.fixture
def amazon(catalogue, owner):
    return connect(owner, "amazon-orders")


def _zip(tmp_path, text=ORDERS, name="Your Orders.zip"):
    return zip_of(tmp_path / name, {"Retail.OrderHistory.1/Retail.OrderHistory.1.csv": text})


def test_orders_are_one_record_each_with_the_per_item_totals_summed_once(amazon, tmp_path):
    job = import_files(amazon, [_zip(tmp_path)])

    assert job.status == "partial"
    errors = [e["error"] for e in job.item_errors]
    assert errors[0] == (
        "Your Orders.zip: Retail.OrderHistory.1/Retail.OrderHistory.1.csv line 5: the row has 3 columns, "
        "the header 28 (no Currency, Unit Price, Unit Price Tax and 14 more)."
    )
    assert "line 6: an item of order 111-0000004-0000004 was skipped, the order date 'sometime in May'" in errors[1]
    socks = items(amazon).get(external_id="amazon:111-0000001-0000001")
    assert socks.kind == "order"
    assert socks.data["total"] == "24.50"  # 21.00 + 3.50, not the repeated shipment subtotals
    assert socks.data["currency"] == "USD"
    assert socks.data["date"] == "2023-01-05T12:00:00+00:00"
    assert socks.data["items"] == [
        {"title": "Sample Socks", "quantity": 2, "price": "10.00", "asin": "B01", "condition": "New"},
        {"title": "Laces", "quantity": 1, "price": "3.00", "asin": "B03", "condition": "New"},
    ]
    assert socks.data["shipments"] == [
        {"ship_date": "2023-01-06T10:00:00Z", "status": "Shipped", "carrier": "UPS(1Z)"},
        {"ship_date": "2023-01-08T10:00:00Z", "status": "Shipped", "carrier": "UPS(1Z)"},
    ]
    assert "1 Sample Street" not in str(socks.data)  # addresses are not imported
    assert set(items(amazon).values_list("external_id", flat=True)) == {
        "amazon:111-0000001-0000001",
        "amazon:111-0000002-0000002",
        "amazon:111-0000005-0000005",
    }


def test_a_newer_export_updates_an_order_and_adds_nothing_twice(amazon, tmp_path):
    import_files(amazon, [_zip(tmp_path)])
    socks = row("111-0000001-0000001", "2023-01-05T12:00:00Z", "10.00", "21.00", "20.00", "B01", 2, "Sample Socks")
    newer = ORDERS.replace(socks, socks.replace('"Closed"', '"Returned"'))
    job = import_files(amazon, [_zip(tmp_path, newer, "newer.zip")])
    assert job.created == 0
    assert job.updated == 1
    assert items(amazon).get(external_id="amazon:111-0000001-0000001").data["status"] == "Returned"


def test_renamed_columns_are_recognised(amazon, tmp_path):
    header = HEADER.replace('"Total Owed"', '"Item Total"').replace('"Order ID"', '"order_id"')
    path = tmp_path / "Retail.OrderHistory.2.csv"
    path.write_text(header + ORDERS[len(HEADER) :])
    import_files(amazon, [str(path)])
    assert items(amazon).get(external_id="amazon:111-0000002-0000002").data["total"] == "5.50"


def test_a_killed_import_resumes_with_the_exact_total(amazon, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 3
    text = HEADER + "".join(
        row(f"111-{n:07}-0000000", "2023-01-05T12:00:00Z", "1.00", "1.00", "1.00", f"A{n}", 1, f"Thing {n}")
        for n in range(25)
    )
    stored, job = import_killed_after_first_batch_then_resumed(amazon, [_zip(tmp_path, text)])
    assert 0 < stored < 25
    assert job.status == "succeeded"
    assert items(amazon).count() == 25


def test_sniff(tmp_path):
    assert AmazonOrders.sniff([_zip(tmp_path)]).startswith("Amazon order history, ")
    mint = tmp_path / "transactions.csv"
    mint.write_text('"Date","Description","Original Description","Amount","Transaction Type"\n')
    with pytest.raises(ConfigError, match=r"transactions.csv is a Mint transactions file, not an Amazon order history"):
        AmazonOrders.sniff([str(mint)])


def test_an_unreadable_quantity_skips_its_item_not_the_import(amazon, tmp_path):
    text = (
        HEADER
        + row("111-0000001-0000001", "2023-01-05T12:00:00Z", "10.00", "21.00", "20.00", "B01", 2, "Sample Socks")
        + row("111-0000002-0000002", "2023-01-05T12:00:00Z", "5.00", "5.50", "5.00", "B02", "two", "Pen")
        + row("111-0000003-0000003", "2023-01-05T12:00:00Z", "5.00", "5.50", "5.00", "B03", "1e999999", "Ink")
        + row("111-0000004-0000004", "2023-01-05T12:00:00Z", "5.00", "5.50", "5.00", "B04", "Not Available", "Cup")
    )
    job = import_files(amazon, [_zip(tmp_path, text)])

    assert job.status == "partial", job.error_message
    assert [e["error"] for e in job.item_errors] == [
        "Your Orders.zip: Retail.OrderHistory.1/Retail.OrderHistory.1.csv line 3: an item of order "
        "111-0000002-0000002 was skipped, the quantity 'two' is not a whole number.",
        "Your Orders.zip: Retail.OrderHistory.1/Retail.OrderHistory.1.csv line 4: an item of order "
        "111-0000003-0000003 was skipped, the quantity '1e999999' is not a whole number.",
    ]
    assert items(amazon).get(external_id="amazon:111-0000001-0000001").data["items"][0]["quantity"] == 2
    assert items(amazon).get(external_id="amazon:111-0000004-0000004").data["items"][0]["quantity"] == 1


def test_order_dates_rewritten_by_a_spreadsheet_are_read(amazon, tmp_path):
    """Excel shows "2023-01-05T12:00:00Z" as "1/5/2023 12:00" and saves it that way."""
    text = (
        HEADER
        + row("111-0000001-0000001", "1/5/2023 12:00", "10.00", "21.00", "20.00", "B01", 2, "Sample Socks")
        + row("111-0000002-0000002", "01/07/2023 9:05:30 PM", "5.00", "5.50", "5.00", "B02", 1, "Pen")
    )
    job = import_files(amazon, [_zip(tmp_path, text)])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert items(amazon).get(external_id="amazon:111-0000001-0000001").data["date"] == "2023-01-05T12:00:00+00:00"
    assert items(amazon).get(external_id="amazon:111-0000002-0000002").data["date"] == "2023-01-07T21:05:30+00:00"


def test_a_damaged_export_imports_the_orders_before_the_damage_and_names_it(amazon, tmp_path):
    import zipfile

    text = HEADER + "".join(
        row(f"111-{n:07}-0000000", "2023-01-05T12:00:00Z", "1.00", "1.00", "1.00", f"A{n}", 1, f"Thing {n}")
        for n in range(200)
    )
    path = tmp_path / "Your Orders.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("Retail.OrderHistory.1/Retail.OrderHistory.1.csv", text)
    data = bytearray(path.read_bytes())
    spot = data.index(b"Thing 199")  # its CRC no longer matches: zipfile raises at the member's end
    data[spot : spot + 9] = b"Thang 199"
    path.write_bytes(bytes(data))
    job = import_files(amazon, [str(path)])

    assert job.status == "partial", job.error_message
    assert job.item_errors[-1]["error"].startswith(
        "Your Orders.zip: Retail.OrderHistory.1/Retail.OrderHistory.1.csv is damaged or cut short after "
    )
    assert items(amazon).count() >= 150  # all but what was read with the damaged end


def test_other_files_of_the_orders_bundle_with_order_ids_and_asins_do_not_fail_the_import(amazon, tmp_path):
    """The "Your Orders" zip also holds returns, refunds and digital-item files; one with OrderID and
    ASIN columns but no order date is not an order history, so it is not read as one."""
    path = zip_of(
        tmp_path / "Your Orders.zip",
        {
            "Retail.OrderHistory.1/Retail.OrderHistory.1.csv": ORDERS,
            "Retail.CustomerReturns.1.1/Retail.CustomerReturns.1.1.csv": (
                '"OrderID","ReversalID","ASIN","AmountRefunded","Currency","RefundCompletionDate"\n'
                '"111-0000002-0000002","R1","B02","5.50","USD","2023-02-10"\n'
            ),
        },
    )
    job = import_files(amazon, [path])

    assert job.status == "partial", job.error_message  # the bad rows of ORDERS
    assert items(amazon).count() == 3


def test_an_export_resaved_by_a_european_spreadsheet_keeps_its_dates_and_amounts(amazon, tmp_path):
    """German Excel saves with semicolons, decimal commas and day-first dotted dates."""
    text = HEADER + row("111-0000001-0000001", "05.01.2023 12:00", "10,00", "21,00", "20,00", "B01", 2, "Socken")
    path = tmp_path / "Retail.OrderHistory.1.csv"
    path.write_bytes(text.replace('","', '";"').encode("cp1252"))
    job = import_files(amazon, [str(path)])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    order = items(amazon).get()
    assert order.data["date"] == "2023-01-05T12:00:00+00:00"
    assert order.data["total"] == "21.00"
    assert order.data["items"][0]["price"] == "10.00"


def test_an_export_resaved_in_a_day_first_locale_is_read_day_first_throughout(amazon, tmp_path):
    """A UK spreadsheet writes "13/01/2023 12:00": the file is day-first, so "05/02/2023" is 5 February."""
    text = (
        HEADER
        + row("111-0000001-0000001", "13/01/2023 12:00", "10.00", "21.00", "20.00", "B01", 2, "Sample Socks")
        + row("111-0000002-0000002", "05/02/2023 9:05", "5.00", "5.50", "5.00", "B02", 1, "Pen")
    )
    job = import_files(amazon, [_zip(tmp_path, text)])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    assert items(amazon).get(external_id="amazon:111-0000001-0000001").data["date"] == "2023-01-13T12:00:00+00:00"
    assert items(amazon).get(external_id="amazon:111-0000002-0000002").data["date"] == "2023-02-05T09:05:00+00:00"
