"""Contract fake of Perplexity's chat completions API.

Follows https://docs.perplexity.ai/api-reference/chat-completions-post and
https://docs.perplexity.ai/guides/model-cards: POST /chat/completions with a Bearer key and
{"model", "messages", "max_tokens"}; the answer {"id", "model", "created", "usage": {...,
"citation_tokens", "num_search_queries", "search_context_size"}, "citations": [urls],
"search_results": [{"title", "url", "date"}], "object": "chat.completion", "choices": [{"index",
"finish_reason", "message": {"role": "assistant", "content"}}]}. A missing or wrong key is
refused by the gateway before anything else with an HTML 401 ("401 Authorization Required",
openresty), as users report in perplexityai/api-discussion#281; invalid requests get 400
{"error": {"message", "type", "code": 400}}.
"""

from __future__ import annotations

import itertools
import time

from werkzeug import Response

from tests.fakes.contract import ContractFake

API_KEY = "pplx-fake-0123456789"
MODELS = {"sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research"}
UNAUTHORIZED = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>openresty/1.27.4</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class PerplexityFake(ContractFake):
    ROUTES = [("POST", r"/chat/completions", "completions")]

    def __init__(self):
        super().__init__()
        self.answer = (
            "The EU adopted its 2040 climate target this week [1], and Germany's heat-pump subsidy "
            "was extended [2].\n\nBoth take effect next year."
        )
        self.answered = 0
        self._ids = itertools.count(1)

    def completions(self, request, seen):
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return Response(UNAUTHORIZED, status=401, content_type="text/html")
        body = seen.json or {}
        model = body.get("model")
        if model not in MODELS:
            return self._invalid(
                f"Invalid model '{model}'. Permitted models can be found in the documentation at "
                "https://docs.perplexity.ai/guides/model-cards.",
                "invalid_model",
            )
        messages = body.get("messages") or []
        if not messages or messages[-1].get("role") != "user":
            return self._invalid("Last message must have role `user` or `tool`.", "invalid_message")
        max_tokens = body.get("max_tokens", 1024)
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return self._invalid("max_tokens must be a positive integer", "invalid_parameter")
        self.answered += 1
        return self.json(
            {
                "id": f"pplx-{next(self._ids):04d}-5f0e",
                "model": model,
                "created": int(time.time()),
                "object": "chat.completion",
                "usage": {
                    "prompt_tokens": 14,
                    "completion_tokens": 48,
                    "total_tokens": 62,
                    "search_context_size": "low",
                    "citation_tokens": 1220,
                    "num_search_queries": 1,
                },
                "citations": ["https://example.eu/climate-2040", "https://example.de/waermepumpe"],
                "search_results": [
                    {"title": "EU 2040 target adopted", "url": "https://example.eu/climate-2040", "date": "2026-03-04"},
                    {"title": "Heat-pump subsidy extended", "url": "https://example.de/waermepumpe", "date": None},
                ],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": self.answer},
                    }
                ],
            }
        )

    def _invalid(self, message: str, kind: str):
        return self.json({"error": {"message": message, "type": kind, "code": 400}}, status=400)
