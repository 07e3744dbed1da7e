"""Developer and operator tooling: process stack, demo, benchmark."""
