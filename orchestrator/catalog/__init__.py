"""The declarative topic catalog in `topics/`."""
