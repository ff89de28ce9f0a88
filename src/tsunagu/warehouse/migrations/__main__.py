"""``python -m tsunagu.warehouse.migrations new "add foo table"``: write the next revision file.

``heads`` prints the newest revision. Migrations are applied by ``Warehouse.create_schema()`` (every
``open_warehouse``), never by hand.
"""

from __future__ import annotations

import sys

from tsunagu.warehouse.migrations import head, new_revision


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "new":
        print(new_revision(argv[1]))
        return 0
    if argv == ["heads"]:
        print(head())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
