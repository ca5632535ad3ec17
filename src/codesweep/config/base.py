"""What every recipe section shares: unknown keys are errors, and names that become paths."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


def check_name(value: str) -> str:
    """A name that becomes a directory or run name: letters, digits, '.', '_', '-'."""
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError("use letters, digits, '.', '_' or '-' (it names a directory)")
    return value


SafeName = Annotated[str, AfterValidator(check_name)]
