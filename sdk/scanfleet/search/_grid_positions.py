"""Where each command of a grid with conditions sits in the lazy enumeration.

hypnettorch's conditions (``hpsearch.py``): for each condition in order, every command on
which it fires (each key of ``when`` holds one of its values) is replaced by the product
of its ``set`` lists, the command's other values kept. A cell's commands are therefore
its *variants*; the enumeration visits cell 0's variants, then cell 1's, and so on.

A position maps to (cell, variant) without listing the cells before it: how many variants
a cell makes depends only on its values of the ``when`` keys, and only on which ``when``
lists each of those values is in (the value's *class*). Tables over the combinations of
classes (few: the config refuses more than ``MAX_CONDITION_KINDS``) count the variants
of every sub-grid.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import product
from math import prod
from typing import Any

Values = Mapping[str, Sequence[Any]]
Condition = tuple[Values, Values]  # (when, set)


def expand(params: dict[str, Any], conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    """The commands a cell becomes, in hypnettorch's order: each condition in turn keeps
    the commands it does not fire on, then appends the variants of those it fires on."""
    commands = [params]
    for when, set_ in conditions:
        kept: list[dict[str, Any]] = []
        new: list[dict[str, Any]] = []
        for command in commands:
            if not all(command.get(k) in vals for k, vals in when.items()):
                kept.append(command)
                continue
            keys = list(set_)
            for combo in product(*(set_[k] for k in keys)):
                new.append({**command, **dict(zip(keys, combo, strict=True))})
        commands = kept + new
    return commands


def fires(params: Mapping[str, Any], conditions: Sequence[Condition]) -> bool:
    """Whether any condition replaces the cell (the first that fires sees the cell as is)."""
    return any(all(params.get(k) in vals for k, vals in when.items()) for when, _ in conditions)


def value_key(value: Any) -> tuple[type, str]:
    """A scalar as trial identity tells it apart (``canonical_params`` writes a scalar's
    repr, of its JSON type): 1, 1.0 and true differ, so do 0.0 and -0.0."""
    return value.__class__, repr(value)


class GridPositions:
    """The positions of a grid's commands, cell after cell (last parameter fastest).

    ``total`` is the number of commands hypnettorch makes before removing duplicates;
    ``locate`` maps a position to its cell (a value index per axis) and its variant.
    """

    def __init__(
        self, names: Sequence[str], axes: Sequence[Sequence[Any]], conditions: Sequence[Condition]
    ) -> None:
        self.names, self.axes, self.conditions = list(names), axes, list(conditions)
        when_keys = {k for when, _ in conditions for k in when}
        self._tested = [i for i, name in enumerate(names) if name in when_keys]
        self._class_of: list[list[int]] = []  # per tested axis: each value's class
        self._members: list[list[list[int]]] = []  # per tested axis: each class's values
        for i in self._tested:
            self._classify(names[i], axes[i])
        self._radix = [len(m) for m in self._members]
        self._variants: list[int] = []  # per class combination (mixed radix, last fastest)
        self._fired: list[bool] = []
        for combo in product(*(range(k) for k in self._radix)):
            cell = self._representative(combo)
            self._variants.append(len(expand(cell, conditions)))
            self._fired.append(fires(cell, conditions))
        self._sums = self._weighted_sums()
        # _free[i]: cells of the untested axes after axis i
        self._free = [
            prod(len(axes[j]) for j in range(i + 1, len(axes)) if j not in self._tested)
            for i in range(len(axes))
        ]
        untested = prod(len(a) for i, a in enumerate(axes) if i not in self._tested)
        self.total = untested * self._sums[0][0]

    def _classify(self, name: str, axis: Sequence[Any]) -> None:
        tested = [when[name] for when, _ in self.conditions if name in when]
        classes: dict[tuple[bool, ...], int] = {}
        class_of: list[int] = []
        members: list[list[int]] = []
        for d, value in enumerate(axis):
            signature = tuple(value in vals for vals in tested)
            c = classes.setdefault(signature, len(classes))
            if c == len(members):
                members.append([])
            members[c].append(d)
            class_of.append(c)
        self._class_of.append(class_of)
        self._members.append(members)

    def _representative(self, combo: Sequence[int]) -> dict[str, Any]:
        digits = [0] * len(self.axes)
        for j, c in enumerate(combo):
            digits[self._tested[j]] = self._members[j][c][0]
        return self.cell(digits)

    def _weighted_sums(self) -> list[list[int]]:
        """``sums[j][prefix]``: the variants of all cells whose first j tested axes have the
        classes ``prefix`` (mixed radix), counted over the values of the other tested axes."""
        sums: list[list[int]] = [self._variants]
        for j in reversed(range(len(self._radix))):
            sizes = [len(m) for m in self._members[j]]
            below, k = sums[0], self._radix[j]
            sums.insert(0, [
                sum(sizes[c] * below[p * k + c] for c in range(k)) for p in range(len(below) // k)
            ])  # fmt: skip
        return sums

    def cell(self, digits: Sequence[int]) -> dict[str, Any]:
        return {name: axis[d] for name, axis, d in zip(self.names, self.axes, digits, strict=True)}

    def locate(self, position: int) -> tuple[list[int], int]:
        """The cell (a value index per axis) at ``position`` and the variant within it."""
        if not 0 <= position < self.total:
            raise IndexError(position)
        rest, prefix, j, digits = position, 0, 0, []
        for i, axis in enumerate(self.axes):
            if j < len(self._tested) and self._tested[j] == i:
                k, below = self._radix[j], self._sums[j + 1]
                for d in range(len(axis)):
                    c = self._class_of[j][d]
                    block = self._free[i] * below[prefix * k + c]
                    if rest < block:
                        break
                    rest -= block
                prefix, j = prefix * k + c, j + 1
            else:
                d, rest = divmod(rest, self._free[i] * self._sums[j][prefix])
            digits.append(d)
        return digits, rest

    def _combo_index(self, digits: Sequence[int]) -> int:
        index = 0
        for j, i in enumerate(self._tested):
            index = index * self._radix[j] + self._class_of[j][digits[i]]
        return index

    def is_fired(self, digits: Sequence[int]) -> bool:
        return self._fired[self._combo_index(digits)]

    def unfired_cells(self) -> int:
        """Cells no condition fires on: each is one command, as it stands in the grid."""
        untested = prod(len(a) for i, a in enumerate(self.axes) if i not in self._tested)
        total = 0
        for index, combo in enumerate(product(*(range(k) for k in self._radix))):
            if not self._fired[index]:
                total += prod(len(self._members[j][c]) for j, c in enumerate(combo))
        return untested * total

    def fired_cells(self) -> Iterator[list[int]]:
        """The cells some condition fires on (value indices), class combination by class
        combination."""
        untested = [i for i in range(len(self.axes)) if i not in self._tested]
        for index, combo in enumerate(product(*(range(k) for k in self._radix))):
            if not self._fired[index]:
                continue
            choices = [self._members[j][c] for j, c in enumerate(combo)]
            for tested_digits in product(*choices):
                for free_digits in product(*(range(len(self.axes[i])) for i in untested)):
                    digits = [0] * len(self.axes)
                    for i, d in zip(self._tested, tested_digits, strict=True):
                        digits[i] = d
                    for i, d in zip(untested, free_digits, strict=True):
                        digits[i] = d
                    yield digits
