"""One logging set-up for every command: rich logs on stderr, quiet dependencies, no secrets.

Why: stdout may carry a command's data, so logs go to stderr; the NLP stack (PyRuSH, PyFastNER,
medspacy) logs every sentence at DEBUG, which would bury our messages and slow long jobs; and API
keys for LLM endpoints must never reach a log, even by accident.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import sys

from rich.console import Console
from rich.logging import RichHandler

# Third-party loggers that are chatty at INFO/DEBUG; they keep WARNING and above.
NOISY_LOGGERS: tuple[str, ...] = (
    "PyRuSH",
    "PyFastNER",
    "medspacy",
    "medspacy_quickumls",
    "quickumls",
    "spacy",
    "urllib3",
    "httpx",
    "httpcore",
    "filelock",
)

# Each pattern's group 1 is kept and the rest of the match becomes "***".
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # user:password@ in a URL (scheme://user:pw@host): the user goes too
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^\s/@:]*:[^\s/@]*(?=@)"),
    # name=value / "name": "value" for names that hold credentials (api_key, HF_TOKEN, …);
    # `token\b` leaves counts such as max_tokens=512 readable, and a name inside a path or
    # file name (/etc/passwd: No such file, ./token: x) is not a name=value pair
    re.compile(r"(?i)((?<![\w/\\.-])[\w-]*(?:api[_-]?key|token|secret|password|passwd)\b"
               r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
    re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?[^\s\"',}]+"),
    re.compile(r"(?i)(\bbearer\s+)[\w.~+/=-]{8,}"),
    re.compile(r"()\b(?:sk|hf)[-_][\w-]{16,}"),  # OpenAI / Hugging Face style keys anywhere
)
_LOGURU_HANDLER: list[int] = []  # id of the loguru sink we installed, so set-up is idempotent


def redact(text: str) -> str:
    """Mask credentials in a log message.

    >>> redact("POST https://x/v1 api_key=abc123 max_tokens=512 Authorization: Bearer tok.en.123")
    'POST https://x/v1 api_key=*** max_tokens=512 Authorization: ***'
    >>> redact("http://user:pw@127.0.0.1:9/v1 failed; /etc/passwd: No such file")
    'http://***@127.0.0.1:9/v1 failed; /etc/passwd: No such file'
    """
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks credentials in every record a handler emits (message and arguments alike)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(verbose: bool = False) -> None:
    """Log our messages (INFO, or DEBUG when verbose) to stderr through rich; quiet the NLP stack.

    Safe to call more than once: it replaces the root handlers instead of adding to them.
    """
    handler = RichHandler(
        console=Console(stderr=True),
        show_path=verbose,
        rich_tracebacks=True,
        tracebacks_show_locals=False,  # locals can hold API keys
        markup=False,
    )
    handler.addFilter(RedactingFilter())
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[handler],
        force=True,
    )
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    _quiet_loguru()


def _quiet_loguru() -> None:
    """Some PyRuSH builds log through loguru, whose default sink prints every sentence at DEBUG."""
    if importlib.util.find_spec("loguru") is None:
        return
    from loguru import logger

    logger.disable("PyRuSH")
    if _LOGURU_HANDLER:
        return
    with contextlib.suppress(ValueError):  # already removed by someone else
        logger.remove(0)  # loguru's default DEBUG sink on stderr
    _LOGURU_HANDLER.append(logger.add(sys.stderr, level="WARNING"))


def quiet_transformers(verbose: bool = False) -> None:
    """Transformers draws a progress bar for every weight load and save and warns about
    generation defaults; our commands show their own progress, so keep only its errors."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if not verbose:
        hf_logging.set_verbosity_error()
