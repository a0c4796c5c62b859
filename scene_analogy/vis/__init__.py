"""Pictures: headless PNGs (matplotlib; one analogy: `match_pictures`) and the self-contained HTML viewer."""
