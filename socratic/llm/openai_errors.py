"""Classify OpenAI SDK errors (retry or not) and turn them into clear, key-free messages.

``openai`` is imported lazily (only when an error is actually classified).

Example:
    >>> redact("bad key sk-abc123def456 and secret-xyz", ["secret-xyz"])
    'bad key [redacted] and [redacted]'
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import LLMError, shorten
from .retry import parse_retry_after

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_KEY_PATTERN = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-*.]{4,}")


class MalformedResponse(Exception):
    """The server answered 200 with a body that is not a usable completion.

    Example:
        >>> str(MalformedResponse("no 'choices' in the response body"))
        "no 'choices' in the response body"
    """


def redact(text: str, secrets: list[str]) -> str:
    """Remove every given secret and anything shaped like an API key from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def is_retryable(exc: BaseException) -> bool:
    """429, 5xx (and 408/409), timeouts and connection errors are retried; nothing else."""
    from .openai_direct import ConnectError, HTTPStatusError, TimeoutError_

    if isinstance(exc, HTTPStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    if isinstance(exc, (ConnectError, TimeoutError_)):
        return True
    if isinstance(exc, (MalformedResponse, json.JSONDecodeError)):
        return False
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)  # includes APITimeoutError


def retry_after(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` hint in seconds, if it sent one."""
    headers = getattr(exc, "headers", None)  # the direct client's error
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    return parse_retry_after(headers)


def _server_message(exc: Any) -> str:
    """The server's own explanation: ``error.message`` (OpenAI), ``detail`` (FastAPI servers such
    as ``transformers serve``), ``message``, or the raw body; the SDK's generic text last."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        for found in (err, body):
            if isinstance(found, str) and found.strip():
                return found
            if isinstance(found, dict):
                for key in ("message", "detail", "msg"):
                    if found.get(key):
                        value = found[key]
                        return value if isinstance(value, str) else json.dumps(value)
    if isinstance(body, str) and body.strip():
        return shorten(body.strip(), 500)
    if isinstance(getattr(exc, "text", None), str) and exc.text.strip():
        return shorten(exc.text.strip(), 500)
    response = getattr(exc, "response", None)
    try:
        text = response.text.strip() if response is not None else ""
    except Exception:  # a streamed body that was not read
        text = ""
    return shorten(text, 500) if text else str(getattr(exc, "message", "") or exc)


def to_llm_error(
    exc: BaseException,
    *,
    model: str,
    base_url: str,
    attempts: int,
    timeout: float,
    key_env: str | None,
    secrets: list[str],
) -> LLMError:
    """One readable :class:`LLMError` for any failure (the key never appears in it)."""
    from .openai_direct import ConnectError, HTTPStatusError, TimeoutError_

    where = f"model '{model}' at {base_url}"
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, (MalformedResponse, json.JSONDecodeError)):
        return LLMError(redact(f"malformed response from {where}: {exc}", secrets))
    if isinstance(exc, (HTTPStatusError, ConnectError, TimeoutError_)):
        return LLMError(redact(_direct_message(exc, where, tries, timeout, key_env, model), secrets))
    import openai

    malformed = (MalformedResponse, json.JSONDecodeError, openai.APIResponseValidationError)
    if isinstance(exc, malformed):
        msg = f"malformed response from {where}: {exc}"
    elif isinstance(exc, openai.APIStatusError):
        msg = _status_message(exc.status_code, _server_message(exc), where, tries, key_env, model,
                              is_retryable(exc))
    elif isinstance(exc, openai.APITimeoutError):
        msg = f"request to {where} timed out ({timeout:g}s per attempt, {tries})"
    elif isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        reason = f": {type(cause).__name__}: {cause}" if cause else ""
        msg = f"could not connect to {where} {tries}{reason}"
    else:
        msg = f"request to {where} failed: {type(exc).__name__}: {exc}"
    return LLMError(redact(msg, secrets))


def _status_message(status: int, detail: str, where: str, tries: str, key_env: str | None,
                    model: str, retryable: bool) -> str:
    msg = f"HTTP {status} from {where}: {detail}"
    if status == 401:
        msg += f" (the server rejected the API key from ${key_env or 'the api key'})"
    elif status == 404:
        msg += f" (does the server serve a model named '{model}'?)"
    elif retryable:
        msg += f" ({tries})"
    return msg


def _direct_message(exc: BaseException, where: str, tries: str, timeout: float, key_env: str | None,
                    model: str) -> str:
    from .openai_direct import HTTPStatusError, TimeoutError_

    if isinstance(exc, HTTPStatusError):
        return _status_message(exc.status_code, _server_message(exc), where, tries, key_env, model,
                               is_retryable(exc))
    if isinstance(exc, TimeoutError_):
        return f"request to {where} timed out ({timeout:g}s per attempt, {tries})"
    return f"could not connect to {where} {tries}: {exc}"
