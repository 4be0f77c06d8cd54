"""Check the names lexicon (triage/intake/data/names.tsv): prints each problem and a count; exit code 1
when there is any. Run: uv run python scripts/check_lexicon.py"""

from __future__ import annotations

import sys

from triage.intake import lexicon


def main() -> int:
    found = lexicon.problems()
    for line in found:
        print(line)
    lex = lexicon.load()
    shared = sum(1 for ids in lex.index.values() if len(ids) > 1)
    print(
        f"{len(lex.entries)} entries, {len(lex.index)} written forms ({shared} shared by two or more entries), {len(found)} problems"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
