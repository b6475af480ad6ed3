"""Print the first fenced code block under a README heading (CI runs exactly what people read)."""

import re
import sys
from pathlib import Path

heading = sys.argv[1]
text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text(encoding="utf-8")
match = re.search(
    rf"^#+ [^\n]*{re.escape(heading)}[^\n]*\n(.*?)^```[a-z]*\n(.*?)^```", text, re.M | re.S
)
if not match:
    sys.exit(f"README.md has no fenced block under a '{heading}' heading")
print(match.group(2).strip())
