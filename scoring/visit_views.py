"""Pages and API: (being built)."""

bp = None
blp = None
