"""eSMS ``MultiChannelMessage/``: Zalo first, SMS when Zalo fails.

``Channels`` lists the channels in order and ``Data`` has one entry per channel, by position.
The first channel is sent at once; each next one only once the one before it has failed (its
callback played). Each channel calls back to its own entry's ``CallbackUrl`` with its own TypeId
(Zalo 25, SMS 2) and its own ``RequestId``; all of them carry the one ``SMSID`` the answer gave
[choice]. A channel's outcome is its ``channel_magic_numbers`` entry, else the number's magic
suffix: by default ``…7777`` fails on Zalo and delivers by SMS.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._esms_common import SendPlan, flag, invalid_request, refuse, text
from ._exchange import Answer, Exchange
from ._settings import CHANNELS

if TYPE_CHECKING:
    from ._esms_common import EsmsEndpoint
    from .esms import _Esms

__all__ = ["send_multichannel"]


def _channels(value: Any) -> list[str]:
    # The table says "string", the example sends an array: both are read.
    items = value.split(",") if isinstance(value, str) else value
    return [text(item).lower() for item in items]


def _leg(api: _Esms, channel: str, index: int, entry: Mapping[str, Any],
         phone: str) -> SendPlan:
    from .esms import canonical

    fields = canonical(entry)
    where = f"Data[{index}] ({channel})"
    if channel == "zalo" and "OAID" not in fields and "AOID" in entry:
        # eSMS's own PHP sample misspells it; the docs win: the required OAID is missing.
        raise refuse(791, f"{where}: OAID is missing; 'AOID' is not an eSMS field (eSMS's PHP "
                     "sample misspells OAID): send the OA's id as OAID")
    request_id = text(fields.get("RequestId"))
    if len(request_id) > 50:
        raise invalid_request(f"{where}: RequestId is {len(request_id)} characters long; eSMS "
                         "allows at most 50")
    if channel == "zalo":
        if "Params" not in fields and "TempData" not in fields:
            raise invalid_request(f"{where}: Params (the template's values, in order) is required")
        plan = api.plan_zns({**fields, "Phone": phone, "IsJourney": ""})
    else:
        sms_type = text(fields.get("SmsType"))
        if not sms_type:
            raise refuse(300, f"{where}: SmsType is missing; the SMS channel sends 2 "
                         "(customer care)")
        if sms_type != "2":
            raise refuse(118, f"{where}: SmsType {sms_type!r}; the SMS channel sends only 2 "
                         "(customer care)")
        if not text(fields.get("Content")):
            raise invalid_request(f"{where}: Content is required")
        api.check_brandname(fields)
        plan = SendPlan("esms.sms.cskh", "2", [phone])
    plan.channel = channel
    plan.named_callback = text(fields.get("CallbackUrl"))
    plan.callback = plan.named_callback or api.settings.webhook_for("esms") or ""
    plan.sandbox = flag(fields.get("Sandbox"))
    plan.request_id = request_id
    return plan


def send_multichannel(api: _Esms, endpoint: EsmsEndpoint, exchange: Exchange) -> Answer:
    """``POST MultiChannelMessage/``: one SMSID; the channels' callbacks follow the chain."""
    params = api.params(endpoint, exchange)
    api.authenticate(params)
    api.check(endpoint.schema, params)
    channels = _channels(params["Channels"])
    data = params["Data"]
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not channels or len(set(channels)) != len(channels):
        raise invalid_request(f"Channels {channels!r}: list each of {', '.join(CHANNELS)} at most "
                         "once, in the order to try them (the documented value is "
                         "['zalo', 'sms'])")
    if len(data) != len(channels):
        raise invalid_request(f"Data has {len(data)} entries for {len(channels)} channels "
                         f"{channels!r}: one entry per channel, in the same order")
    phone = api.phone(params.get("Phone"))
    legs = [_leg(api, channel, index, entry, phone)
            for index, (channel, entry) in enumerate(zip(channels, data, strict=True))]
    for before, after in itertools.pairwise(legs):
        before.then = after
    choice = api.choice()
    claimed: list[str] = []
    try:
        for leg in legs:
            if leg.request_id and leg.request_id not in claimed:
                api.claim(endpoint, leg.request_id)
                claimed.append(leg.request_id)
        return api.accept(endpoint, params, legs[0], legs[0].request_id or "", choice)
    except BaseException:
        for request_id in claimed:
            api.state.release_request_id(request_id)
        raise
