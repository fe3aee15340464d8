"""Prompt templates live as Jinja files in templates/; their hashes enter the artifact keys that use them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import jinja2

from selftrain_core.errors import ConfigError
from selftrain_core.hashing import bytes_sha256

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@dataclass(frozen=True)
class PromptTemplate:
    prompt_id: str
    source: str
    sha256: str

    def render(self, **values: str) -> str:
        return _ENV.from_string(self.source).render(**values).strip()

    def messages(self, **values: str) -> list[dict[str, str]]:
        """One user turn in chat format."""
        return [{"role": "user", "content": self.render(**values)}]

    def manifest_entry(self) -> dict[str, str]:
        return {"prompt_id": self.prompt_id, "sha256": self.sha256}


def available_prompts() -> list[str]:
    folder = resources.files("selftrain_core.prompts") / "templates"
    return sorted(p.name.removesuffix(".jinja") for p in folder.iterdir() if p.name.endswith(".jinja"))


@cache
def load_prompt(prompt_id: str) -> PromptTemplate:
    path = resources.files("selftrain_core.prompts") / "templates" / f"{prompt_id}.jinja"
    if not path.is_file():
        raise ConfigError(f"unknown prompt {prompt_id!r}; prompts: {', '.join(available_prompts())}")
    data = path.read_bytes()
    return PromptTemplate(prompt_id, data.decode("utf-8"), bytes_sha256(data))
