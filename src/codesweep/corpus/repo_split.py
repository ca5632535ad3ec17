"""`split.by: repo`: whole repositories per split, every requested split non-empty.

Hashing repository names into splits works for hundreds of repositories; with a handful it
usually puts them all in train. Instead the driver assigns repositories once, before any file
is read: largest first, each to the split furthest below its share of the listed bytes, and
the last repositories to the splits still empty. Ties break on a seeded hash of the name, so
the assignment is deterministic and depends only on the listing, the fractions and the seed.
"""

from __future__ import annotations

from collections import Counter

from codesweep.config.pipeline import SPLITS, SplitConfig
from codesweep.corpus.splits import unit_fraction
from codesweep.errors import CodesweepError


def repo_sizes(sources: list) -> dict[str, int]:
    """Listed bytes per repository name (sources sharing a name count as one repository)."""
    sizes: Counter[str] = Counter()
    for source in sources:
        sizes[source.name] += source.bytes
    return dict(sizes)


def assign_repos(sizes: dict[str, int], cfg: SplitConfig, seed: int) -> dict[str, str]:
    """Repository -> split, balanced by size, with at least one repository per non-empty split."""
    wanted = [split for split in SPLITS if getattr(cfg, split) > 0]
    if len(sizes) < len(wanted):
        raise CodesweepError(
            f"split.by: repo needs a repository per non-empty split ({', '.join(wanted)}) but "
            f"the sources give {len(sizes)} ({', '.join(sorted(sizes)) or 'none'}); add sources "
            "or set a split's fraction to 0")
    total = sum(sizes.values())
    order = sorted(sizes, key=lambda repo: (-sizes[repo], unit_fraction(seed, repo), repo))
    filled = dict.fromkeys(wanted, 0)
    assigned: dict[str, str] = {}
    for position, repo in enumerate(order):
        empty = [split for split in wanted if split not in assigned.values()]
        choices = empty if len(order) - position <= len(empty) else wanted
        split = max(choices, key=lambda s: (getattr(cfg, s) * total - filled[s], -wanted.index(s)))
        assigned[repo] = split
        filled[split] += sizes[repo]
    return assigned


def repo_assignment(sources: list, cfg: SplitConfig, seed: int) -> dict[str, str] | None:
    """The repository -> split map for `split.by: repo`; None when files are split one by one."""
    return assign_repos(repo_sizes(sources), cfg, seed) if cfg.by == "repo" else None
