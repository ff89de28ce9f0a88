"""tsunagu."""
