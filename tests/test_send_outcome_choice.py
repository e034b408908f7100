"""Which outcome a send plays, the way an app meets it over a real 127.0.0.1 socket: the
``X-Dlrmock-Scenario`` header, then ``send.rules``, then the number's magic suffix, then
``default_outcome`` — and what each outcome plays for each kind of message."""

from __future__ import annotations

import requests
from targets import refused_url

from mock_server import MockProvider

KEYS = {"ApiKey": "dlrmock-api-key", "SecretKey": "dlrmock-secret-key"}


def test_a_template_registration_a_rule_says_no_receipt_for_calls_back_nothing() -> None:
    rules = [{"match": {"content": "SILENT"}, "outcome": "no_receipt"}]
    with MockProvider(time_scale=0, send={"rules": rules}) as provider:
        for content in ("SILENT {P1,6}", "Ma {P1,6}"):
            answer = requests.post(
                f"{provider.url}/MainService.svc/json/SubServicePreviewJson/", timeout=5,
                json={**KEYS, "Brandname": "B", "Content": content, "IsUnicode": 0,
                      "ServiceType": 2, "SmsType": 2, "CustomerName": "A",
                      "CustomerEmail": "a@example.com", "CustomerPhone": "0912345678",
                      "CallbackUrl": refused_url()}).json()
            assert answer["CodeResult"] == "100", answer
        silent, registered = provider.sent[-2:]
    assert silent.run_ids == [] and "no_receipt" in (silent.explain or "")
    assert len(registered.run_ids) == 1
