"""multitask subpackage."""
