"""The providers dlrmock fakes. Adding one means adding a module here plus its schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import DetectionError, UnknownKindError, UnknownProviderError
from . import esms, nxcloud
from ._base import (
    ACKNOWLEDGE_RULES,
    AcknowledgeRule,
    DeliveryPolicy,
    Family,
    Message,
    PackedField,
    Payload,
    Provider,
    ReceiptKind,
    Transport,
    WireRequest,
)

__all__ = [
    "ACKNOWLEDGE_RULES",
    "FAMILIES",
    "KINDS",
    "PROVIDERS",
    "AcknowledgeRule",
    "DeliveryPolicy",
    "Family",
    "Message",
    "PackedField",
    "Payload",
    "Provider",
    "ReceiptKind",
    "Transport",
    "WireRequest",
    "detect_provider_kind",
    "get_kind",
    "get_provider",
]

PROVIDERS: dict[str, Provider] = {p.name: p for p in (nxcloud.PROVIDER, esms.PROVIDER)}
KINDS: dict[str, ReceiptKind] = {
    name: kind for provider in PROVIDERS.values() for name, kind in provider.kinds.items()
}
FAMILIES: dict[str, Family] = {
    name: family for provider in PROVIDERS.values() for name, family in provider.families.items()
}


def get_kind(name: str | ReceiptKind) -> ReceiptKind:
    """The receipt kind called ``name`` (a kind is returned as it is); an unknown name lists
    the kinds, closest first."""
    if isinstance(name, ReceiptKind):
        return name
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise UnknownKindError(str(name), KINDS) from None


def get_provider(name: str) -> Provider:
    """The provider called ``name`` (``nxcloud`` or ``esms``)."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise UnknownProviderError(name, PROVIDERS) from None


def detect_provider_kind(payload: Mapping[str, Any]) -> str:
    """The receipt kind of ``payload``, told from its ``status``, ``TypeId`` or, for eSMS
    voice and MO, their own parameters."""
    for provider in PROVIDERS.values():
        kind = provider.detect(payload)
        if kind is not None:
            return kind
    if "status" in payload or "statuses" in payload:
        raise DetectionError(f"{nxcloud.unknown_status_hint(payload)} (or pass --kind)")
    if "TypeId" in payload:
        raise DetectionError(
            f"unknown eSMS TypeId {payload['TypeId']!r}; expected one of "
            f"{', '.join(esms.TYPE_IDS)} (or pass --kind)"
        )
    raise DetectionError(
        "cannot tell the receipt kind: no 'status' / 'statuses' (NXCloud), 'TypeId' (eSMS), "
        "'ReferenceId' with 'CallStatus' (eSMS voice) or 'sender' with 'serviceNumber' (eSMS "
        "short-code MO), 'ServicePreviewId' with 'Status' (eSMS template registration) "
        "field; pass the kind explicitly (--kind KIND)"
    )
