"""Built-in node types (registered by short name in :mod:`socratic.registry`)."""
