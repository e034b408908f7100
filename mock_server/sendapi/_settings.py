"""Settings of the send APIs: credentials, allow-lists, the magic-number table, limits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .._errors import closest_first

__all__ = ["CHANNELS", "DEFAULT_BALANCE", "DEFAULT_MAGIC_NUMBERS", "MATCH_KEYS", "OUTCOMES",
           "PLAYABLE_OUTCOMES", "Rule", "SendSettings"]

CHANNELS = ("zalo", "sms")
"""eSMS ``MultiChannelMessage`` channels, as ``Channels`` names them."""

OUTCOMES = ("delivered", "failed", "no_receipt", "duplicate", "out_of_order", "lost_ack", "hold")
"""What a send can be told to end in, by a rule, its recipient's number or the scenario header.
``hold``: accepted, its receipts wait for ``POST /_dlrmock/messages/<id>/release``."""

PLAYABLE_OUTCOMES = tuple(o for o in OUTCOMES if o != "hold")
"""The outcomes that play receipts (what a held message can be released with)."""

MATCH_KEYS = ("provider", "api", "phone", "content", "template", "request_id")
"""What a rule's ``match`` may test (each value a regular expression searched in the field)."""

Delay = float | tuple[float, float]


@dataclass(frozen=True)
class Rule:
    """``send.rules`` entry: the first rule whose every ``match`` pattern is found wins."""

    match: Mapping[str, re.Pattern[str]]
    outcome: str | None = None
    scenario: str | None = None
    receipt_delay: Delay | None = None

    def matches(self, values: Mapping[str, str]) -> bool:
        return all(p.search(values.get(key, "")) is not None for key, p in self.match.items())

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"match": {k: p.pattern for k, p in self.match.items()}}
        for name in ("outcome", "scenario", "receipt_delay"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

DEFAULT_MAGIC_NUMBERS: Mapping[str, str] = {
    "0000": "delivered",
    "1111": "failed",
    "2222": "no_receipt",
    "3333": "duplicate",
    "4444": "out_of_order",
    "5555": "lost_ack",
    "6666": "hold",
}
"""Recipient number suffix → outcome, like Stripe's test cards."""

_DIGITS = re.compile(r"^[0-9]+$")
_ESMS_PRICES: Mapping[str, float] = {
    "1": 250, "2": 650, "23": 470, "24": 300, "25": 300, "26": 300, "27": 300, "voice": 880,
}
"""[choice] VND per message by TypeId, in the range of eSMS's published prices (a voice call:
key ``voice``)."""


def _default_magic_numbers() -> dict[str, str]:
    return dict(DEFAULT_MAGIC_NUMBERS)


def _default_channel_magic_numbers() -> dict[str, dict[str, str]]:
    return {"zalo": {"7777": "failed"}}


DEFAULT_BALANCE = 10_000_000
"""``GetBalance_json``'s starting balance when no ``balance`` is configured."""


@dataclass(frozen=True)
class SendSettings:
    """How the fake send APIs authenticate, check and answer. Every default just works.

    The documented test credentials are the defaults: NXCloud ``accessKey``
    ``dlrmock-access-key`` / secret ``dlrmock-secret``, eSMS ``ApiKey`` ``dlrmock-api-key`` /
    ``SecretKey`` ``dlrmock-secret-key``.
    """

    access_key: str = "dlrmock-access-key"
    """NXCloud ``accessKey`` header value accepted (else code 1005)."""
    access_secret: str = "dlrmock-secret"
    """NXCloud secret the ``sign`` header is checked with (else code 1003)."""
    appkey: str | None = None
    """NXCloud body ``appkey`` accepted; ``None`` accepts any (else code 9003)."""
    sms_apps: Mapping[str, str] = field(default_factory=dict)
    """NXCloud SMS applications: ``appkey`` → ``secretkey``; empty accepts any pair (else the
    legacy API answers code 1, the signed SMS APIs 9003 for an unknown ``appKey``)."""
    api_key: str = "dlrmock-api-key"
    """eSMS ``ApiKey`` accepted (else CodeResult 101)."""
    secret_key: str = "dlrmock-secret-key"
    """eSMS ``SecretKey`` accepted (else CodeResult 101)."""
    brandnames: tuple[str, ...] = ()
    """eSMS brandnames registered; empty accepts any (else CodeResult 104)."""
    zalo_oas: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """eSMS Zalo OA id → its template ids; empty accepts any OA and template
    (else CodeResult 204 unknown OA, 789 template not configured for the OA). An OA with an
    empty template list accepts any of its templates."""
    default_webhook: str | None = None
    """Where receipts go when a send names no ``drWebhook`` / ``CallbackUrl``; ``None``: nowhere."""
    nxcloud_default_webhook: str | None = None
    """NXCloud's own default webhook (its receipts are POSTs); falls back to ``default_webhook``."""
    esms_default_webhook: str | None = None
    """eSMS's own default callback URL (its callbacks are GETs); falls back to
    ``default_webhook``."""
    magic_numbers: Mapping[str, str] = field(default_factory=_default_magic_numbers)
    """Recipient number suffix → outcome; the longest matching suffix wins."""
    default_outcome: str = "delivered"
    """The outcome of a number no suffix matches."""
    max_skew_ms: int = 60_000
    """NXCloud ``ts`` header: the largest accepted distance from now, in ms (else code 1004)."""
    max_body_bytes: int = 1024 * 1024
    """Larger request bodies are answered 413 in the provider's error shape."""
    request_id_ttl: float = 86_400.0
    """eSMS: seconds a ``RequestId`` stays taken (CodeResult 124 when reused)."""
    request_id_limit: int = 100_000
    """eSMS: most RequestIds remembered (the oldest are forgotten first)."""
    ads_min_phones: int = 1
    """eSMS advertising SMS: fewest ``Phones`` per request (CodeResult 107); eSMS wants 30."""
    messages_limit: int = 100_000
    """Sent messages and journey tokens remembered (the oldest are forgotten first)."""
    receipt_delay: Delay = (1.0, 3.0)
    """Seconds from a send's answer to its first receipt (scaled by the clock): a number, or
    ``[min, max]`` drawn per message. [choice] one to three seconds."""
    answer_margin: float = 0.05
    """Real seconds, whatever the time scale, between a send's answer being written and its
    receipts starting: room for the app to store the id the answer told it. [choice]"""
    rules: tuple[Rule, ...] = ()
    """Outcome rules, tried in order before the magic numbers (the scenario header wins)."""
    nxcloud_currency: str = "USD"
    """The NXCloud account's currency (``cost.currency``)."""
    nxcloud_zns_price: float = 0.05
    """``cost.originalPrice`` of one ZNS message (NXCloud success receipts)."""
    nxcloud_journey_price: float = 220
    """``cost.originalPrice`` of a charged journey (``journey_acknowledged``)."""
    nxcloud_daily_quota: int = 1000
    """Zalo's daily quota of the OA; ``remainingQuota`` counts down with each send."""
    nxcloud_balance: float = 1000
    """The NXCloud account's balance (``/api/common/getBalance``), in ``nxcloud_currency``;
    sends do not spend it."""
    nxcloud_credit_balance: float = 0
    """The NXCloud account's credit line (``getBalance``'s ``credit_balance``)."""
    esms_unit_prices: Mapping[str, float] = field(default_factory=lambda: dict(_ESMS_PRICES))
    """eSMS price of one message by TypeId (``TotalPrice``); sandbox sends cost 0."""
    channel_magic_numbers: Mapping[str, Mapping[str, str]] = field(
        default_factory=_default_channel_magic_numbers)
    """eSMS multichannel: channel (``zalo``, ``sms``) → number suffix → outcome of that channel
    only; it wins over ``magic_numbers``. By default a number ending 7777 fails on Zalo, so
    the SMS fallback is sent (and delivered)."""
    sms_templates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """eSMS brandname → its approved customer-care templates (``GetTemplate/``, SmsType 2); a
    brandname not listed has one OTP template, ``{P1,20} la ma xac minh dang ky <brandname>
    cua ban`` [choice]. Each template is approved on every carrier (NetworkID 1–7)."""
    balance: float | None = None
    """eSMS account balance (VND): each accepted send costs ``esms_unit_prices``, CodeResult
    103 once it would go below 0. ``None``: never runs out (``GetBalance_json`` still shows
    ``DEFAULT_BALANCE`` minus what was spent)."""
    user_id: int = 9999
    """eSMS ``UserID`` of the account (``GetBalance_json``)."""
    voice_templates: tuple[str, ...] = ()
    """eSMS call scripts registered (``MakeCallTemplate_V2``); empty accepts any (else 104)."""
    voice_records: tuple[str, ...] = ()
    """eSMS recordings uploaded (``MakeCallRecord_V2``); empty accepts any (else 106)."""

    def webhook_for(self, provider: str) -> str | None:
        """The default webhook of ``provider`` (``nxcloud`` / ``esms``)."""
        own: str | None = getattr(self, f"{provider}_default_webhook", None)
        return own or self.default_webhook

    def __post_init__(self) -> None:
        problems: list[str] = []
        for suffix, outcome in self.magic_numbers.items():
            if not isinstance(suffix, str) or not _DIGITS.match(suffix):
                problems.append(f"magic_numbers: suffix {suffix!r} must be a string of digits")
            if outcome not in OUTCOMES:
                problems.append(_unknown_outcome(f"magic_numbers[{suffix!r}]", outcome))
        if self.default_outcome not in OUTCOMES:
            problems.append(_unknown_outcome("default_outcome", self.default_outcome))
        for channel, table in self.channel_magic_numbers.items():
            if channel not in CHANNELS:
                problems.append(f"channel_magic_numbers: unknown channel {channel!r}; "
                                f"channels: {', '.join(CHANNELS)}")
            for suffix, outcome in table.items():
                if not isinstance(suffix, str) or not _DIGITS.match(suffix):
                    problems.append(f"channel_magic_numbers[{channel!r}]: suffix {suffix!r} "
                                    "must be a string of digits")
                if outcome not in OUTCOMES:
                    problems.append(_unknown_outcome(
                        f"channel_magic_numbers[{channel!r}][{suffix!r}]", outcome))
        if self.balance is not None and (isinstance(self.balance, bool)
                                         or not isinstance(self.balance, int | float)):
            problems.append(f"balance must be a number or null, got {self.balance!r}")
        for name in ("max_skew_ms", "max_body_bytes", "request_id_ttl", "request_id_limit",
                     "messages_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                problems.append(f"{name} must be a positive number, got {value!r}")
        if isinstance(self.ads_min_phones, bool) or not isinstance(self.ads_min_phones, int) \
                or self.ads_min_phones < 1:
            problems.append(f"ads_min_phones must be an integer >= 1, got {self.ads_min_phones!r}")
        problems.extend(_delay_problems("receipt_delay", self.receipt_delay))
        if isinstance(self.answer_margin, bool) or not isinstance(self.answer_margin, int | float) \
                or not 0 <= self.answer_margin <= 10:
            problems.append(f"answer_margin must be seconds from 0 to 10, "
                            f"got {self.answer_margin!r}")
        for name in ("nxcloud_zns_price", "nxcloud_journey_price", "nxcloud_daily_quota"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                problems.append(f"{name} must be a number >= 0, got {value!r}")
        for type_id, price in self.esms_unit_prices.items():
            if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
                problems.append(f"esms_unit_prices[{type_id!r}] must be a number >= 0, "
                                f"got {price!r}")
        for name in ("default_webhook", "nxcloud_default_webhook", "esms_default_webhook"):
            url = getattr(self, name)
            if url is not None and not re.match(r"^https?://", url):
                problems.append(f"{name} must be an http:// or https:// URL, got {url!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SendSettings:
        """Settings from a mapping (a JSON / YAML config file); unspecified keys keep defaults.

        Unknown keys and wrongly typed values raise ``ValueError`` naming the key.
        """
        if not isinstance(values, Mapping):
            raise ValueError(f"send settings must be a mapping, got {type(values).__name__}")
        known = [f.name for f in fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                candidates = closest_first(str(key), known)
                raise ValueError(
                    f"unknown send setting {key!r}; did you mean {candidates[0]!r}? "
                    f"known: {', '.join(sorted(known))}"
                )
            kwargs[key] = _coerce(key, value)
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able values (the secrets included: they are test values)."""
        return {
            f.name: (
                [rule.as_dict() for rule in value] if f.name == "rules"
                else list(value) if isinstance(value, tuple)
                else {k: list(v) for k, v in value.items()}
                if f.name in ("zalo_oas", "sms_templates")
                else {k: dict(v) for k, v in value.items()} if f.name == "channel_magic_numbers"
                else dict(value) if isinstance(value, Mapping)
                else value
            )
            for f in fields(self)
            for value in [getattr(self, f.name)]
        }


def _unknown_outcome(where: str, outcome: object) -> str:
    hint = closest_first(str(outcome), OUTCOMES)[0]
    return (f"{where}: unknown outcome {outcome!r}; did you mean {hint!r}? "
            f"outcomes: {', '.join(OUTCOMES)}")


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise ValueError(f"send setting {key!r} must be a list of strings, got {value!r}")


def _templates(brand: object, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) \
            or not all(isinstance(v, str) for v in value):
        raise ValueError(f"send setting sms_templates[{brand!r}] must be a list of template "
                         f"texts such as ['{{P1,20}} la ma OTP cua ban'], got {value!r}")
    return tuple(value)


def _delay_problems(where: str, value: Any) -> list[str]:
    def seconds(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, int | float) and 0 <= v <= 86_400
    if seconds(value):
        return []
    if isinstance(value, tuple) and len(value) == 2 and all(seconds(v) for v in value) \
            and value[0] <= value[1]:
        return []
    return [f"{where} must be seconds (0 to 86400) or [min, max] with min <= max, "
            f"got {list(value) if isinstance(value, tuple) else value!r}"]


def _rules(value: Any) -> tuple[Rule, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"send setting 'rules' must be a list of rules, got {value!r}")
    rules: list[Rule] = []
    for index, item in enumerate(value):
        where = f"rules[{index}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must be a mapping with 'match' and an 'outcome' or "
                             f"'scenario', got {item!r}")
        unknown = sorted(set(item) - {"match", "outcome", "scenario", "receipt_delay"})
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; a rule has match, outcome "
                             "or scenario, and receipt_delay")
        match = item.get("match", {})
        if not isinstance(match, Mapping):
            raise ValueError(f"{where}.match must map fields to regular expressions, "
                             f"got {match!r}")
        patterns: dict[str, re.Pattern[str]] = {}
        for key, pattern in match.items():
            if key not in MATCH_KEYS:
                hint = closest_first(str(key), MATCH_KEYS)[0]
                raise ValueError(f"{where}.match: unknown field {key!r}; did you mean {hint!r}? "
                                 f"fields: {', '.join(MATCH_KEYS)}")
            if not isinstance(pattern, str | int) or isinstance(pattern, bool):
                raise ValueError(f"{where}.match.{key} must be a regular expression (a string), "
                                 f"got {pattern!r}")
            try:
                patterns[key] = re.compile(str(pattern))
            except re.error as exc:
                raise ValueError(f"{where}.match.{key}: {pattern!r} is not a regular "
                                 f"expression: {exc}") from None
        outcome, scenario = item.get("outcome"), item.get("scenario")
        if (outcome is None) == (scenario is None):
            raise ValueError(f"{where} needs exactly one of 'outcome' ({', '.join(OUTCOMES)}) or "
                             "'scenario' (a built-in scenario name)")
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(_unknown_outcome(f"{where}.outcome", outcome))
        if scenario is not None:
            from .._scenarios import builtin_scenarios  # the registry loads lazily

            names = builtin_scenarios()
            if scenario not in names:
                hint = closest_first(str(scenario), list(names))[0]
                raise ValueError(f"{where}.scenario: unknown scenario {scenario!r}; did you mean "
                                 f"{hint!r}? (`dlrmock scenarios` lists them)")
        delay = item.get("receipt_delay")
        if isinstance(delay, list):
            delay = tuple(delay)
        if delay is not None:
            problems = _delay_problems(f"{where}.receipt_delay", delay)
            if problems:
                raise ValueError(problems[0])
        rules.append(Rule(patterns, outcome, scenario, delay))
    return tuple(rules)


def _coerce(key: str, value: Any) -> Any:
    if key == "rules":
        return _rules(value)
    if key == "receipt_delay":
        return tuple(value) if isinstance(value, list) else value
    if key == "esms_unit_prices":
        if not isinstance(value, Mapping):
            raise ValueError(f"send setting 'esms_unit_prices' must map TypeIds to prices, "
                             f"got {value!r}")
        return {**_ESMS_PRICES, **{str(k): v for k, v in value.items()}}
    if key in ("brandnames", "voice_templates", "voice_records"):
        return _strings(key, value)
    if key == "zalo_oas":
        if not isinstance(value, Mapping):
            raise ValueError(
                f"send setting 'zalo_oas' must map OA ids to template id lists, got {value!r}"
            )
        return {str(oa): _strings(f"zalo_oas[{oa!r}]", templates or [])
                for oa, templates in value.items()}
    if key == "sms_apps":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str | int) and isinstance(v, str | int) for k, v in value.items()
        ):
            raise ValueError(
                f"send setting 'sms_apps' must map SMS appkeys to secretkeys, got {value!r}"
            )
        return {str(k): str(v) for k, v in value.items()}
    if key == "sms_templates":
        if not isinstance(value, Mapping):
            raise ValueError(
                f"send setting 'sms_templates' must map brandnames to template lists, got {value!r}"
            )
        return {str(brand): _templates(brand, templates) for brand, templates in value.items()}
    if key == "channel_magic_numbers":
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping)
                                                     for v in value.values()):
            raise ValueError(f"send setting {key!r} must map channels to {{suffix: outcome}}, "
                             f"got {value!r}")
        return {str(k): {str(s): o for s, o in v.items()} for k, v in value.items()}
    if key == "balance":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"send setting 'balance' must be a number or null, got {value!r}")
        return value
    if key == "magic_numbers":
        if not isinstance(value, Mapping):
            raise ValueError(
                f"send setting 'magic_numbers' must map number suffixes to outcomes, got {value!r}"
            )
        return {str(suffix): outcome for suffix, outcome in value.items()}
    if key in ("appkey", "default_webhook", "nxcloud_default_webhook", "esms_default_webhook"):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"send setting {key!r} must be a string or null, got {value!r}")
        return value
    if key in ("access_key", "access_secret", "api_key", "secret_key", "default_outcome",
               "nxcloud_currency"):
        if not isinstance(value, str):
            raise ValueError(f"send setting {key!r} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"send setting {key!r} must be a number, got {value!r}")
    return value
