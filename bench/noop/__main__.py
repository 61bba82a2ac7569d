"""The baseline: one dynamic resource whose provider does nothing, registered like the product's."""

from __future__ import annotations

import pulumi
from noop_provider import Noop

Noop("noop")
pulumi.export("value", True)
