"""The part of a scripted candidate agent that writes its implementation (compare's cross-test and synthesis tests).

`WRITE` is Python source for the end of a `command` agent: given `code` (mod.py's text) and `tests`
({path: text}) it writes them into the tree, and a RESULTS.md with every required section.
"""

WRITE = """open("mod.py", "w").write(code)
for rel, text in tests.items():
    os.makedirs(os.path.dirname(rel), exist_ok=True)
    open(rel, "w").write(text)
open("RESULTS.md", "w").write("".join(f"## {s}\\n\\nsee the code\\n\\n" for s in (
    "Approach Summary", "Files Created/Modified", "Key Design Decisions", "Trade-offs Made",
    "Performance Considerations", "Testing Strategy")))
"""
