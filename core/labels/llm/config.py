"""Where the judge is: the `[llm_judge]` section of `.streamlit/secrets.toml`, checked once, so a
section that cannot work is a Russian message naming the key rather than a failure at the first
request. Without the section there is no judge and nothing is sent anywhere."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

from core import display

SECTION = "llm_judge"
SECRETS_FILE = ".streamlit/secrets.toml"
DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MAX_ITEMS = 40       # new questions per run at most; the rest wait for the next run
KEYS = ("base_url", "model", "api_key", "timeout_s", "max_items")


class JudgeConfigError(ValueError):
    """The [llm_judge] section is there but unusable; the message (Russian) names the key."""


class JudgeError(RuntimeError):
    """A request failed: network, timeout, HTTP status or an answer not shaped like the API's."""


def _problem(text: str) -> JudgeConfigError:
    return JudgeConfigError(f"LLM-судья не настроен: в {SECRETS_FILE}, раздел `[{SECTION}]`, {text} "
                            "Пока это не исправлено, подсказки LLM недоступны; остальное работает как обычно.")


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str                                  # e.g. http://localhost:8000/v1
    model: str
    api_key: str = field(default="", repr=False)   # sent as a Bearer token; never shown or logged
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_items: int = DEFAULT_MAX_ITEMS

    @classmethod
    def from_section(cls, section) -> "JudgeConfig | None":
        """The judge of a secrets section (a plain mapping); None when there is no section.
        Raises JudgeConfigError with a Russian message naming the key that is wrong."""
        if section is None:
            return None
        if not isinstance(section, Mapping):
            raise _problem(f"`{SECTION}` должен быть разделом `[{SECTION}]` с ключами `base_url` и `model`.")
        unknown = [str(k) for k in section if k not in KEYS]
        if unknown:
            raise _problem(f"неизвестный ключ {display.quoted(unknown)}; известны: {', '.join(KEYS)}.")
        base = section.get("base_url")
        parts = urlsplit(base.strip()) if isinstance(base, str) else None
        try:
            port_ok = parts is not None and (parts.port is None or parts.port > 0)
        except ValueError:       # "http://host:abc"
            port_ok = False
        if not port_ok or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _problem("ключ `base_url` должен быть адресом OpenAI-совместимого сервера, начинающимся с "
                           "http:// или https:// (например http://localhost:8000/v1).")
        model = section.get("model")
        if not isinstance(model, str) or not model.strip():
            raise _problem("не задан ключ `model`: имя модели, как его знает сервер (например "
                           "Qwen/Qwen2.5-7B-Instruct).")
        key = section.get("api_key", "")
        if not isinstance(key, str) or not re.fullmatch(r"[!-~]*", key.strip()):
            raise _problem("ключ `api_key` должен быть строкой в кавычках из латинских букв, цифр и знаков, "
                           "без пробелов (он уходит в заголовок Authorization).")
        timeout = section.get("timeout_s", DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
            raise _problem("ключ `timeout_s` должен быть числом секунд больше 0 и не больше 600.")
        items = section.get("max_items", DEFAULT_MAX_ITEMS)
        if isinstance(items, bool) or not isinstance(items, int) or not 1 <= items <= 1000:
            raise _problem("ключ `max_items` должен быть целым числом от 1 до 1000.")
        return cls(base.strip().rstrip("/"), model.strip(), key.strip(), float(timeout), int(items))

    @property
    def endpoint(self) -> str:
        return self.base_url + "/chat/completions"

    @property
    def host(self) -> str:
        """host[:port] for messages: never the path or any user:password@ of the URL."""
        parts = urlsplit(self.base_url)
        name = parts.hostname or ""
        name = f"[{name}]" if ":" in name else name
        return f"{name}:{parts.port}" if parts.port else name


def secrets_section(secrets: Mapping):
    """The [llm_judge] section of st.secrets (or any mapping), or None; no secrets file is None."""
    try:
        return secrets.get(SECTION)
    except Exception:   # no secrets file at all: no judge
        return None
