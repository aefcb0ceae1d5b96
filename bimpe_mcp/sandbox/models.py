"""Request bodies of the emulated API as pydantic models, and the wording of their 400 answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Self, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from .errors import SandboxApiError, validation_error

E164_PATTERN = r"^\+[1-9]\d{6,14}$"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,50}$"


@dataclass(frozen=True)
class Wording:
    """What a 400 says of one field: when it is absent, when its JSON type is wrong, and when it is otherwise
    invalid (`wrong_type` defaults to `invalid`)."""

    invalid: str
    wrong_type: str | None = None
    missing: str = "is required"

    def of(self, error: ErrorDetails) -> str:
        if error["type"] == "missing":
            return self.missing
        if error["type"].endswith("_type") and self.wrong_type is not None:
            return self.wrong_type
        return self.invalid


class RequestBody(BaseModel):
    """A JSON object body. Keys the model does not name are ignored, as the API ignores them."""

    # strict: "true" is not a boolean and 5 is not a string. python-re: patterns run on Python's `re`, like every
    # other pattern of the sandbox (`\d` takes any Unicode digit, `$` also matches before a final newline).
    model_config = ConfigDict(strict=True, frozen=True, regex_engine="python-re")

    @classmethod
    def parse(cls, raw: bytes) -> Self:
        """The body as this model, or a 400: `bad_request` for broken JSON, `validation_error` for the rest."""
        payload = json_object(raw)
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            raise validation_error([cls._problem(error) for error in exc.errors()]) from None

    @classmethod
    def _problem(cls, error: ErrorDetails) -> tuple[str, str]:
        field = str(error["loc"][0])
        wording = next(m for m in cls.model_fields[field].metadata if isinstance(m, Wording))
        return field, wording.of(error)


class PlaceCallBody(RequestBody):
    """POST /agents/{agent_id}/calls."""

    destination: Annotated[
        str,
        Field(pattern=E164_PATTERN),
        Wording(wrong_type="must be a string", invalid="must be an E.164 phone number"),
    ]
    is_test_call: Annotated[bool, Wording(invalid="must be a boolean")]

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}


class PhoneNumberUpdateBody(RequestBody):
    """PATCH /phone-numbers/{number_id}. A field sent as null clears it; a field left out is kept
    (`model_fields_set` tells the two apart)."""

    agent_id: Annotated[str | None, Field(pattern=ID_PATTERN), Wording(invalid="must be an agent id or null")] = None
    label: Annotated[
        str | None, Field(max_length=100), Wording(invalid="must be a string of at most 100 characters")
    ] = None


def json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise validation_error([("body", "must be a JSON object")])
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise SandboxApiError(400, "bad_request", "Malformed JSON in request body") from None
    if not isinstance(parsed, dict):
        raise validation_error([("body", "must be a JSON object")])
    return cast("dict[str, Any]", parsed)
