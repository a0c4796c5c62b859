"""Pictures: headless PNGs (matplotlib) and the self-contained HTML viewer."""
