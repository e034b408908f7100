"""The providers' documented send-API examples and the operations they illustrate.

The files live in ``schemas/sendapi-examples/<provider>/``, each a provider's example byte for
byte under the name the project's spec gives it: requests are eSMS's ``req-*`` and NXCloud's
``*-request*``, everything else an answer. ``.json`` is a JSON body, ``.form`` a form body,
``.url`` a request URL (query parameters, or eSMS's keys as path segments), ``.curl`` a curl
command whose ``--data-urlencode`` pairs are a form body. An example the docs print as invalid
JSON (unquoted ``{{placeholders}}``, two alternatives in one block, a typo) is kept as printed
and documented as such, never repaired. ``dlrmock openapi`` attaches each to the operations
:data:`ILLUSTRATES` names; the test suite checks every file is there and, where it decodes,
valid.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._registry import schema_dir

__all__ = ["ILLUSTRATES", "NOT_EMULATED", "SendExample", "send_examples"]

FOLDER = "sendapi-examples"

_SEND = ("esms.SendMultipleMessage_V4_get", "esms.SendMultipleMessage_V4_post",
         "esms.SendMultipleMessage_V4_post_json")
"""The customer-care SMS send in its GET, form and JSON forms (one doc page each, same answers)."""
_ZNS = ("esms.SendZaloMessage_V4_post_json", "esms.SendZaloMessage_V5_post",
        "esms.SendZaloMessage_V6", "esms.SendZaloMessage_V6/zalo_uid",
        "esms.SendZaloMessage_V6/hash_phone")
_FOLLOWER = ("esms.SendZaloFollowerMessage_V5_post_json",
             "esms.SendZaloFollowerMessage_V4_post_json")
_VOICE = ("esms.MakeCallTemplate_V2", "esms.MakeCallRecord_V2")
_GENCODE = ("esms.SendMessageAutoGenCode_V4_get", "esms.SendMessageAutoGenCode_V5")

ILLUSTRATES: Mapping[str, tuple[str, ...]] = {
    # eSMS answers: the doc pages that show each (spec vectors/esms/README.md), as operations.
    "esms/send-100-d533.json": (*_SEND[1:], "esms.SendMultipleSMSBrandname_json", *_GENCODE),
    "esms/send-100-d8e0.json": (*_SEND, *_ZNS, *_FOLLOWER, "esms.MultiChannelMessage",
                                "esms.Send_Multiple_Sms_OTT"),
    "esms/send-101-authorize.json": (
        *_SEND, "esms.SendMultipleSMSBrandname_json", *_ZNS, *_FOLLOWER,
        "esms.MultiChannelMessage", "esms.Send_Multiple_Sms_OTT",
        "esms.Send_zns_bulk_v4_post_json", *_GENCODE, "esms.CheckCodeGen_V4_get"),
    "esms/send-104-brandname.json": (*_SEND, "esms.SendMultipleSMSBrandname_json",
                                     "esms.Send_Multiple_Sms_OTT"),
    "esms/send-107-min30.json": ("esms.SendMultipleSMSBrandname_json",),
    "esms/send-124-request-exist.json": ("esms.SendMultipleMessage_V4_get",
                                         "esms.SendMultipleSMSBrandname_json"),
    "esms/send-124-with-SendStatus.json": ("esms.SendMultipleMessage_V4_post_json",),
    "esms/send-146-with-SMSID.json": ("esms.SendMultipleMessage_V4_post_json",),
    "esms/send-789-template-not-config.json": (
        "esms.SendMultipleMessage_V4_post", "esms.SendMultipleMessage_V4_post_json", *_ZNS,
        "esms.Send_zns_bulk_v4_post_json", "esms.MultiChannelMessage"),
    "esms/error-99-invalid-request.json": _SEND,
    "esms/zalo_uid-852.json": ("esms.SendZaloMessage_V6/zalo_uid",),
    "esms/zalo_uid-853.json": ("esms.SendZaloMessage_V6/zalo_uid",),
    "esms/Send_zns_bulk_v4_post_json-100.json": ("esms.Send_zns_bulk_v4_post_json",),
    "esms/CheckCodeGen_V4_get-100.json": ("esms.CheckCodeGen_V4_get",),
    "esms/CheckCodeGen_V4_get-117.json": ("esms.CheckCodeGen_V4_get",),
    "esms/GetSendStatus-100.json": ("esms.GetSendStatus",),
    "esms/GetSendStatus-101.json": ("esms.GetSendStatus",),
    "esms/voice-GetSendStatus-100.json": ("esms.GetSendStatus",),
    "esms/voice-MakeCall-100.json": _VOICE,
    "esms/voice-MakeCallTemplate_V2-104.json": ("esms.MakeCallTemplate_V2",),
    "esms/query-101-authorize.json": (
        *_VOICE, "esms.ZNS/GetQuality", "esms.GetSmsReceiverStatus_get", "esms.GetListBrandname",
        "esms.GetTemplate", "esms.QueryListUID", "esms.ZNS/GetFollowers", "esms.ZNS/GetRating",
        "esms.SummaryZaloMessage_V4_post_json", "esms.ZNS/GetQuota"),
    "esms/query-101-authorize-dot.json": ("esms.GetSmsSentData_V2", "esms.ZNS/GetListZOA",
                                          "esms.SummaryMultipleMessage_V4_get"),
    "esms/query-104-brandname.json": ("esms.SummaryMultipleMessage_V4_get",),
    "esms/GetBalance_json-100.json": ("esms.GetBalance_json",),
    "esms/GetBalance_json-101.json": ("esms.GetBalance_json",),
    "esms/GetCallback-100.json": ("esms.ZaloCallback/GetCallback",),
    "esms/GetListBrandname-100.json": ("esms.GetListBrandname",),
    "esms/GetSmsReceiverStatus_get-100.json": ("esms.GetSmsReceiverStatus_get",),
    "esms/GetSmsSentData_V2-100.json": ("esms.GetSmsSentData_V2",),
    "esms/GetTemplate-sms-100.json": ("esms.GetTemplate",),
    "esms/GetTemplate-zns-100.json": ("esms.GetTemplate",),
    "esms/GetZaloMessageStatus-100.json": ("esms.GetZaloMessageStatus",),
    "esms/GetZnsTemplateInfo-100.json": ("esms.GetZnsTemplateInfo",),
    "esms/QueryListUID-100.json": ("esms.QueryListUID",),
    "esms/QueryListUID-161.json": ("esms.QueryListUID",),
    "esms/QueryListUID-162.json": ("esms.QueryListUID",),
    "esms/QueryZnsStatus-100.json": ("esms.QueryZnsStatus",),
    "esms/RegisZNSTemplateJson-RegisOAPackageJson-100.json": ("esms.RegisZNSTemplateJson",
                                                              "esms.RegisOAPackageJson"),
    "esms/SubServicePreviewJson-100.json": ("esms.SubServicePreviewJson",),
    "esms/SummaryMultipleMessage_V4_get-100.json": ("esms.SummaryMultipleMessage_V4_get",),
    "esms/SummaryZaloMessage_V4_post_json-100.json": ("esms.SummaryZaloMessage_V4_post_json",),
    "esms/ZNS-GetFollowers-100.json": ("esms.ZNS/GetFollowers",),
    "esms/ZNS-GetListZOA-100.json": ("esms.ZNS/GetListZOA",),
    "esms/ZNS-GetQuality-100.json": ("esms.ZNS/GetQuality",),
    "esms/ZNS-GetQuota-100.json": ("esms.ZNS/GetQuota",),
    "esms/ZNS-GetRating-100.json": ("esms.ZNS/GetRating",),
    # eSMS requests.
    "esms/req-CheckCodeGen_V4_get-example.url": ("esms.CheckCodeGen_V4_get",),
    "esms/req-CheckCodeGen_V4_get.url": ("esms.CheckCodeGen_V4_get",),
    "esms/req-GetBalance_json.json": ("esms.GetBalance_json",),
    "esms/req-GetCallback.json": ("esms.ZaloCallback/GetCallback",),
    "esms/req-GetListBrandname.url": ("esms.GetListBrandname",),
    "esms/req-GetSmsReceiverStatus_get.url": ("esms.GetSmsReceiverStatus_get",),
    "esms/req-GetSmsSentData_V2.json": ("esms.GetSmsSentData_V2",),
    "esms/req-GetTemplate-sms.json": ("esms.GetTemplate",),
    "esms/req-GetTemplate-zns.json": ("esms.GetTemplate",),
    "esms/req-GetZaloMessageStatus.json": ("esms.GetZaloMessageStatus",),
    "esms/req-GetZnsTemplateInfo.url": ("esms.GetZnsTemplateInfo",),
    "esms/req-MultiChannelMessage.json": ("esms.MultiChannelMessage",),
    "esms/req-QueryListUID.json": ("esms.QueryListUID",),
    "esms/req-QueryZnsStatus.json": ("esms.QueryZnsStatus",),
    "esms/req-RegisZNSTemplateJson.json": ("esms.RegisZNSTemplateJson",),
    "esms/req-SendMessageAutoGenCode_V4_get.url": ("esms.SendMessageAutoGenCode_V4_get",),
    "esms/req-SendMessageAutoGenCode_V5.json": ("esms.SendMessageAutoGenCode_V5",),
    "esms/req-SendMultipleMessage_V4_post-xform.curl": ("esms.SendMultipleMessage_V4_post",),
    "esms/req-SendMultipleMessage_V4_post-xform-zalo.curl": ("esms.SendMultipleMessage_V4_post",),
    "esms/req-SendMultipleMessage_V4_post_json-fullcontent-zalo.json": (
        "esms.SendMultipleMessage_V4_post_json",),
    "esms/req-SendMultipleMessage_V4_post_json-smstype8-voiceotp.json": (
        "esms.SendMultipleMessage_V4_post_json",),
    "esms/req-voice-otp-SendMultipleMessage_V4_post_json.json": (
        "esms.SendMultipleMessage_V4_post_json",),
    "esms/req-SendZaloFollowerMessage_V4_post_json-text.json": (
        "esms.SendZaloFollowerMessage_V4_post_json",),
    "esms/req-SendZaloFollowerMessage_V5-button.json": (
        "esms.SendZaloFollowerMessage_V5_post_json",),
    "esms/req-SendZaloFollowerMessage_V5-image.json": (
        "esms.SendZaloFollowerMessage_V5_post_json",),
    "esms/req-SendZaloFollowerMessage_V5-request-user-info.json": (
        "esms.SendZaloFollowerMessage_V5_post_json",),
    "esms/req-SendZaloFollowerMessage_V5-transaction.json": (
        "esms.SendZaloFollowerMessage_V5_post_json",),
    "esms/req-SendZaloMessage_V4-journey.json": ("esms.SendZaloMessage_V4_post_json",),
    "esms/req-SendZaloMessage_V6-hash_phone.json": ("esms.SendZaloMessage_V6/hash_phone",),
    "esms/req-SendZaloMessage_V6-zalo_uid.json": ("esms.SendZaloMessage_V6/zalo_uid",),
    "esms/req-Send_zns_bulk_v4_post_json.json": ("esms.Send_zns_bulk_v4_post_json",),
    "esms/req-SubServicePreviewJson.json": ("esms.SubServicePreviewJson",),
    "esms/req-SummaryMultipleMessage_V4_get.url": ("esms.SummaryMultipleMessage_V4_get",),
    "esms/req-SummaryZaloMessage_V4_post_json.json": ("esms.SummaryZaloMessage_V4_post_json",),
    "esms/req-ZNS-GetListZOA.json": ("esms.ZNS/GetListZOA",),
    "esms/req-ZNS-GetQuota.json": ("esms.ZNS/GetQuota",),
    "esms/req-voice-GetSendStatus.url": ("esms.GetSendStatus",),
    "esms/req-voice-MakeCallRecord_V2.url": ("esms.MakeCallRecord_V2",),
    "esms/req-voice-MakeCallTemplate_V2.url": ("esms.MakeCallTemplate_V2",),
    # NXCloud (spec nxcloud-apis.md §1, §2, §4.1, §5.1, §6.1; providers.md §1.2).
    "nxcloud/sms-mtsend-request.form": ("nxcloud.sms.mtsend",),
    "nxcloud/sms-mtsend-response-success.json": ("nxcloud.sms.mtsend",),
    "nxcloud/sms-mtsend-response-success-zh.json": ("nxcloud.sms.mtsend",),
    "nxcloud/sms-mtsend_v2-request.json": ("nxcloud.sms.mtsend_v2", "nxcloud.sms.mt"),
    "nxcloud/sms-mtsend_v2-response-success.json": ("nxcloud.sms.mtsend_v2",),
    # The failure is printed on the v2 page and named for the legacy API too (§1).
    "nxcloud/sms-mtsend_v2-response-failure.json": ("nxcloud.sms.mtsend_v2", "nxcloud.sms.mtsend"),
    **{f"nxcloud/viber-mt-request-{name}.json": ("nxcloud.viber.mt",) for name in (
        "text", "image", "text_image", "text_image_button", "text_button", "file", "video",
        "video_text", "video_text_button")},
    "nxcloud/viber-mt-response-success.json": ("nxcloud.viber.mt",),
    "nxcloud/viber-mt-response-failure.json": ("nxcloud.viber.mt",),
    **{f"nxcloud/wa-mt-request-{name}.json": ("nxcloud.whatsapp.mt",) for name in (
        "text", "image", "video", "audio", "document", "location", "template-parameterized",
        "template-otp")},
    "nxcloud/wa-mt-response-success.json": ("nxcloud.whatsapp.mt",),
    "nxcloud/wa-mt-response-failure-nxcloud.json": ("nxcloud.whatsapp.mt",),
    "nxcloud/wa-mt-response-failure-meta.json": ("nxcloud.whatsapp.mt",),
    "nxcloud/sms-get-response.json": ("nxcloud.sms.get",),
    "nxcloud/sms-getSmsCdr-response.json": ("nxcloud.sms.getSmsCdr",),
    "nxcloud/balance-response.json": ("nxcloud.common.getBalance",),
    "nxcloud/zalo-check-journey-token-request.json": ("nxcloud.zalo.checkJourneyToken",),
    "nxcloud/zalo-check-journey-token-response-success.json": ("nxcloud.zalo.checkJourneyToken",),
    "nxcloud/zalo-init-journey-token-request.json": ("nxcloud.zalo.initJourneyToken",),
}
"""Example file (under ``schemas/sendapi-examples/``) → the operationIds it illustrates."""

NOT_EMULATED: Mapping[str, str] = {
    "SummaryMultipleSMSBrandname-100.json": "SummaryMultipleSMSBrandname takes an XML body",
    "mo-shortcode-ClientResponse.xml": "the receiver's answer to a short-code MO push",
    "did-sms-mtsend-*.json": "DID SMS (/didsms/mtsend)",
    "saas-wa-send-*": "SaaS WhatsApp (/saas/wa/send)",
}
"""Documented send-API examples left out of ``schemas/sendapi-examples/``: dlrmock does not
emulate their APIs (docs/openapi.md)."""


@dataclass(frozen=True)
class SendExample:
    """One documented example, decoded as far as the docs allow."""

    path: str
    """Under ``schemas/sendapi-examples/``: ``esms/req-GetTemplate-sms.json``."""
    text: str
    """The file's text, verbatim."""
    request: bool
    value: Any
    """The JSON document, the form or query fields (a dict); ``None`` if it does not decode."""
    problem: str | None = None
    """Why ``value`` is ``None``: the docs print it as invalid JSON."""
    segments: tuple[str, ...] = ()
    """A request URL's path segments (eSMS puts keys there: ``GetListBrandname/{k}/{s}``)."""

    @property
    def label(self) -> str:
        """The name it goes by in the document: the file's stem, ``req-`` dropped."""
        stem = self.path.rpartition("/")[2].rpartition(".")[0]
        return stem.removeprefix("req-")


