"""socratic subpackage."""
