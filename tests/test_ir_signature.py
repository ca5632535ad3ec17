"""The non-oracle IR variant: its prompt holds nothing derived from the solution's body."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from codesweep.tasks.method_generation import build_method_generation

PYTHON = '''\
def drain(queue: list, limit: int = 3) -> int:
    """Pop items until the queue is empty or the limit is reached."""
    popped_so_far_xyzzy = 0
    while queue and popped_so_far_xyzzy < limit:
        try:
            queue.pop()
        except IndexError:
            break
        popped_so_far_xyzzy += 1
    return popped_so_far_xyzzy
'''

JAVA = '''\
class Queue {
    /** Pops items until the queue is empty or the limit is reached. */
    int drain(java.util.List<Integer> queue, int limit) {
        int poppedSoFarXyzzy = 0;
        while (!queue.isEmpty() && poppedSoFarXyzzy < limit) {
            queue.remove(0);
            poppedSoFarXyzzy++;
        }
        return poppedSoFarXyzzy;
    }
}
'''

# IR tokens that only the bodies above produce, and an identifier used only in them
BODY_TOKENS = {"python": ["<ast:While>", "<ast:Try>", "<ast:Return>", "<stmt:While>",
                          "<edge:back>", "<edge:break>"],
               "java": ["<ast:while_statement>", "<ast:return_statement>",
                        "<ast:local_variable_declaration>"]}
BODY_ONLY_NAME = {"python": "popped_so_far_xyzzy", "java": "poppedSoFarXyzzy"}


def generation_example(text: str, language: str, variant: str) -> pd.Series:
    """The one method-generation example built from `text`."""
    files = pd.DataFrame([{"repo": "r", "revision": "0" * 40, "path": f"f.{language}",
                           "language": language, "text": text, "split": "train",
                           "sha": hashlib.sha256(text.encode()).hexdigest()}])
    params = {"ir": {"variant": variant, "languages": ["python", "java"]}}
    row = build_method_generation(files, params, seed=0).iloc[0]
    assert row["drop_reason"] == ""
    return row


@pytest.mark.parametrize(("text", "language"), [(PYTHON, "python"), (JAVA, "java")])
def test_signature_ir_prompt_has_no_token_from_the_body(text: str, language: str) -> None:
    oracle = generation_example(text, language, "B")
    own = generation_example(text, language, "signature_ir")
    assert BODY_ONLY_NAME[language] in own["completion"]  # the name is the body's alone
    assert "AST:" in own["ir"] and own["prompt"].startswith(own["ir"])
    assert [token for token in BODY_TOKENS[language] if token in own["prompt"]] == []
    assert BODY_ONLY_NAME[language] not in own["prompt"]
    assert [token for token in BODY_TOKENS[language] if token not in oracle["prompt"]] == []


@pytest.mark.parametrize(("text", "language"), [(PYTHON, "python"), (JAVA, "java")])
def test_signature_ir_is_the_same_whatever_the_body(text: str, language: str) -> None:
    other_body = text.replace("while", "if")
    assert generation_example(text, language, "signature_ir")["ir"] == \
        generation_example(other_body, language, "signature_ir")["ir"]
    assert generation_example(text, language, "B")["ir"] != \
        generation_example(other_body, language, "B")["ir"]
