"""dlrmock: a fake NXCloud / eSMS.vn provider for contract-testing delivery-receipt webhooks."""

from __future__ import annotations

from ._errors import (
    DetectionError,
    DlrmockError,
    ErrorInfoError,
    OverrideError,
    PayloadError,
    RunError,
    ScenarioError,
    ServerError,
    UnknownKindError,
    UnknownScenarioError,
)
from ._factory import ReceiptFactory, receipt, wire
from ._registry import Problem, detect_kind, load_payload, validate
from ._wire import (
    DecodedErrorInfo,
    ErrorInfoEncoding,
    decode_error_info,
    encode_error_info,
    encode_query,
    parse_callback,
)
from .providers import KINDS, PROVIDERS

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "PROVIDERS",
    "DecodedErrorInfo",
    "DetectionError",
    "DlrmockError",
    "ErrorInfoEncoding",
    "ErrorInfoError",
    "OverrideError",
    "PayloadError",
    "Problem",
    "ReceiptFactory",
    "RunError",
    "ScenarioError",
    "ServerError",
    "UnknownKindError",
    "UnknownScenarioError",
    "decode_error_info",
    "detect_kind",
    "encode_error_info",
    "encode_query",
    "load_payload",
    "parse_callback",
    "receipt",
    "validate",
    "wire",
]
