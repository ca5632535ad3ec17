"""The languages module: one parser per language and process, and the code tokenizer."""

from __future__ import annotations

import pytest

from codesweep import languages
from codesweep.errors import CodesweepError
from codesweep.languages import code_tokens, code_words, count_code_tokens


def test_lexer_is_lossless_and_counts_code_tokens() -> None:
    text = "def f(x):\n    return x+1  # ok\n"
    assert "".join(code_tokens(text)) == text
    assert count_code_tokens(text) == 12  # def f ( x ) : return x + 1 # ok


def test_code_words_are_the_tokens_without_whitespace() -> None:
    text = "x = foo(1, 'a')\n\tif  y:  pass\n"
    assert code_words(text) == ["x", "=", "foo", "(", "1", ",", "'", "a", "'", ")", "if", "y",
                                ":", "pass"]
    assert len(code_words(text)) == count_code_tokens(text)


@pytest.mark.parametrize("language", ["python", "java", "kotlin"])
def test_one_cached_parser_per_language(language: str) -> None:
    assert languages.parser(language) is languages.parser(language)
    assert not languages.parser(language).parse(b"").root_node.has_error


def test_every_default_extension_has_a_grammar_and_unknown_languages_are_errors() -> None:
    assert all(languages.has_grammar(lang) for lang in languages.DEFAULT_EXTENSIONS.values())
    with pytest.raises(CodesweepError, match='no tree-sitter grammar for "rust"'):
        languages.parser("rust")
