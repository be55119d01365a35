"""Every user-facing message exists in Spanish and English with the same placeholders."""

from __future__ import annotations

import string

import pytest

from agent.core import i18n


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(i18n.MESSAGES))
def test_message_has_both_languages_and_same_fields(key: str) -> None:
    entry = i18n.MESSAGES[key]
    assert set(entry) == set(i18n.LANGUAGES), key
    assert entry["es"].strip() and entry["en"].strip()
    assert _fields(entry["es"]) == _fields(entry["en"]), key


def test_language_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AVISO_LANG", raising=False)
    assert i18n.resolve_language(None) == "es"
    monkeypatch.setenv("AVISO_LANG", "en_US.UTF-8")
    assert i18n.resolve_language(None) == "en"
    assert i18n.resolve_language("es") == "es"
    monkeypatch.setenv("AVISO_LANG", "fr")
    assert i18n.resolve_language(None) == "es"


def test_duplicate_keys_across_areas_are_refused() -> None:
    with pytest.raises(RuntimeError, match="defined twice"):
        i18n._merge(({"a": {"es": "x", "en": "x"}}, {"a": {"es": "y", "en": "y"}}))
