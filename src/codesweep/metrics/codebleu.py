"""CodeBLEU (Ren et al., 2020) for Python and Java, on tree-sitter.

codebleu = a * ngram + b * weighted_ngram + c * ast_match + d * dataflow_match, with
(a, b, c, d) = (0.25, 0.25, 0.25, 0.25) by default (`codebleu_score(..., weights=)`). Components:
- ngram: corpus BLEU-4 on whitespace tokens (NLTK definition, smoothing method 1);
- weighted ngram: the same on recall, unigrams weighted 1 for keywords and 0.2 otherwise;
- AST match: reference subtrees (as S-expressions) that occur in the prediction;
- dataflow match: normalised reference data-flow edges found in the prediction's graph.
A corpus whose references have no data flow scores 0 on that component: the `codebleu`
package's `dataflow_match_score or 1` turns that 0 into full credit, which we do not copy.
"""

from __future__ import annotations

import keyword
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from codesweep.errors import CodesweepError
from codesweep.languages import parser
from codesweep.metrics.dataflow import COMMENT_TYPES, data_flow, normalize
from codesweep.metrics.registry import Score, ScoreContext, metric

CODEBLEU_WEIGHTS = (0.25, 0.25, 0.25, 0.25)
LANGUAGES = ("python", "java")
KEYWORD_WEIGHT, OTHER_WEIGHT, EPSILON = 1.0, 0.2, 0.1
JAVA_KEYWORDS = frozenset([  # the Java language specification, section 3.9
    "abstract", "assert", "boolean", "break", "byte", "case", "catch", "char", "class",
    "const", "continue", "default", "do", "double", "else", "enum", "extends", "final",
    "finally", "float", "for", "goto", "if", "implements", "import", "instanceof", "int",
    "interface", "long", "native", "new", "package", "private", "protected", "public",
    "return", "short", "static", "strictfp", "super", "switch", "synchronized", "this",
    "throw", "throws", "transient", "try", "void", "volatile", "while",
])
KEYWORDS = {"python": frozenset([*keyword.kwlist, "match", "case", "type"]),
            "java": JAVA_KEYWORDS}


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ngram_score(hyps: list[list[str]], refs: list[list[str]], weights: dict | None = None) -> float:
    """Corpus BLEU-4 in 0..1: precision by default; recall with unigram weights if given."""
    numerators, denominators = [0.0] * 4, [0.0] * 4
    for hyp, ref in zip(hyps, refs, strict=True):
        for n in range(1, 5):
            hyp_counts, ref_counts = _ngram_counts(hyp, n), _ngram_counts(ref, n)
            clipped = {g: min(c, hyp_counts[g]) for g, c in ref_counts.items()}
            if weights is not None and n == 1:
                numerators[0] += sum(c * weights.get(g[0], 1) for g, c in clipped.items())
                denominators[0] += max(1, sum(c * weights.get(g[0], 1)
                                              for g, c in ref_counts.items()))
            else:
                numerators[n - 1] += sum(clipped.values())
                base = ref_counts if weights is not None else hyp_counts
                denominators[n - 1] += max(1, sum(base.values()))
    if numerators[0] == 0:
        return 0.0
    log_mean = sum(math.log((num or EPSILON) / den) for num, den in zip(
        numerators, denominators, strict=True)) / 4
    # The recall variant has no brevity penalty: recall already punishes short output, and
    # CodeXGLUE's implementation (which published CodeBLEU scores come from) applies none.
    penalty = 1.0 if weights is not None else _brevity_penalty(hyps, refs)
    return penalty * math.exp(log_mean)


def _brevity_penalty(hyps: list[list[str]], refs: list[list[str]]) -> float:
    hyp_len, ref_len = sum(map(len, hyps)), sum(map(len, refs))
    if hyp_len > ref_len:
        return 1.0
    return 0.0 if hyp_len == 0 else math.exp(1 - ref_len / hyp_len)


def _keyword_weights(refs: list[list[str]], language: str) -> dict[str, float]:
    return {t: KEYWORD_WEIGHT if t in KEYWORDS[language] else OTHER_WEIGHT
            for ref in refs for t in ref}


