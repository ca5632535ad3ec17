"""Intermediate representations of functions: AST and control-flow-graph serializations.

Both serialize to whitespace-separated IR tokens in namespaces that never occur in source code
(`<ast:...>`, `</ast>`, `<cfg:...>`, `<stmt:...>`, `<edge:...>`), so variant C can add each one
to a tokenizer as a single new token without changing how ordinary code is tokenized.
"""
