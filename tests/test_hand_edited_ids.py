"""An id edited by hand in a form or an address (a word, a number no database id can be) is "no such
thing" (404) or no filter at all, never a server error."""

import pytest

from integrations.models import IntegrationType
from tests.factories import make_integration

pytestmark = pytest.mark.usefixtures("catalogue")
HUGE = "99999999999999999999999"  # larger than any 64-bit id


@pytest.mark.parametrize("value", ["abc", "1e5", "-1", HUGE])
def test_plaid_linking_for_an_integration_that_cannot_exist_is_404(owner_client, value):
    assert owner_client.post("/plaid/link/start/", {"integration": value}).status_code == 404


@pytest.mark.parametrize("name", ["source", "place", "person"])
@pytest.mark.parametrize("value", ["abc", HUGE, "-5"])
def test_timeline_filters_with_an_impossible_id_show_the_unfiltered_day(owner_client, owner, name, value):
    make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Feed")
    response = owner_client.get("/timeline/", {name: value})
    assert response.status_code == 200
    assert response.context["place"] is None
    assert response.context["person"] is None
