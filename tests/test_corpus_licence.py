"""Licence headers after a preamble, in Python module docstrings, and doc comments kept."""

from __future__ import annotations

import pytest

from codesweep.corpus.licence import strip_license_header

APACHE = ("/*\n * Copyright 2019 Square, Inc.\n *\n * Licensed under the Apache License, "
          "Version 2.0\n */\n")
CODE = "class Buffer {\n    val size = 0\n}\n"


@pytest.mark.parametrize("preamble", ["// ktlint-disable filename\n", "@file:JvmName(\"Okio\")\n",
                                      "package okio\n\n", "@file:JvmName(\"A\")\n\npackage a\n"])
def test_a_header_after_a_preamble_is_stripped_and_the_preamble_kept(preamble: str) -> None:
    text, changed = strip_license_header(preamble + APACHE + "\n" + CODE, "kotlin")
    assert changed and text == preamble + CODE


def test_a_doc_comment_that_mentions_a_license_is_kept() -> None:
    doc = "/**\n * Reads the license field of a package manifest.\n */\n"
    text, changed = strip_license_header(doc + CODE, "java")
    assert not changed and text == doc + CODE
    licence_doc = "/**\n * Licensed under the MIT License.\n */\n"
    assert strip_license_header(licence_doc + CODE, "java") == (CODE, True)


def test_python_licence_paragraphs_leave_the_module_docstring() -> None:
    module = ('"""\n    flask.app\n    ~~~~~~~~~\n\n    The application object.\n\n'
              '    :copyright: 2010 Pallets\n    :license: BSD-3-Clause, see LICENSE.\n"""\n'
              "import os\n")
    text, changed = strip_license_header(module, "python")
    assert changed and "copyright" not in text.lower() and "license" not in text.lower()
    assert "The application object." in text and text.endswith('"""\nimport os\n')
    compile(text, "app.py", "exec")
    only = '#!/usr/bin/env python\n"""Copyright (c) 2020 ACME. All rights reserved."""\n\nx = 1\n'
    assert strip_license_header(only, "python") == ("#!/usr/bin/env python\nx = 1\n", True)
    plain = '"""Parse the license field of package metadata."""\nx = 1\n'
    assert strip_license_header(plain, "python") == (plain, False)
