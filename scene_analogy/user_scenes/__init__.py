"""A user's own instance-labelled scenes: file formats, matching, outputs, carrying points and objects across."""
