"""Every file format mtpflow reads or writes; only this package and cli.py touch files."""
