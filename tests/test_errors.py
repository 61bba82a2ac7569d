"""The error tree drawn in errors.py is the tree the code defines: every class, under its parent."""

from __future__ import annotations

import re

from providers.common import errors


def test_the_drawn_tree_is_the_class_tree() -> None:
    drawn: dict[str, str] = {}
    parents: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").split("\n\n")[1].splitlines():  # the drawn block
        found = re.match(r"^[\s│]*(?:[├└]── )?(\w+Error)\b", line)
        if not found:
            continue
        depth = found.start(1)  # the column the name starts at
        while parents and parents[-1][0] >= depth:
            parents.pop()
        drawn[found.group(1)] = parents[-1][1] if parents else ""
        parents.append((depth, found.group(1)))
    defined = {
        name: cls.__mro__[1].__name__ if cls is not errors.BitlockerPolicyError else ""
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.BitlockerPolicyError)
    }
    assert drawn == defined
    assert sorted(defined) == sorted(errors.__all__)
