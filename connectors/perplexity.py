"""Perplexity: ask a web-search question and keep the answer with its sources.

POST https://api.perplexity.ai/chat/completions, Bearer API key, {"model", "messages": [{"role":
"user", "content": question}], "max_tokens"}. The answer (choices[0].message.content) becomes a
record with the cited sources: "citations" (URLs) and "search_results" (title, url, date) as the
API returns them, the model and the token usage.

Retries: a 429 is waited out by the HTTP client (POSTs included). A completion changes nothing
at Perplexity, so it is also retried after a 5xx or a dropped connection (retrying_client); the
cost of that is, at worst, paying for an answer whose reply was lost.

Checking the connection sends a request with no question: Perplexity checks the key first (401
from its gateway) and then refuses the empty request (400), so a good key is proven without
paying for an answer.

Docs: https://docs.perplexity.ai/api-reference/chat-completions-post,
https://docs.perplexity.ai/guides/model-cards
"""

from __future__ import annotations

import datetime
import hashlib

from connectors.base import Connector, Record
from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.http import retry_after_seconds
from connectors.registry import registry
from connectors.webapi import ANY_STATUS, QueryAsSync, api_base, json_or_empty, merged_config, retrying_client, truncate


@registry.register("perplexity")
class PerplexityConnector(QueryAsSync, Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"answer": "note"}
    _client = None

    @property
    def url(self) -> str:
        return f"{api_base('perplexity', 'https://api.perplexity.ai')}/chat/completions"

    def _post(self, body: dict):
        key = self.secrets.get("api_key")
        if not key:
            raise AuthError("No Perplexity API key is set.", field="api_key")
        if self._client is None:
            self._client = retrying_client(self.ctx)
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        return self._client.post(self.url, json=body, headers=headers, ok=ANY_STATUS)

    def test_connection(self) -> str:
        response = self._post({"model": self.config.get("model") or "sonar", "messages": []})
        if response.status_code in (200, 400):
            return "API key accepted (checked without asking a question)"
        self._raise_for(response)
        return "API key accepted"

    def query(self, config: dict) -> list[Record]:
        settings = merged_config(self, config)
        prompt = (settings.get("prompt") or "").strip()
        if not prompt:
            raise ConfigError("Write the question to ask.", field="prompt")
        body = {
            "model": settings.get("model") or "sonar",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": int(settings.get("max_tokens") or 1024),
        }
        response = self._post(body)
        if response.status_code != 200:
            self._raise_for(response)
        data = json_or_empty(response)
        try:
            choice = data["choices"][0]
            answer = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise TransientError("Perplexity sent an answer without any text.") from None
        created = data.get("created")
        answer_id = data.get("id") or hashlib.sha256(f"{prompt}{created}".encode()).hexdigest()[:24]
        return [
            Record(
                external_id=f"answer:{answer_id}",
                kind="answer",
                title=truncate(prompt.splitlines()[0], 200),
                summary=answer,
                occurred_at=datetime.datetime.fromtimestamp(created, datetime.UTC) if created else None,
                data={
                    "prompt": prompt,
                    "model": data.get("model", body["model"]),
                    "citations": list(data.get("citations") or []),
                    "search_results": list(data.get("search_results") or []),
                    "usage": data.get("usage") or {},
                    "finish_reason": choice.get("finish_reason"),
                },
            )
        ]

    def _raise_for(self, response):
        status = response.status_code
        error = json_or_empty(response).get("error")
        message = self.quote(error.get("message", "") if isinstance(error, dict) else "", 300)
        if status == 401:
            raise AuthError(
                "Perplexity refused the API key.",
                field="api_key",
                remediation="Create a new key in Perplexity's API settings (keys can be revoked) and paste it here.",
            )
        if status == 402 or (isinstance(error, dict) and error.get("type") == "insufficient_quota"):
            raise ConfigError(
                f"Perplexity says the account has no credit left{': ' + message if message else ''}.",
                remediation="Add credit or turn on auto top-up in Perplexity's API billing settings.",
            )
        if status == 429:
            raise RateLimited("Perplexity kept rate limiting us.", retry_after=retry_after_seconds(response))
        if status >= 500:
            raise TransientError(f"Perplexity had an error (HTTP {status}).")
        if status == 403:
            raise AuthError("Perplexity denied access with this API key.", field="api_key")
        raise ConfigError(
            f"Perplexity did not accept the question: {message or f'HTTP {status}'}",
            remediation="Check the model and the maximum answer length.",
        )

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None