def _decode(path: str, text: str) -> SendExample:
    name = path.rpartition("/")[2]
    request = name.startswith("req-") if path.startswith("esms/") else "-request" in name
    suffix = name.rpartition(".")[2]
    if suffix == "json":
        try:
            return SendExample(path, text, request, json.loads(text))
        except ValueError as exc:
            return SendExample(path, text, request, None, f"not valid JSON as printed ({exc})")
    if suffix == "form":
        return SendExample(path, text, request,
                           dict(parse_qsl(text.strip(), keep_blank_values=True)))
    if suffix == "url":
        url = urlsplit(text.strip())
        return SendExample(path, text, request, dict(parse_qsl(url.query, keep_blank_values=True)),
                           segments=tuple(filter(None, url.path.split("/"))))
    if suffix == "curl":
        words = shlex.split(text.replace("\\\n", " "))
        pairs = [words[i + 1] for i, word in enumerate(words[:-1])
                 if word in ("--data-urlencode", "--data", "-d")]
        fields = {}
        for pair in pairs:
            key, _, value = pair.partition("=")
            fields[key] = value
        return SendExample(path, text, request, fields)
    raise ValueError(f"send-API example {path!r} has an unknown extension; use json, form, "
                     "url or curl")


@functools.cache
def send_examples() -> dict[str, SendExample]:
    """Every shipped send-API example by path, decoded (read once)."""
    root = schema_dir() / FOLDER
    found: dict[str, SendExample] = {}
    for provider in sorted(root.iterdir(), key=lambda entry: entry.name):
        if not provider.is_dir():
            continue
        for entry in sorted(provider.iterdir(), key=lambda entry: entry.name):
            if entry.is_file() and entry.name != "README.md":
                path = f"{provider.name}/{entry.name}"
                found[path] = _decode(path, entry.read_text("utf-8"))
    return found
