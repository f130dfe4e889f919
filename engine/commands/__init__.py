"""CLI sub-commands grouped by topic; each module has `register(subparsers)` and imports heavy code lazily."""
