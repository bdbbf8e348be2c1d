"""Contract fake of the Mailchimp Marketing API (campaigns, content, actions, audiences, ping).

Follows
- https://mailchimp.com/developer/marketing/docs/fundamentals/#api-structure: base
  https://<dc>.api.mailchimp.com/3.0, HTTP basic auth with any user name and the key as password.
- https://mailchimp.com/developer/marketing/docs/errors/: application/problem+json {"type",
  "title", "status", "detail", "instance"}; 401 "API Key Missing" / "API Key Invalid" ("Your API
  key may be invalid, or you've attempted to access the wrong datacenter."); 400 "Invalid
  Resource" with an "errors" array of {"field", "message"}; 404 "Resource Not Found".
- https://mailchimp.com/developer/marketing/api/campaigns/: POST /campaigns (status "save"),
  PUT /campaigns/{id}/content, POST /campaigns/{id}/actions/send and /actions/schedule (204;
  schedule_time must be in the future and on a quarter hour), DELETE /campaigns/{id} (204).
- https://mailchimp.com/developer/marketing/api/ping/ and /lists.
- https://mailchimp.com/help/all-the-merge-tags-cheat-sheet/ and
  https://mailchimp.com/help/rss-merge-tags/: Mailchimp evaluates every *|TAG|* in a campaign's
  HTML, text and links when it sends (recipient data such as *|EMAIL|*, conditions
  *|IF:...|*, and *|FEEDBLOCK:url|* which pulls in another site's feed). merge_tags() lists them.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import re
import uuid

from werkzeug import Response

from tests.fakes.contract import ContractFake

API_KEY = "0123456789abcdef0123456789abcdef-us21"
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"


MERGE_TAG = re.compile(r"\*\|([^|*]+)\|\*")


def merge_tags(html: str) -> list[str]:
    """The merge tags Mailchimp would evaluate in a campaign's HTML."""
    return MERGE_TAG.findall(html or "")


class MailchimpFake(ContractFake):
    ROUTES = [
        ("GET", r"/3\.0/ping", "ping"),
        ("GET", r"/3\.0/lists", "lists"),
        ("GET", r"/3\.0/lists/(?P<list_id>\w+)", "one_list"),
        ("POST", r"/3\.0/campaigns", "create"),
        ("PUT", r"/3\.0/campaigns/(?P<cid>\w+)/content", "content"),
        ("POST", r"/3\.0/campaigns/(?P<cid>\w+)/actions/send", "send"),
        ("POST", r"/3\.0/campaigns/(?P<cid>\w+)/actions/schedule", "schedule"),
        ("DELETE", r"/3\.0/campaigns/(?P<cid>\w+)", "delete"),
    ]

    def __init__(self):
        super().__init__()
        self.audiences = {"a1b2c3d4e5": "Newsletter", "f6g7h8i9j0": "Customers"}
        self.campaigns: dict[str, dict] = {}
        self.paid_plan = True
        self._ids = itertools.count(1)

    @property
    def base(self) -> str:
        return f"{self.url}/3.0"

    def problem(self, status: int, title: str, detail: str, errors=None):
        body = {"type": ERRORS_DOC, "title": title, "status": status, "detail": detail, "instance": str(uuid.uuid4())}
        if errors:
            body["errors"] = errors
        return self.json(body, status=status, content_type="application/problem+json; charset=utf-8")

    def _refused(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return self.problem(401, "API Key Missing", "Your request did not include an API key.")
        _user, _, key = base64.b64decode(header[6:]).decode().partition(":")
        if key != API_KEY:
            return self.problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        return None

    def _campaign(self, request, cid):
        if refused := self._refused(request):
            return None, refused
        if cid not in self.campaigns:
            return None, self.problem(404, "Resource Not Found", "The requested resource could not be found.")
        return self.campaigns[cid], None

    def ping(self, request, seen):
        return self._refused(request) or self.json({"health_status": "Everything's Chimpy!"})

    def lists(self, request, seen):
        if refused := self._refused(request):
            return refused
        items = [{"id": k, "name": v} for k, v in self.audiences.items()]
        return self.json({"lists": items, "total_items": len(items)})

    def one_list(self, request, seen, list_id):
        if refused := self._refused(request):
            return refused
        if list_id not in self.audiences:
            return self.problem(404, "Resource Not Found", "The requested resource could not be found.")
        return self.json({"id": list_id, "name": self.audiences[list_id]})

    def create(self, request, seen):
        if refused := self._refused(request):
            return refused
        body = seen.json or {}
        errors = []
        if body.get("type") not in ("regular", "plaintext", "absplit", "rss", "variate"):
            errors.append({"field": "type", "message": "Data presented is not one of the accepted values."})
        list_id = (body.get("recipients") or {}).get("list_id")
        if list_id not in self.audiences:
            errors.append({"field": "recipients.list_id", "message": "Invalid audience ID"})
        reply_to = (body.get("settings") or {}).get("reply_to", "")
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", reply_to or ""):
            errors.append({"field": "settings.reply_to", "message": "This value should be a valid email."})
        if errors:
            return self.problem(
                400,
                "Invalid Resource",
                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                errors,
            )
        cid = f"c{next(self._ids):09x}"
        campaign = {
            "id": cid,
            "web_id": 1000 + len(self.campaigns),
            "type": body["type"],
            "status": "save",
            "recipients": body["recipients"],
            "settings": body.get("settings") or {},
            "archive_url": f"http://eepurl.com/{cid}",
            "html": "",
        }
        self.campaigns[cid] = campaign
        return self.json({k: v for k, v in campaign.items() if k != "html"})

    def content(self, request, seen, cid):
        campaign, refused = self._campaign(request, cid)
        if refused:
            return refused
        campaign["html"] = (seen.json or {}).get("html", "")
        return self.json({"html": campaign["html"], "plain_text": ""})

    def send(self, request, seen, cid):
        campaign, refused = self._campaign(request, cid)
        if refused:
            return refused
        if not campaign["html"]:
            return self.problem(400, "Bad Request", "Your Campaign is not ready to send.")
        campaign["status"] = "sent"
        return Response(status=204)

    def schedule(self, request, seen, cid):
        campaign, refused = self._campaign(request, cid)
        if refused:
            return refused
        if not self.paid_plan:
            return self.problem(403, "Forbidden", "Scheduling campaigns is available on paid plans.")
        raw = (seen.json or {}).get("schedule_time", "")
        try:
            when = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return self.problem(400, "Invalid Resource", "The schedule_time is not a valid date-time.")
        if when.minute % 15 or when.second or when <= datetime.datetime.now(datetime.UTC):
            return self.problem(
                400,
                "Invalid Resource",
                "Schedule time must be in the future and on the quarter-hour (:00, :15, :30, :45).",
            )
        campaign["status"], campaign["send_time"] = "schedule", raw
        return Response(status=204)

    def delete(self, request, seen, cid):
        _campaign, refused = self._campaign(request, cid)
        if refused:
            return refused
        del self.campaigns[cid]
        return Response(status=204)
