"""dlrmock: a fake NXCloud / eSMS.vn provider for contract-testing delivery-receipt webhooks."""

from __future__ import annotations

from ._engine import Attempt, Engine, Run
from ._errors import (
    DetectionError,
    DlrmockError,
    EngineClosedError,
    ErrorInfoError,
    OverrideError,
    PayloadError,
    PendingLimitError,
    RunError,
    RunNotFoundError,
    ScenarioError,
    ServerError,
    UnknownKindError,
    UnknownScenarioError,
)
from ._factory import ReceiptFactory, receipt, wire
from ._message_view import Message
from ._registry import Problem, detect_kind, load_payload, validate
from ._remote import RemoteProvider, RemoteRun
from ._scenarios import Scenario, Step, builtin_scenarios, load_scenario
from ._server import MockProvider
from ._targets import AllowList
from ._version import __version__
from ._wire import (
    DecodedErrorInfo,
    ErrorInfoEncoding,
    decode_error_info,
    encode_error_info,
    encode_query,
    parse_callback,
)
from .app import Config, create_app
from .providers import KINDS, PROVIDERS

__all__ = [
    "KINDS",
    "PROVIDERS",
    "AllowList",
    "Attempt",
    "Config",
    "DecodedErrorInfo",
    "DetectionError",
    "DlrmockError",
    "Engine",
    "EngineClosedError",
    "ErrorInfoEncoding",
    "ErrorInfoError",
    "Message",
    "MockProvider",
    "OverrideError",
    "PayloadError",
    "PendingLimitError",
    "Problem",
    "ReceiptFactory",
    "RemoteProvider",
    "RemoteRun",
    "Run",
    "RunError",
    "RunNotFoundError",
    "Scenario",
    "ScenarioError",
    "ServerError",
    "Step",
    "UnknownKindError",
    "UnknownScenarioError",
    "__version__",
    "builtin_scenarios",
    "create_app",
    "decode_error_info",
    "detect_kind",
    "encode_error_info",
    "encode_query",
    "load_payload",
    "load_scenario",
    "parse_callback",
    "receipt",
    "validate",
    "wire",
]
