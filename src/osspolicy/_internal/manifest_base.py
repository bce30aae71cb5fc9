"""What the models of a job manifest share (contracts §1).

`StrictModel` is the base of every one: unknown keys rejected, values frozen, attribute
docstrings the descriptions of the JSON Schema (`schema.py`). `one_of_keys` is the JSON
Schema of "exactly one of these keys", and `RegionId` the region id that both
`targets.discover` and `connection` take.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema

from .regions import REGION_ID, region_hint

__all__ = ("RegionId", "StrictModel", "check_region", "one_of_keys")


def one_of_keys(*keys: str) -> dict[str, Any]:
    """JSON Schema for "exactly one of these keys" (what a model validator checks)."""
    return {"oneOf": [{"required": [key]} for key in keys]}


class StrictModel(BaseModel):
    # attribute docstrings become the descriptions of the JSON Schema (`schema.py`)
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def check_region(value: str) -> str:
    """Return `value` if it has the shape of an OSS region id, else raise ValueError with
    a hint (`hangzhou` or `oss-cn-hangzhou` are not region ids: `cn-hangzhou` is)."""
    if not REGION_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not an OSS region id; {region_hint(value)}")
    return value


#: a region id: checked with `check_region` (its "did you mean" message), and carried
#: into the JSON Schema as the same pattern
RegionId = Annotated[
    str,
    AfterValidator(check_region),
    WithJsonSchema({"type": "string", "pattern": REGION_ID.pattern}),
]
