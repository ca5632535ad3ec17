"""The fused read pass of prepare: the same rows as the separate steps, plus signatures and
extraction status; extraction counted from the column as `tasks.extraction` counts it."""

from __future__ import annotations

import pandas as pd

from codesweep.config.pipeline import PipelineConfig
from codesweep.corpus import blocks, decontam, dedup, filters
from codesweep.corpus.ray_steps import read_block
from codesweep.drops import kept_rows
from codesweep.tasks import extraction

GOOD = "".join(f"def f{i}(x):\n    y = x * {i}\n    return y + {i}\n\n" for i in range(8))
BROKEN = "".join(f"class C{i}:\n    name = 'c{i}'\n\n" for i in range(8)) + "def broken(:\n"


def listing(tmp_path) -> pd.DataFrame:
    rows = []
    for name, text in [("good.py", GOOD), ("broken.py", BROKEN), ("short.py", "x = 1\n")]:
        (tmp_path / name).write_text(text)
        rows.append({"repo": "r", "revision": "", "path": name, "language": "python",
                     "abspath": str(tmp_path / name), "size": len(text)})
    return pd.DataFrame(rows)


def test_read_block_equals_the_steps_one_after_another(tmp_path) -> None:
    config = PipelineConfig(name="t", sources=[{"path": "."}], tasks=[{"builder": "fim"}])
    bench = decontam.BenchmarkIndex(ngram=10)
    bench.add("item", GOOD[:80])
    out = read_block(listing(tmp_path), config, bench)
    expected = decontam.mark_contaminated(filters.process_batch(listing(tmp_path),
                                                                config.filters),
                                          bench, config.decontam)
    assert out[expected.columns].equals(expected)
    assert list(out["extraction"]) == ["", "failed", ""]  # good.py is contaminated
    assert out["sig"].iat[1] == dedup.signature(BROKEN, 5, 128).tobytes()
    assert out["sig"].iat[0] == b""


def test_extraction_counts_match_the_task_module() -> None:
    files = pd.DataFrame({"text": [GOOD, BROKEN, GOOD], "language": ["python"] * 3,
                          "split": ["train", "train", "test"], "drop_reason": [""] * 3})
    counted = blocks.extraction_counts(blocks.with_extraction_status(kept_rows(files)))
    assert counted.equals(extraction.status_counts(files))


def test_line_tasks_alone_parse_nothing(tmp_path) -> None:
    """Extraction status counts functions lost to parse errors; a recipe whose tasks only
    read lines (completion) does not parse its files for it."""
    from codesweep.corpus.ray_steps import counts_extraction

    config = PipelineConfig(name="t", sources=[{"path": "."}],
                            tasks=[{"builder": "completion"}])
    assert not counts_extraction(config)
    out = read_block(listing(tmp_path), config, None)
    assert "extraction" not in out.columns and len(out) == 3
    both = config.model_copy(update={"tasks": [*config.tasks, *PipelineConfig(
        name="t", sources=[{"path": "."}], tasks=[{"builder": "text_to_code"}]).tasks]})
    assert counts_extraction(both)
