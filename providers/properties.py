"""The resources' properties, named as Pulumi shows them: one definition for the providers, the
program's exports and the fleet.

Field names are the names in state, in `pulumi preview --diff` and in stack outputs, so a
rename is one edit here and every reader that disagrees is a type error. Values arrive as
Pulumi hands them over: a property Pulumi dropped (it drops None) reads as None, and during a
preview a value not known yet is Pulumi's unknown marker, whatever the field's type says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Self

from providers.graph.authorization_policy import BITLOCKER_KEYS

__all__ = [
    "ADOPTION_NAME",
    "DECLARED_PROPERTY",
    "SETTING_NAME",
    "TENANT_PROPERTY",
    "AdoptionProperties",
    "SettingProperties",
    "StackOutputs",
    "names",
]

SETTING_NAME = "bitlocker-key-access"  # the program's names for its two resources
ADOPTION_NAME = "bitlocker-adoption"
# Property names read alone: where the others may still be unknown (a policy pack at preview), and
# where Pulumi takes a name (a check failure, a replacement).
DECLARED_PROPERTY = BITLOCKER_KEYS.name  # SettingProperties' declared value: the field's Graph name
TENANT_PROPERTY = "tenantId"  # every resource's tenant


def _recorded() -> Any:
    """A property only the provider sets (an output the program never declares a value for)."""
    return field(default=None, metadata={"recorded": True})


@dataclass(frozen=True)
class _Properties:
    """Conversion from and to the property dicts Pulumi passes (unknown keys, such as `__provider`, left out)."""

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> Self:
        """The properties in `props`; an optional one Pulumi left out is None, a required one a KeyError."""
        return cls(**{f.name: props[f.name] if f.default is MISSING else props.get(f.name) for f in fields(cls)})

    def props(self) -> dict[str, Any]:
        """As Pulumi takes them (values as they are: the program's are Outputs, which cannot be copied)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def inputs(self) -> dict[str, Any]:
        """As inputs, which a refresh sets from what it read: without what only the provider records."""
        return {field.name: getattr(self, field.name) for field in fields(self) if not field.metadata.get("recorded")}


@dataclass(frozen=True)
class SettingProperties(_Properties):
    """`BitlockerKeyAccess`: whether device owners may read their own BitLocker keys, in one tenant."""

    tenantId: str  # noqa: N815 - the tenant's GUID in outputs; as declared in inputs
    # The declared value (`check` refuses all but a boolean); after a refresh, what the tenant has (maybe null).
    allowedToReadBitlockerKeysForOwnedDevice: bool | None = None  # noqa: N815
    liveValue: bool | None = None  # noqa: N815 - the tenant's value as last read or written
    adoptedValue: bool | None = None  # noqa: N815 - the value found at adoption: what `delete` restores
    adoptionRecord: str | None = None  # noqa: N815 - the adoption record's id: without it nothing is written
    lastPatchRequestId: str | None = _recorded()  # noqa: N815 - Graph's request-id of the last PATCH
    lastPatchAt: str | None = _recorded()  # noqa: N815 - when Graph accepted it (the consistency window starts)
    lastPatchValue: bool | None = _recorded()  # noqa: N815 - what it set
    stack: str | None = None  # the stack's name when the program last ran


@dataclass(frozen=True)
class AdoptionProperties(_Properties):
    """`BitlockerAdoption`: the tenant's value as this stack first found it."""

    tenantId: str  # noqa: N815
    adoptedValue: bool | None = _recorded()  # noqa: N815 - the live value its create read
    stack: str | None = None


@dataclass(frozen=True)
class StackOutputs(_Properties):
    """What the program exports (`pulumi stack output`): the setting's outputs a pipeline reads."""

    tenantId: str  # noqa: N815
    allowedToReadBitlockerKeysForOwnedDevice: bool | None  # noqa: N815
    liveValue: bool | None = None  # noqa: N815
    adoptedValue: bool | None = None  # noqa: N815
    lastPatchRequestId: str | None = None  # noqa: N815
    lastPatchAt: str | None = None  # noqa: N815


def names(properties: type[_Properties]) -> tuple[str, ...]:
    """The property names of a resource's properties class, in order."""
    return tuple(field.name for field in fields(properties))