def _without_comments(code: str, language: str) -> Any:
    """The tree of `code` after blanking comments (and Python docstrings)."""
    source = code.encode()
    tree = parser(language).parse(source)
    spans = [(n.start_byte, n.end_byte) for n in _comment_nodes(tree.root_node, language)]
    if not spans:
        return tree.root_node
    blanked = bytearray(source)
    for start, end in spans:
        blanked[start:end] = b" " * (end - start)
    return parser(language).parse(bytes(blanked)).root_node


def _comment_nodes(node: Any, language: str) -> list[Any]:
    if node.type in COMMENT_TYPES:
        return [node]
    found = []
    for child in node.children:
        # every statement that is only a string, as CodeXGLUE's docstring removal treats it
        if language == "python" and _is_docstring(child):
            found.append(child)
        else:
            found += _comment_nodes(child, language)
    return found


def _is_docstring(node: Any) -> bool:
    return (node.type == "expression_statement" and len(node.children) == 1
            and node.children[0].type == "string")


def _subtrees(root: Any) -> Counter:
    """S-expressions of the root and of every inner (non-leaf) node below it."""
    found: Counter = Counter()
    stack = [root]
    while stack:
        node = stack.pop()
        found[str(node)] += 1
        stack += [child for child in node.children if child.children]
    return found


def ast_match(pred_trees: list[Any], ref_trees: list[Any]) -> float:
    """Share of reference subtrees that also occur somewhere in the prediction.

    Counted per reference subtree without clipping, as CodeXGLUE's syntax_match does, so
    that scores compare with published CodeBLEU numbers.
    """
    matched = total = 0
    for pred, ref in zip(pred_trees, ref_trees, strict=True):
        ref_subtrees, pred_subtrees = _subtrees(ref), _subtrees(pred)
        matched += sum(count for tree, count in ref_subtrees.items() if tree in pred_subtrees)
        total += sum(ref_subtrees.values())
    return matched / total if total else 0.0


def dataflow_match(pred_trees: list[Any], ref_trees: list[Any], language: str) -> float:
    """Share of normalised reference data-flow edges found in the prediction's graph."""
    matched = total = 0
    for pred, ref in zip(pred_trees, ref_trees, strict=True):
        candidates = Counter(normalize(data_flow(pred, language)))
        wanted = Counter(normalize(data_flow(ref, language)))
        matched += sum((wanted & candidates).values())
        total += sum(wanted.values())
    return matched / total if total else 0.0  # no reference flow: 0, never full credit


def codebleu_components(
    predictions: Sequence[str], references: Sequence[str], language: str
) -> dict[str, float]:
    """The four components in 0..1."""
    if language not in LANGUAGES:
        raise CodesweepError(f'codebleu supports {", ".join(LANGUAGES)}, not "{language}"')
    hyps = [p.strip().split() for p in predictions]
    refs = [r.strip().split() for r in references]
    pred_trees = [_without_comments(p.strip(), language) for p in predictions]
    ref_trees = [_without_comments(r.strip(), language) for r in references]
    return {
        "ngram": ngram_score(hyps, refs),
        "weighted_ngram": ngram_score(hyps, refs, _keyword_weights(refs, language)),
        "ast": ast_match(pred_trees, ref_trees),
        "dataflow": dataflow_match(pred_trees, ref_trees, language),
    }


def codebleu_score(
    predictions: Sequence[str], references: Sequence[str], language: str = "python",
    weights: tuple[float, float, float, float] = CODEBLEU_WEIGHTS,
) -> float:
    """CodeBLEU x100 with custom component weights (n-gram, weighted n-gram, AST, data flow)."""
    if not predictions:
        return 0.0
    components = codebleu_components(predictions, references, language)
    return 100.0 * sum(w * v for w, v in zip(weights, components.values(), strict=True))


@metric("codebleu", "CodeBLEU (Python, Java): n-gram, keyword n-gram, AST and data-flow match")
def codebleu(predictions: Sequence[str], references: Sequence[str], context: ScoreContext) -> Score:
    """CodeBLEU x100 with the default weights; corpus-level only."""
    return Score(codebleu_score(predictions, references, context.language))
